#!/bin/bash
# Benchmark (not a test, not in CI): each fuzzer for a fixed number of
# executions instead of the few seconds of the test tier: the protocol
# decoder (fuzz-protocol, corpus tests/fuzz/corpus) and the kernel image
# checks (fuzz-bzimage, corpus tests/fuzz/corpus-bzimage).
#
#   bench/fuzz.sh [-runs N] [LIBFUZZER_OPTION...]
#
# Builds build-fuzz/ as scripts/test.sh does (clang, libFuzzer, ASan, UBSan),
# then runs each fuzzer over its checked-in corpus (new inputs go to a
# scratch directory) for 10 million executions (-runs=10000000) by default,
# on one core. libFuzzer stops at the first crash, so "crashes" is 0 or 1;
# the crashing input is kept in bench/fuzz-artifacts/. Prints, e.g.
#   fuzz-protocol: 10000000 executions, 0 crashes, 350 s
#   fuzz-bzimage: 10000000 executions, 0 crashes, 900 s
# Exit 0 when no input crashed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=10000000
if [ "${1:-}" = -runs ] && [ -n "${2:-}" ]; then
	runs=$2
	shift 2
fi

if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
ninja -C build-fuzz tests/fuzz/fuzz-protocol tests/fuzz/fuzz-bzimage >/dev/null || exit 1
mkdir -p bench/fuzz-artifacts

# fuzz NAME CORPUS [OPTION...]: run one fuzzer, print its line; false on a crash.
fuzz() {
	local name=$1 seeds=$2 corpus log rc secs start execs crashes
	shift 2
	corpus=$(mktemp -d)
	log=$(mktemp)
	start=$(date +%s)
	"build-fuzz/tests/fuzz/$name" -runs="$runs" -artifact_prefix=bench/fuzz-artifacts/ "$@" \
		"$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	# "Done N runs in T second(s)" at the end; after a crash, the last "#N" status line.
	execs=$(grep -oE '^Done [0-9]+ runs' "$log" | awk '{print $2}')
	[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
	crashes=$(grep -cE '^(==[0-9]+==ERROR|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer))' "$log")
	[ "$crashes" -gt 1 ] && crashes=1
	[ "$rc" -ne 0 ] && [ "$crashes" = 0 ] && crashes=1
	echo "$name: ${execs:-0} executions, $crashes crashes, $secs s"
	if [ "$crashes" != 0 ]; then
		tail -n 30 "$log"
		echo "crashing inputs: bench/fuzz-artifacts/"
	fi
	rm -rf "$corpus" "$log"
	[ "$crashes" = 0 ]
}

rc=0
fuzz fuzz-protocol tests/fuzz/corpus "$@" || rc=1
fuzz fuzz-bzimage tests/fuzz/corpus-bzimage "$@" || rc=1
exit $rc
