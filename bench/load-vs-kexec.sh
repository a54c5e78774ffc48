#!/bin/bash
# Benchmark: `luoctl load` against kexec-tools' `kexec -s -l`, in the test VM.
#
#   bench/load-vs-kexec.sh [-n N] [--keep-logs DIR]
#
# Boots the VM once (tests/vm/run.sh) with the scenario bench-load
# (tests/vm/scenarios/bench-load.sh): with the same kernel image and initrd
# (the guest's re-packed root), after a warm-up, it times N (default 10)
# iterations of `luoctl load KERNEL --initrd X --reuse-cmdline` + `luoctl
# unload` and of `kexec -s -l KERNEL --initrd=X --reuse-cmdline` + `kexec -s
# -u`, interleaved, each timed with luo-vm-timeit (CLOCK_MONOTONIC). Prints
# the medians and the ratio luoctl/kexec, e.g.
#   luoctl load: 41.0 ms, kexec -s -l: 38.0 ms, ratio 1.08 (median of 10)
# Both end in the same kexec_file_load(2); luoctl adds the round trip to
# luod and luod's checks (it reads the header and hashes the image).
# QEMU runs without KVM here, so the absolute numbers are slow; the ratio is
# what to look at. Exit 0 when numbers came out, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
n=10
keep=
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	--keep-logs) keep=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2 ;;
	*) echo "load-vs-kexec.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $n in '' | *[!0-9]* | 0) echo "load-vs-kexec.sh: -n wants a positive number" >&2; exit 2 ;; esac

cd "$repo"
scripts/build.sh >&2 || { echo "load-vs-kexec.sh: scripts/build.sh failed" >&2; exit 1; }
logs=${keep:-$(mktemp -d /tmp/luo-bench.XXXXXX)}
mkdir -p "$logs"
rc=0
LUO_VM_APPEND="${LUO_VM_APPEND:+$LUO_VM_APPEND }luo_bench_n=$n" \
	tests/vm/run.sh --keep-logs "$logs" --bin-dir "$repo/build-static" --timeout 600 bench-load >&2 || rc=$?
console=$logs/bench-load.console.log
lines=$(grep -a '^LUO-VM: BENCH ' "$console" 2>/dev/null | sed 's/^LUO-VM: BENCH //' || true)
if ! echo "$lines" | grep -q '^luoctl load: .* ratio '; then
	echo "load-vs-kexec.sh: no numbers (run.sh exit $rc); console log: $console" >&2
	exit 1
fi
echo "$lines" | grep -v '^samples ' || true
echo "$lines" | grep '^samples ' | sed 's/^/  /' >&2 || true
[ -n "$keep" ] || rm -rf "$logs"
exit 0
