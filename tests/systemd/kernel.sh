#!/bin/bash
# Provide a bzImage of a LUO kernel that can also run systemd as PID 1 from an
# ext4 root on a virtio disk, and print its path on stdout.
#
#   LUO_SYSTEMD_BZIMAGE=/path/bzImage   use this prebuilt image as it is
#   LUO_KERNEL_SRC=/path/tree           build from this kernel tree
#   otherwise                           the tree tests/vm/kernel.sh fetched
#                                       (it is run first if there is none)
#
# The config is `make tinyconfig` + tests/vm/kernel.config (what LUO and the
# VM tier need) + tests/systemd/kernel.config (what systemd needs). Builds are
# cached in $LUO_CACHE_DIR/systemd-kernels (default /var/cache/luo-agent),
# keyed by the source tree, its version, both fragments and build(), so the
# cache of tests/vm/kernel.sh is never touched. The build runs under
# `nice -n 19`. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${LUO_CACHE_DIR:-/var/cache/luo-agent}
fragments=("$repo/tests/vm/kernel.config" "$here/kernel.config")
log() { echo "systemd/kernel.sh: $*" >&2; }
die() { echo "systemd/kernel.sh: error: $*" >&2; exit 1; }

if [ -n "${LUO_SYSTEMD_BZIMAGE:-}" ]; then
	[ -r "$LUO_SYSTEMD_BZIMAGE" ] || die "LUO_SYSTEMD_BZIMAGE=$LUO_SYSTEMD_BZIMAGE is not readable"
	echo "$LUO_SYSTEMD_BZIMAGE"
	exit 0
fi

if [ -n "${LUO_KERNEL_SRC:-}" ]; then
	src=$(cd "$LUO_KERNEL_SRC" && pwd)
else
	if [ ! -f "$cache/source-tree" ] || [ ! -f "$(cat "$cache/source-tree")/Makefile" ]; then
		log "no kernel source yet: fetching it through tests/vm/kernel.sh"
		"$repo/tests/vm/kernel.sh" >/dev/null || die "tests/vm/kernel.sh failed"
	fi
	src=$(cat "$cache/source-tree")
fi
[ -f "$src/Makefile" ] || die "$src is not a kernel tree"

kver=$(make -s -C "$src" kernelversion 2>/dev/null)
key=$( (echo "$src $kver"; cat "${fragments[@]}"; sed -n '/^build()/,/^}/p' "$0") | sha256sum | cut -c1-16)
out=$cache/systemd-kernels/$kver-$key
if [ -f "$out/bzImage" ]; then
	echo "$out/bzImage"
	exit 0
fi

build() {
	local b=$1
	mkdir -p "$b"
	nice -n 19 make -s -C "$src" O="$b" tinyconfig >&2
	nice -n 19 "$src/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "${fragments[@]}" >&2
	nice -n 19 make -s -C "$src" O="$b" olddefconfig >&2
	nice -n 19 make -s -C "$src" O="$b" -j"$(nproc)" bzImage >&2
}

# One build at a time: a second caller waits for the first.
mkdir -p "$cache/systemd-kernels"
exec 9>"$cache/systemd-kernels/.lock"
flock 9
if [ ! -f "$out/bzImage" ]; then
	log "building Linux $kver for systemd (10-20 minutes on 2 busy cores)"
	rm -rf "$out.build"
	build "$out.build" || die "kernel build failed (tree $out.build)"
	missing=$(cat "${fragments[@]}" | grep -E '^CONFIG_' | while read -r opt; do
		grep -qx "$opt" "$out.build/.config" || echo "$opt"; done)
	[ -z "$missing" ] || die "the built config lacks: $missing"
	mkdir -p "$out"
	cp "$out.build/arch/x86/boot/bzImage" "$out/bzImage.tmp"
	cp "$out.build/.config" "$out/config"
	mv "$out/bzImage.tmp" "$out/bzImage"
	rm -rf "$out.build"
	log "built $out/bzImage"
fi
echo "$out/bzImage"
