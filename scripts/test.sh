#!/bin/bash
# The test command: installs what it needs, builds, and runs every tier:
#   style     clang-format (.clang-format, kernel style) on every C file; the
#             length of functions and of luod's files (scripts/lint.sh); the
#             man pages (mandoc -Tlint, a page for everything installed)
#   unit      unit tests (protocol, log, client library, command-line builder, test double)
#   asan      the unit and host tiers again, built with ASan and UBSan
#   fuzz      the protocol decoder under libFuzzer (clang, ASan, UBSan), 30 s;
#             the bzImage parser and LUO ABI extractor, 15 s
#   host      real luod, luoctl and clients over the real socket, against the
#             /dev/liveupdate test double; with tests/host/test-fleet.sh, the
#             fleet commands and contrib/ansible's playbook (connection: local)
#   package   the Debian packages: dpkg-buildpackage, lintian (no error or
#             warning), unpacked into a throwaway root and run against the
#             test double (tests/package)
#   valgrind  the host tier again with every luod under valgrind's memcheck
#   vm        real live updates on a real LUO kernel in QEMU (tests/vm)
#   systemd   sid's systemd 262 as PID 1 in QEMU with luod installed and
#             enabled, across real kexecs (tests/systemd; builds and caches
#             its kernel and root file system)
# Ends with the line "N passed, N failed"; exits non-zero if anything failed.
# LUO_TIERS="unit host" limits the tiers (the default is all of them).
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
tiers=${LUO_TIERS:-style unit asan fuzz host package valgrind vm systemd}
passed=0 failed=0
log=$(mktemp -d /tmp/luo-test.XXXXXX)

# run_tap NAME CMD...: run a TAP producer, echo it, count its results. A
# producer that exits non-zero without a failing line counts as one failure.
run_tap() {
	local name=$1 out=$log/$1.tap rc p f
	shift
	echo "== $name: $*"
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name ran no test"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

if ! scripts/deps.sh || ! scripts/build.sh; then
	echo "setup failed: dependencies or build"
	echo "0 passed, 1 failed"
	exit 1
fi

# The LUO kernel, built once and cached: the VM tier boots it and the unit
# tests check its header. If it cannot be had, the VM tier fails loudly.
case " $tiers " in
*" vm "*)
	if [ -z "${LUO_BZIMAGE:-}" ] && img=$(tests/vm/kernel.sh); then
		export LUO_BZIMAGE=$img
	fi
	;;
esac

# One TAP line per C file: formatted as .clang-format says.
style_check() {
	local f n=0 rc=0
	for f in $(git ls-files '*.c' '*.h'); do
		n=$((n + 1))
		if clang-format --style=file --dry-run --Werror "$f" 2>/dev/null; then
			echo "ok $n - style: $f"
		else
			echo "not ok $n - style: $f (run: clang-format -i $f)"
			rc=1
		fi
	done
	return $rc
}

# The man pages: one TAP line per page, clean under `mandoc -Tlint` (style
# messages included); then one per installed program, header and library:
# its page is installed too.
man_check() {
	local f n=0 rc=0 out
	for f in $(git ls-files 'man/*.[0-9]'); do
		n=$((n + 1))
		if out=$(mandoc -Tlint -W style "$f" 2>&1) && [ -z "$out" ]; then
			echo "ok $n - man: mandoc -Tlint $f"
		else
			echo "$out" | sed 's/^/# /'
			echo "not ok $n - man: mandoc -Tlint $f"
			rc=1
		fi
	done
	meson introspect --installed build | python3 -c '
import json, os, re, sys
n = int(sys.argv[1])
inst = set(json.load(sys.stdin).values())
pages = {os.path.basename(p) for p in inst if re.search(r"/share/man/man[0-9]/", p)}
rc = 0
for p in sorted(inst):
    d, b = os.path.dirname(p), os.path.basename(p)
    if d.endswith("/bin") or d.endswith("/sbin"):
        want = [b + ".1", b + ".8"]
    elif p.endswith(".h") or re.match(r"lib.*\.so$", b):
        want = [re.sub(r"^lib|\.(h|so)$", "", b) + ".3"]
    else:
        continue
    n += 1
    ok = any(w in pages for w in want)
    print("%s %d - man: %s has an installed page (%s)" % ("ok" if ok else "not ok", n, p, " or ".join(want)))
    rc |= not ok
sys.exit(rc)' "$n" || rc=1
	return $rc
}

