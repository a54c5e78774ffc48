#!/usr/bin/env python3
"""Make a real kernel that speaks another LUO ABI: take a bzImage whose
payload is xz (tinyconfig's default), decompress the payload, replace a
compatible string by another of the same length (luo-v5 -> luo-v6: the
kernel then writes and expects luo-v6), recompress it the way the kernel
build does (scripts/xz_wrap.sh: xz --check=crc32 --x86 --lzma2=,dict=128MiB,
which gives the very same payload for an unchanged vmlinux; other match
finder settings if that does not fit) and put it
back in place, padded to the original length so that every offset in the
image stays. Fails when the string is not found exactly once or the new
payload does not fit.

    patch-abi.py IN OUT OLD NEW      e.g. patch-abi.py bzImage bz-v6 luo-v5 luo-v6
"""
import lzma, struct, subprocess, sys

src, dst, old, new = sys.argv[1:5]
old, new = old.encode() + b"\0", new.encode() + b"\0"
if len(old) != len(new):
    sys.exit("patch-abi.py: %s and %s differ in length" % (old, new))
img = bytearray(open(src, "rb").read())
setup = ((img[0x1F1] or 4) + 1) * 512
off, plen = struct.unpack_from("<II", img, 0x248)
start = setup + off
payload = bytes(img[start:start + plen])
if not payload.startswith(b"\xfd7zXZ\0"):
    sys.exit("patch-abi.py: the payload is not xz")
size = struct.unpack("<I", payload[-4:])[0]
d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
vmlinux = bytearray(d.decompress(payload))
if len(vmlinux) != size:
    sys.exit("patch-abi.py: decompressed %d bytes, the image says %d" % (len(vmlinux), size))
at = []
i = vmlinux.find(old)
while i >= 0 and len(at) < 10:
    if i == 0 or not (chr(vmlinux[i - 1]).isalnum() or vmlinux[i - 1] in b"_-."):
        at.append(i)
    i = vmlinux.find(old, i + 1)
if len(at) != 1:
    sys.exit("patch-abi.py: %r found %d times, expected once" % (old, len(at)))
vmlinux[at[0]:at[0] + len(old)] = new
# LZMA's choices make the size jump by a kilobyte or two for a one-byte
# change either way: try a few match finder settings until it fits.
best = None
for opts in ("", "mf=bt3", "mf=bt2", "nice=128", "nice=32", "mf=hc4", "preset=6e"):
    c = subprocess.run(["xz", "--check=crc32", "--threads=1", "--x86", "--lzma2=%s%sdict=128MiB" % (opts, "," if opts else "")],
                       input=bytes(vmlinux), capture_output=True, check=True).stdout + struct.pack("<I", size)
    if best is None or len(c) < len(best):
        best = c
    if len(c) <= plen:
        break
if len(best) > plen:
    sys.exit("patch-abi.py: the new payload is %d bytes, %d more than the old" % (len(best), len(best) - plen))
# The size must stay last (the decompressor reads it there): pad before it.
best = best[:-4] + bytes(plen - len(best)) + best[-4:]
img[start:start + plen] = best
open(dst, "wb").write(img)
used = len(best)
print("patch-abi.py: %s -> %s at payload offset %d; payload %d of %d bytes" %
      (old[:-1].decode(), new[:-1].decode(), at[0], used, plen))
