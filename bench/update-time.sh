#!/bin/bash
# Benchmark: the time from `luoctl kexec` to the client's data verified in
# the new kernel, under systemd and in the busybox VM, from one run.
#
#   bench/update-time.sh [--keep-logs DIR]
#
# The same client (luo-demo, 64 MiB) in both:
#   - busybox init (scripts/demo.sh --size 64M): luod reboots into the new
#     kernel itself, no services to stop; the demo starts in the initramfs;
#   - systemd 262 as PID 1 (tests/systemd/run.sh, scenario bench-update):
#     luod hands the sessions to systemd, which stops the services, unmounts
#     and kexecs; the next boot runs systemd up to multi-user.target before
#     the demo claims.
# Both are timed on the host's clock as the console lines arrive. Prints
# each, and the ratio systemd/busybox: what systemd's orderly shutdown and
# boot cost on top (QEMU without KVM: absolute numbers are slow). Exit 0
# when both numbers came out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
logs=
case ${1:-} in
--keep-logs) logs=$2 ;;
'') ;;
*) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2 ;;
esac
logs=${logs:-$(mktemp -d /tmp/luo-bench-update.XXXXXX)}
mkdir -p "$logs"
cd "$repo"

scripts/demo.sh --size 64M --keep-log "$logs/busybox.console.log" >"$logs/busybox.out" 2>&1 ||
	{ tail -n 20 "$logs/busybox.out" >&2; echo "update-time.sh: the busybox VM run failed" >&2; exit 1; }
busybox=$(sed -n 's/.*luoctl kexec -> data verified: \([0-9.]*\) s.*/\1/p' "$logs/busybox.out")

rm -f "$logs/systemd.stamps"
tests/systemd/run.sh --keep-logs "$logs" --stamps "$logs/systemd.stamps" bench-update >"$logs/systemd.out" 2>&1 ||
	{ tail -n 20 "$logs/systemd.out" >&2; echo "update-time.sh: the systemd VM run failed" >&2; exit 1; }
mark() { awk -v m="LUO-VM: MARK $1" 'index($0, m) { print $1; exit }' "$logs/systemd.stamps"; }
t0=$(mark kexec)
t1=$(mark verified)
[ -n "$busybox" ] && [ -n "$t0" ] && [ -n "$t1" ] || { echo "update-time.sh: timing marks missing (logs in $logs)" >&2; exit 1; }
systemd=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "luoctl kexec -> 64 MiB verified: busybox init ${busybox} s, systemd 262 ${systemd} s," \
	"ratio $(awk -v a="$busybox" -v b="$systemd" 'BEGIN { printf "%.2f", b / a }') (one run each; logs in $logs)"
