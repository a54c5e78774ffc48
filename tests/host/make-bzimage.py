#!/usr/bin/env python3
"""Write a file with an x86 boot protocol header, for the tests: valid for
kexec_file_load's checks by default, or broken in one chosen way."""
import argparse, struct

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--size", type=int, default=8192)
ap.add_argument("--protocol", type=lambda x: int(x, 0), default=0x020F)
ap.add_argument("--xloadflags", type=lambda x: int(x, 0), default=0x3)
ap.add_argument("--cmdline-size", type=int, default=2047)
ap.add_argument("--magic", default="HdrS")
ap.add_argument("--version", default="7.2.13-test (luo-agent) #1")
a = ap.parse_args()

b = bytearray(a.size)
b[0x1F1] = 4                                   # setup_sects
struct.pack_into("<H", b, 0x1FE, 0xAA55)       # boot_flag
b[0x202:0x206] = a.magic.encode()[:4].ljust(4, b"\0")
struct.pack_into("<H", b, 0x206, a.protocol)
struct.pack_into("<H", b, 0x20E, 0x400 - 0x200)  # kernel_version offset
b[0x211] = 0x01                                # loadflags: LOADED_HIGH
b[0x234] = 1                                   # relocatable_kernel
struct.pack_into("<H", b, 0x236, a.xloadflags)
struct.pack_into("<I", b, 0x238, a.cmdline_size)
v = a.version.encode() + b"\0"
b[0x400:0x400 + len(v)] = v
open(a.out, "wb").write(b)
