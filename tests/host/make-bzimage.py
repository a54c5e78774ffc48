#!/usr/bin/env python3
"""Write a file with an x86 boot protocol header, for the tests: valid for
kexec_file_load's checks by default, or broken in one chosen way; with a
payload (the "vmlinux") that holds the given LUO ABI compatible strings,
compressed as asked, so that luod can read the image's LUO ABI."""
import argparse, gzip, lzma, os, struct

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--size", type=int, default=8192, help="file size without a payload")
ap.add_argument("--protocol", type=lambda x: int(x, 0), default=0x020F)
ap.add_argument("--xloadflags", type=lambda x: int(x, 0), default=0x3)
ap.add_argument("--cmdline-size", type=int, default=2047)
ap.add_argument("--magic", default="HdrS")
ap.add_argument("--version", default="7.2.13-test (luo-agent) #1")
ap.add_argument("--running", action="store_true",
                help="a version string that says it is the running kernel (uname)")
ap.add_argument("--abi", help='compatible strings in the payload, e.g. "kho-v4 luo-v5 memfd-v2"')
ap.add_argument("--compression", choices=["gzip", "xz", "none"], default="gzip")
ap.add_argument("--zeros", type=int, default=0, help="MiB of zeros in the payload (a slow one)")
a = ap.parse_args()

if a.running:
    u = os.uname()
    a.version = "%s (test@luo-agent) %s" % (u.release, u.version)

payload = b""
if a.abi is not None or a.zeros:
    body = b"\0" + b"".join(s.encode() + b"\0" for s in (a.abi or "").split())
    if a.compression == "none":
        payload = b"\x7fELF" + body + bytes(a.zeros << 20)
    elif a.compression == "gzip":
        c = gzip.compress(body, mtime=0)
        if a.zeros:
            co = __import__("zlib").compressobj(1, 8, 16 + 15)
            c = co.compress(body)
            chunk = bytes(1 << 20)
            for _ in range(a.zeros):
                c += co.compress(chunk)
            c += co.flush()
        payload = c
    else:
        payload = lzma.compress(body + bytes(a.zeros << 20), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    payload += struct.pack("<I", (len(body) + (a.zeros << 20)) & 0xFFFFFFFF)

setup_end = 0xA00  # (setup_sects 4 + 1) * 512
b = bytearray(max(a.size, setup_end + len(payload)) if payload else a.size)
b[0x1F1] = 4                                   # setup_sects
struct.pack_into("<H", b, 0x1FE, 0xAA55)       # boot_flag
b[0x202:0x206] = a.magic.encode()[:4].ljust(4, b"\0")
struct.pack_into("<H", b, 0x206, a.protocol)
struct.pack_into("<H", b, 0x20E, 0x400 - 0x200)  # kernel_version offset
b[0x211] = 0x01                                # loadflags: LOADED_HIGH
b[0x234] = 1                                   # relocatable_kernel
struct.pack_into("<H", b, 0x236, a.xloadflags)
struct.pack_into("<I", b, 0x238, a.cmdline_size)
if payload:
    struct.pack_into("<II", b, 0x248, 0, len(payload))  # payload_offset, payload_length
    b[setup_end:setup_end + len(payload)] = payload
v = a.version.encode() + b"\0"
b[0x400:0x400 + len(v)] = v
open(a.out, "wb").write(b)
