#!/bin/bash
# Build the gzip'd newc initramfs of the luo-agent test VM.
#
#   tests/vm/initramfs.sh [-o OUT] [--bzimage P] [--next-bzimage P] [--no-selftests] [BIN_DIR]
#
# Contents: busybox-static (+ applet symlinks), /init (guest/init), the
# scenario scripts (scenarios/*.sh) and their helpers (guest/lib.sh), the
# kernel's LUO selftests built static from the cached kernel source tree,
# Debian's kexec (with its libraries and loader), the bzImage itself as
# /boot/bzImage (the guest kexecs into it), and the static luod, luoctl and
# luo-demo from BIN_DIR (or $LUO_BIN_DIR; either a flat directory or a meson
# build directory such as build-static/), and luo-vm-timeit, a tiny static
# timer for bench/load-vs-kexec.sh, luo-readme-client
# (guest/readme-client.c) and luo-bench (guest/luo-bench.c, for
# bench/luod-bench.sh). Two more kernels for the LUO ABI
# scenarios: /boot/bzImage-luo-v6, the bzImage with its LUO ABI string
# patched from luo-v5 to luo-v6 (patch-abi.py; skipped with a warning when
# the image is not xz or has no luo-v5), and /boot/bzImage-next, the kernel
# to upgrade to (--next-bzimage: the 7.3 kernel of run-all.sh).
# $LUO_VM_EXTRA_BINS: more host programs (e.g. strace) with their libraries,
# into /usr/bin, for a diagnosis. Without a BIN_DIR the image still
# works for the scenarios that need no project code (smoke, selftests).
#
# The kexec'd kernel gets its initrd from the guest, which re-packs its own
# root (guest/lib.sh: make_next_initrd).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${LUO_CACHE_DIR:-/var/cache/luo-agent}
log() { echo "initramfs.sh: $*" >&2; }
die() { echo "initramfs.sh: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

out=$PWD/luo-vm-initramfs.cgz
bzimage=
next_bzimage=
selftests=1
bin_dir=${LUO_BIN_DIR:-}
while [ $# -gt 0 ]; do
	case $1 in
	-o | --output) out=$2; shift 2 ;;
	--bzimage) bzimage=$2; shift 2 ;;
	--next-bzimage) next_bzimage=$2; shift 2 ;;
	--no-selftests) selftests=0; shift ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*) bin_dir=$1; shift ;;
	esac
done

stage=$(mktemp -d /tmp/luo-initramfs.XXXXXX)
trap 'rm -rf "$stage"' EXIT

make_skeleton() {
	local d
	for d in bin sbin usr/bin usr/sbin usr/local/bin proc sys dev run tmp root etc boot lib/luo-vm scenarios opt/selftests; do
		mkdir -p "$stage/$d"
	done
	mknod -m 600 "$stage/dev/console" c 5 1
	mknod -m 666 "$stage/dev/null" c 1 3
	echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
	echo "root:x:0:" >"$stage/etc/group"
}

# A static executable has no program interpreter (ldd says so).
is_static() {
	local out
	out=$(LC_ALL=C ldd "$1" 2>&1 || true)
	case $out in *"not a dynamic executable"* | *"statically linked"*) return 0 ;; esac
	return 1
}