# A bounded libFuzzer run over the checked-in corpus; new inputs stay in a
# scratch directory.
fuzz_protocol() {
	local corpus
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
			>/dev/null || return 1
	fi
	ninja -C build-fuzz tests/fuzz/fuzz-protocol >/dev/null || return 1
	corpus=$(mktemp -d)
	if build-fuzz/tests/fuzz/fuzz-protocol -max_total_time="${LUO_FUZZ_SECONDS:-30}" \
		"$corpus" tests/fuzz/corpus >"$log/fuzz.log" 2>&1; then
		echo "ok 1 - fuzz: protocol decoder, $(grep -o 'Done [0-9]* runs' "$log/fuzz.log" | tail -n1)"
	else
		tail -n 40 "$log/fuzz.log"
		echo "not ok 1 - fuzz: protocol decoder (the crashing input is in $(pwd))"
	fi
	rm -rf "$corpus"
}

# The kernel image checks (header, LUO ABI extraction) under libFuzzer, 15 s.
fuzz_bzimage() {
	local corpus
	ninja -C build-fuzz tests/fuzz/fuzz-bzimage >/dev/null || return 1
	corpus=$(mktemp -d)
	if build-fuzz/tests/fuzz/fuzz-bzimage -max_total_time="${LUO_FUZZ_BZIMAGE_SECONDS:-15}" -rss_limit_mb=4096 \
		"$corpus" tests/fuzz/corpus-bzimage >"$log/fuzz-bzimage.log" 2>&1; then
		echo "ok 1 - fuzz: bzImage parser and LUO ABI extractor, $(grep -o 'Done [0-9]* runs' "$log/fuzz-bzimage.log" | tail -n1)"
	else
		tail -n 40 "$log/fuzz-bzimage.log"
		echo "not ok 1 - fuzz: bzImage parser and LUO ABI extractor (the crashing input is in $(pwd))"
	fi
	rm -rf "$corpus"
}

unit_tests() {
	local b=$1
	for t in "$b"/tests/unit/test-protocol "$b"/tests/unit/test-log "$b"/tests/unit/test-bzimage "$b"/src/client/test-client "$b"/src/ctl/test-cmdline; do
		run_tap "$(basename "$t")${2:-}" "$t"
	done
	run_tap "fake-kernel${2:-}" tests/fake/test-fake.sh "$b"/tests/fake/luo-fake-kernel \
		"$b"/tests/fake/luo-fake-preload.so "$b"/tests/fake/test-fake
}

for tier in $tiers; do
	case $tier in
	style)
		run_tap style style_check
		run_tap lint scripts/lint.sh
		run_tap man man_check
		;;
	unit)
		unit_tests build
		;;
	asan)
		if [ ! -f build-asan/build.ninja ]; then
			meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
		fi
		if ninja -C build-asan >"$log/asan-build.log" 2>&1; then
			export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1
			export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
			unit_tests build-asan " (asan)"
			# (The preload is built uninstrumented there: it goes into tools too.)
			BUILD=$top/build-asan run_tap "host (asan)" tests/host/run.sh
			unset ASAN_OPTIONS UBSAN_OPTIONS
		else
			cat "$log/asan-build.log"
			echo "not ok - asan build failed"
			failed=$((failed + 1))
		fi
		;;
	fuzz)
		run_tap fuzz fuzz_protocol
		run_tap fuzz-bzimage fuzz_bzimage
		;;
	host)
		BUILD=$top/build run_tap host tests/host/run.sh
		;;
	package)
		BUILD=$top/build run_tap package tests/package/run.sh
		;;
	valgrind)
		LUOD_VALGRIND=1 BUILD=$top/build run_tap "host (valgrind)" tests/host/run.sh
		;;
	vm)
		run_tap vm tests/vm/run-all.sh
		;;
	systemd)
		run_tap systemd tests/systemd/run.sh
		;;
	*)
		echo "unknown tier $tier"
		failed=$((failed + 1))
		;;
	esac
done

rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
