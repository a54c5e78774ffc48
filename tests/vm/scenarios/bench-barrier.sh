# shellcheck shell=dash disable=SC1091,SC2086,SC2015
# Benchmark, not a test (not in run.sh's default list; run by
# bench/luod-bench.sh barrier): the barrier through luod against the same
# kernel work done by one process, for N = 1, 16, 64, 256 clients with one
# 1 MiB memfd each, one update per boot; luod's start with the sessions
# carried over (against a program that does nothing) and its peak RSS.
# Every boot: luod's start timed (luo-bench start-luod; start-noop), the
# previous boot's sessions claimed, luod stopped for `luo-bench kernel N`
# (only one process may hold /dev/liveupdate; 3 samples) and started again, then
#   boot 1-4: N clients, KEXEC timed to REBOOTING
#   boot 5:   (luod's RSS with 256 sessions, before and after the claims)
#             256 clients again, the first one held before READY while
#             luod's RSS is read during the update
#   boot 6:   (luod's start and RSS with 256 sessions again) the end
. /lib/luo-vm/lib.sh
expect_boots 6
need_bins luo-bench luod luoctl
SIZE=1048576
nth() { echo "1 16 64 256 256 256" | cut -d' ' -f"$1"; }
N=$(nth $BOOT)

bench_luod() {
	mkdir -p /run/luod
	luo-bench start-luod $LUOD_LOG luod || fail setup "luod did not start"
	LUOD_PID=$(pidof luod) || fail setup "luod is not running"
	luo-bench start-noop || fail setup "luo-bench start-noop failed"
}
rss() { luo-bench rss $LUOD_PID "$1" || fail setup "cannot read luod's RSS"; }
stop_luod() {
	local i=0
	kill $LUOD_PID
	while [ -d /proc/$LUOD_PID ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -d /proc/$LUOD_PID ] && fail setup "luod did not exit on SIGTERM"
	return 0
}
# luod as the benchmark runs it (no -v), ready when luoctl status answers.
restart_luod() {
	local i=0
	luod >>$LUOD_LOG 2>&1 &
	LUOD_PID=$!
	while ! luoctl status >/dev/null 2>&1; do
		[ $i -lt 300 ] && kill -0 $LUOD_PID 2>/dev/null || fail setup "luod did not start again"
		sleep 0.1
		i=$((i + 1))
	done
}

bench_luod
if [ $BOOT -ge 2 ]; then
	prev=$(nth $((BOOT - 1)))
	[ $BOOT -ge 5 ] && rss "restart sessions=$prev"
	luo-bench claim c $prev $SIZE "n=$prev" || fail verify "claiming $prev sessions failed"
	[ $BOOT -ge 5 ] && rss "claimed sessions=$prev"
fi
[ $BOOT = 6 ] && pass "bench: barrier, start and RSS measured"
if [ $BOOT -le 4 ]; then
	stop_luod
	for _ in 1 2 3; do luo-bench kernel $N $SIZE || fail check "the kernel baseline failed"; done
	restart_luod
fi
luo_load
[ $BOOT = 5 ] && rss "loaded (luoctl load done)"
if [ $BOOT -le 4 ]; then
	luo-bench clients c $N $SIZE || fail setup "the clients did not subscribe"
	luo-bench kexec "n=$N" --cpu $LUOD_PID
else
	luo-bench clients c $N $SIZE --hold /run/bench-hold || fail setup "the clients did not subscribe"
	luo-bench kexec "hold n=$N" --rss $LUOD_PID --hold /run/bench-hold --clients $N
fi
fail check "luo-bench kexec returned: the update failed"