add_busybox() {
	local bb applet
	bb=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
	is_static "$bb" || die "$bb is not static (apt-get install busybox-static)"
	cp "$bb" "$stage/bin/busybox"
	for applet in $("$bb" --list); do
		[ "$applet" = busybox ] && continue
		[ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
	done
}

# Copy a dynamic executable with its libraries and loader (same paths).
add_dynamic() {
	local exe=$1 dest=$2 lib
	cp "$exe" "$stage/$dest"
	for lib in $(ldd "$exe" | grep -oE '/[^ ]+'); do
		mkdir -p "$stage/$(dirname "$lib")"
		cp -L "$lib" "$stage/$lib"
	done
}

add_kexec_tools() {
	local k
	k=$(command -v kexec || echo /usr/sbin/kexec)
	[ -x "$k" ] || die "kexec not found (apt-get install kexec-tools)"
	add_dynamic "$k" usr/sbin/kexec
}

add_guest_scripts() {
	install -m 755 "$here/guest/init" "$stage/init"
	install -m 644 "$here/guest/lib.sh" "$stage/lib/luo-vm/lib.sh"
	install -m 644 "$here"/scenarios/*.sh "$stage/scenarios/"
}

# The kernel's LUO selftests, static, from the cached source tree.
add_selftests() {
	local tree sdir inc t
	tree=${LUO_KERNEL_SRC:-$(cat "$cache/source-tree" 2>/dev/null || true)}
	if [ -z "$tree" ] || [ ! -d "$tree/tools/testing/selftests/liveupdate" ]; then
		log "warning: no kernel source tree with tools/testing/selftests/liveupdate" \
			"(run tests/vm/kernel.sh or set LUO_KERNEL_SRC): the selftests scenario will fail"
		return 0
	fi
	sdir=$tree/tools/testing/selftests/liveupdate
	inc=$stage.inc
	mkdir -p "$inc/linux"
	# The only uapi header newer than bookworm's linux-libc-dev; it needs just
	# <linux/ioctl.h> and <linux/types.h>, which the system has.
	cp "$tree/include/uapi/linux/liveupdate.h" "$inc/linux/"
	for t in liveupdate luo_kexec_simple luo_multi_session luo_stress_sessions luo_stress_files; do
		[ -f "$sdir/$t.c" ] || die "selftest source $sdir/$t.c missing"
		gcc -static -O2 -Wall -Wno-unused-function -D_GNU_SOURCE= -I"$inc" -I"$sdir" \
			-o "$stage/opt/selftests/$t" "$sdir/$t.c" "$sdir/luo_test_utils.c" ||
			{ rm -rf "$inc"; die "building selftest $t failed"; }
	done
	install -m 755 "$sdir/do_kexec.sh" "$stage/opt/selftests/do_kexec.sh"
	rm -rf "$inc"
	log "selftests from $sdir"
}

# luod, luoctl, luo-demo: static binaries from a flat dir or a meson build dir.
add_project_bins() {
	local dir=$1 name sub f
	[ -d "$dir" ] || die "binary directory $dir does not exist"
	for name in luod:daemon luoctl:ctl luo-demo:demo; do
		sub=${name#*:}
		name=${name%%:*}
		f=
		for f in "$dir/$name" "$dir/src/$sub/$name"; do
			[ -x "$f" ] && break
			f=
		done
		if [ -z "$f" ]; then
			log "warning: no $name in $dir: the project scenarios will fail"
			continue
		fi
		is_static "$f" || die "$f is dynamically linked; build it with -Dstatic_binaries=true"
		install -m 755 "$f" "$stage/usr/local/bin/$name"
		log "$name from $f"
	done
}

# luo-vm-timeit FILE CMD [ARG...]: run CMD, append its wall time in
# microseconds (CLOCK_MONOTONIC) to FILE, exit with its status. busybox has
# no date +%N and its `time` counts in centiseconds; bench/load-vs-kexec.sh
# needs better.
add_timeit() {
	gcc -static -O2 -Wall -x c -o "$stage/usr/local/bin/luo-vm-timeit" - <<'EOC' ||
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	long long t0, t1;
	FILE *f;
	pid_t pid;
	int st;

	if (argc < 3) {
		fprintf(stderr, "usage: luo-vm-timeit FILE CMD [ARG...]\n");
		return 2;
	}
	t0 = now_us();
	pid = fork();
	if (pid < 0)
		return perror("fork"), 126;
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return perror("waitpid"), 126;
	t1 = now_us();
	f = fopen(argv[1], "a");
	if (!f || fprintf(f, "%lld\n", t1 - t0) < 0 || fclose(f))
		return perror(argv[1]), 126;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
EOC
		log "warning: building luo-vm-timeit failed: bench-load will fail"
}

# luo-bench: the guest half of bench/luod-bench.sh (guest/luo-bench.c).
add_bench_helper() {
	gcc -static -O2 -Wall -I"$here/../../src/shared" -o "$stage/usr/local/bin/luo-bench" "$here/guest/luo-bench.c" ||
		die "building luo-bench failed"
}

# luo-readme-client: a client written only from the upstream README's
# protocol (no libluo-client, no DONE), for the readme-client scenario.
add_readme_client() {
	gcc -static -O2 -Wall -o "$stage/usr/local/bin/luo-readme-client" "$here/guest/readme-client.c" ||
		die "building luo-readme-client failed"
}

[ -n "$bzimage" ] || bzimage=$("$here/kernel.sh") || die "no kernel (tests/vm/kernel.sh failed)"
[ -r "$bzimage" ] || die "bzImage $bzimage is not readable"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

make_skeleton
add_busybox
add_kexec_tools
add_guest_scripts
add_timeit
add_readme_client
add_bench_helper
for x in ${LUO_VM_EXTRA_BINS:-}; do
	add_dynamic "$(command -v "$x")" "usr/bin/$(basename "$x")" || die "cannot add $x (LUO_VM_EXTRA_BINS)"
done
cp "$bzimage" "$stage/boot/bzImage"
python3 "$here/patch-abi.py" "$bzimage" "$stage/boot/bzImage-luo-v6" luo-v5 luo-v6 >&2 ||
	log "warning: no LUO ABI-patched kernel: abi-mismatch will fail"
if [ -n "$next_bzimage" ]; then
	[ -r "$next_bzimage" ] || die "--next-bzimage $next_bzimage is not readable"
	cp "$next_bzimage" "$stage/boot/bzImage-next"
fi
[ "$selftests" = 1 ] && add_selftests
if [ -n "$bin_dir" ]; then
	add_project_bins "$bin_dir"
else
	log "no BIN_DIR / LUO_BIN_DIR: image without luod, luoctl, luo-demo"
fi

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out ($(du -h "$out" | cut -f1))"
