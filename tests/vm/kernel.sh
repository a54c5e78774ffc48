#!/bin/bash
# Provide a bzImage of a LUO-capable kernel and print its path on stdout.
#
#   tests/vm/kernel.sh [--suite SUITE] [--package PKG]
#
# Order of preference:
#   LUO_BZIMAGE=/path/bzImage     use this prebuilt image as it is
#   LUO_KERNEL_SRC=/path/tree     build from this local kernel tree
#   otherwise                     download Debian SUITE's (default sid)
#                                 linux-source-X.Y (PKG, default: the one
#                                 SUITE's linux-source depends on) with a
#                                 private apt configuration (the system's apt
#                                 sources are never touched) and build it
# LUO_BZIMAGE and LUO_KERNEL_SRC apply only without --suite/--package: the
# VM tier's second kernel (the upgrade target, e.g. `--suite trixie-backports
# --package linux-source-7.3`) is always the named Debian package.
#
# Builds are cached in $LUO_CACHE_DIR (default /var/cache/luo-agent), keyed by
# the source version and the config fragment, so a second run is instant.
# Progress goes to stderr; only the final path goes to stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${LUO_CACHE_DIR:-/var/cache/luo-agent}
fragment=$here/kernel.config
mirror=${LUO_DEBIAN_MIRROR:-}
log() { echo "kernel.sh: $*" >&2; }
die() { echo "kernel.sh: error: $*" >&2; exit 1; }

suite=sid
package=
named=0
while [ $# -gt 0 ]; do
	case $1 in
	--suite) suite=${2:?--suite needs a value}; named=1; shift 2 ;;
	--package) package=${2:?--package needs a value}; named=1; shift 2 ;;
	*) die "unknown argument $1 (usage: kernel.sh [--suite SUITE] [--package PKG])" ;;
	esac
done
case $suite in *[!a-z0-9-]* | "") die "bad suite name '$suite'" ;; esac
case $package in *[!a-z0-9.+-]*) die "bad package name '$package'" ;; esac

if [ "$named" = 0 ] && [ -n "${LUO_BZIMAGE:-}" ]; then
	[ -r "$LUO_BZIMAGE" ] || die "LUO_BZIMAGE=$LUO_BZIMAGE is not readable"
	echo "$LUO_BZIMAGE"
	exit 0
fi

mkdir -p "$cache"

# The Debian archive already configured on this machine, reused for sid.
debian_mirror() {
	[ -n "$mirror" ] && { echo "$mirror"; return; }
	local m
	m=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		grep -v security | head -n1 | tr -d ' ')
	[ -n "$m" ] || die "cannot find the Debian archive URL in /etc/apt; set LUO_DEBIAN_MIRROR"
	echo "${m%/}"
}

# Download $suite's linux-source-X.Y and unpack it; print the tree's path.
# Each suite has its own private apt directory (sid's is $cache/apt).
fetch_source() {
	local apt=$cache/apt opts pkg=$package ver deb tree
	[ "$suite" = sid ] || apt=$cache/apt-$suite
	mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/src"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" >"$apt/sources.list"
	opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o APT::Get::List-Cleanup=0 -q
		# Signatures are checked; a mirror or snapshot that serves a sid
		# Release file past its Valid-Until date is still good for a test
		# kernel's source.
		-o Acquire::Check-Valid-Until=false)
	# One index refresh a day is plenty.
	if [ -z "$(find "$apt/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
		log "refreshing the private $suite package index"
		apt-get "${opts[@]}" update >&2 || die "apt-get update of the private $suite index failed"
	fi
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache "${opts[@]}" depends linux-source 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -n1)
		[ -n "$pkg" ] || die "$suite's linux-source does not name a linux-source-X.Y package"
	fi
	ver=$(apt-cache "${opts[@]}" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
	[ -n "$ver" ] || die "$suite has no package $pkg"
	tree=$apt/src/$pkg-$ver/${pkg}
	if [ ! -f "$tree/Makefile" ]; then
		log "downloading $pkg $ver"
		(cd "$apt/archives" && apt-get "${opts[@]}" download "$pkg" >&2) || die "download of $pkg failed"
		deb=$(ls "$apt/archives/${pkg}_"*.deb | head -n1)
		rm -rf "$apt/src/$pkg-$ver" && mkdir -p "$apt/src/$pkg-$ver/x"
		dpkg -x "$deb" "$apt/src/$pkg-$ver/x"
		log "unpacking $(basename "$deb")"
		tar -C "$apt/src/$pkg-$ver" -xf "$apt/src/$pkg-$ver/x/usr/src/$pkg.tar.xz"
		rm -rf "$apt/src/$pkg-$ver/x" "$deb"
		[ -f "$tree/Makefile" ] || die "unpacked source has no $tree/Makefile"
	fi
	echo "$tree"
}

if [ "$named" = 0 ] && [ -n "${LUO_KERNEL_SRC:-}" ]; then
	src=$(cd "$LUO_KERNEL_SRC" && pwd)
	[ -f "$src/Makefile" ] || die "LUO_KERNEL_SRC=$src is not a kernel tree"
else
	src=$(fetch_source)
fi
# The default kernel's tree is the one the initramfs builds the selftests
# from; a named (second) kernel does not replace it.
[ "$named" = 1 ] || echo "$src" >"$cache/source-tree"

kver=$(make -s -C "$src" kernelversion 2>/dev/null)
key=$( (echo "$src $kver"; cat "$fragment"; sed -n '/^build()/,/^}/p' "$0") | sha256sum | cut -c1-16)
out=$cache/kernels/$kver-$key
if [ -f "$out/bzImage" ]; then
	echo "$out/bzImage"
	exit 0
fi

build() {
	local b=$1
	mkdir -p "$b"
	make -s -C "$src" O="$b" tinyconfig >&2
	"$src/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "$fragment" >&2
	make -s -C "$src" O="$b" olddefconfig >&2
	make -s -C "$src" O="$b" -j"$(($(nproc) + 1))" bzImage >&2
}

# A finished build whose last step (the checks below) failed is reused: its
# directory is keyed by the same source, fragment and build().
if [ -f "$out.build/arch/x86/boot/bzImage" ] && [ -f "$out.build/.config" ]; then
	log "reusing the finished build in $out.build"
else
	log "building Linux $kver (about 10 minutes on 2 cores)"
	rm -rf "$out.build"
	build "$out.build" || die "kernel build failed (tree $out.build)"
fi
# Every option of the fragment must be set; one this source does not define
# at all (7.3 dropped PROC_SYSCTL: /proc/sys comes with SYSCTL) is skipped.
missing=$(grep -E '^CONFIG_' "$fragment" | while read -r opt; do
	grep -qx "$opt" "$out.build/.config" && continue
	name=${opt%%=*}
	if ! grep -rqx --include='Kconfig*' "config ${name#CONFIG_}" "$src"; then
		log "note: $name does not exist in Linux $kver; skipped"
		continue
	fi
	echo "$opt"
done)
[ -z "$missing" ] || die "the built config lacks: $missing"
mkdir -p "$out"
cp "$out.build/arch/x86/boot/bzImage" "$out/bzImage"
cp "$out.build/.config" "$out/config"
rm -rf "$out.build"
log "built $out/bzImage"
echo "$out/bzImage"
