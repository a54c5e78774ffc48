#!/bin/bash
# Run the host integration tests (real luod, luoctl and luo-demo against the
# /dev/liveupdate test double) and print TAP. Each test runs in a fresh
# "machine". Usage: run.sh [TEST_NAME_GLOB]
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
for f in "$here"/test-*.sh; do
	# shellcheck disable=SC1090
	. "$f"
done

for bin in "$LUOD" "$LUOCTL" "$DEMO" "$FAKE" "$PRELOAD"; do
	if [ ! -x "$bin" ] && [ ! -f "$bin" ]; then
		echo "not ok 1 - host: missing $bin (build first)"
		exit 1
	fi
done

n=0 failed=0
for t in $(declare -F | awk '{print $3}' | grep '^test_' | grep -- "${1:-}"); do
	n=$((n + 1))
	out=$( (machine_start; trap machine_stop EXIT; "$t") 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok $n - host: ${t#test_}"
	else
		failed=$((failed + 1))
		echo "not ok $n - host: ${t#test_}"
		echo "$out" | sed 's/^/# /' | tail -n 30
	fi
done
echo "1..$n"
[ $failed -eq 0 ]
