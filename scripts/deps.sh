#!/bin/bash
# Install the Debian (bookworm) packages that building, testing and the demo need.
set -euo pipefail
# build: the project, static binaries for the initramfs; zlib, liblzma and
#   libzstd decompress kernel payloads (luod's LUO ABI check)
# vm: QEMU, the initramfs, kexec-tools (reference and selftests), the kernel build
# tests: python3 (protocol pokes), setpriv (util-linux), strace (a delayed send), the style (mandoc: the
#   man pages), fuzz and
#   valgrind tiers
pkgs=(gcc libc6-dev meson ninja-build pkg-config libjson-c-dev zlib1g-dev liblzma-dev libzstd-dev
      qemu-system-x86 busybox-static cpio kexec-tools
      flex bison bc libelf-dev libssl-dev xz-utils make perl
      python3 util-linux git clang-format clang libclang-rt-14-dev valgrind mandoc strace)
# host tier: contrib/ansible's playbook runs against the test double (test-fleet.sh)
pkgs+=(ansible-core)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: need root to install packages" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
