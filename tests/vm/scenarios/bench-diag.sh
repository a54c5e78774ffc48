# shellcheck shell=dash disable=SC1091,SC2086,SC2015
# Benchmark diagnosis, not a test (run by bench/luod-bench.sh diag): the
# barrier without a reboot, so that it can run again in one boot. KEXEC is
# forced with no kernel loaded: luod runs the whole barrier and saves its
# state, sends REBOOTING, reboot() fails and luod aborts. For N = 1, 16, 64,
# 256 (luo_bench_ns=), R samples each (luo_bench_r=, default 3): luod
# stopped, `luo-bench kernel N` (the baseline), luod started, N clients,
# KEXEC timed to REBOOTING with luod's CPU time. Then, when the initramfs
# has strace (LUO_VM_EXTRA_BINS=strace), one more update of the largest N
# with luod under `strace -c -f`, its summary on the console.
. /lib/luo-vm/lib.sh
expect_boots 1
need_bins luo-bench luod luoctl
SIZE=1048576
NS=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^luo_bench_ns=//p' | tail -n1 | tr , ' ')
NS=${NS:-1 16 64 256}
R=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^luo_bench_r=//p' | tail -n1)
R=${R:-3}
mkdir -p /run/luod

# go_luod [WRAPPER...]: luod (no -v) in the background, ready when luoctl status answers.
go_luod() {
	local i=0
	"$@" luod >>$LUOD_LOG 2>&1 &
	while ! luoctl status >/dev/null 2>&1; do
		[ $i -lt 300 ] || fail setup "luod did not start"
		sleep 0.1
		i=$((i + 1))
	done
	LUOD_PID=$(pidof luod) || fail setup "luod is not running"
}
stop_luod() {
	local i=0
	kill $LUOD_PID
	while [ -d /proc/$LUOD_PID ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -d /proc/$LUOD_PID ] && fail setup "luod did not exit on SIGTERM"
	return 0
}
# The clients of the aborted update (every luo-bench left runs one).
stop_clients() {
	local p
	p=$(pidof luo-bench) || return 0
	kill $p
	sleep 0.5
}

# What a start of the static luod costs before it does anything: --help.
for _ in 1 2 3; do
	luo-vm-timeit /run/t-help luod --help >/dev/null 2>&1
	luo-vm-timeit /run/t-noop luo-bench noop
done
echo "LUO-VM: BENCH exec luod --help us: $(tr '\n' ' ' </run/t-help) luo-bench noop us: $(tr '\n' ' ' </run/t-noop)"
# luod's start in a boot without luod's state (the slow case), traced.
if command -v strace >/dev/null; then
	luo-bench start-luod $LUOD_LOG strace -f -tt -T -o /run/luod-start.strace luod || fail setup "luod did not start"
	LUOD_PID=$(pidof luod)
	stop_luod
	echo "LUO-VM: STRACE luod's start (fresh boot), the system calls over 2 ms:"
	awk '{ t = $NF; gsub(/[<>]/, "", t) } t + 0 > 0.002' /run/luod-start.strace | cut -c1-200 | sed 's/^/LUO-VM: STRACE /'
	echo "LUO-VM: STRACE luod's start, every system call up to listen():"
	sed -n '1,/listen(/p' /run/luod-start.strace | cut -c1-140 | sed 's/^/LUO-VM: STRACE | /'
fi
for N in $NS; do
	r=1
	while [ $r -le $R ]; do
		luo-bench kernel $N $SIZE || fail check "the kernel baseline failed"
		go_luod
		luo-bench clients c $N $SIZE || fail setup "the clients did not subscribe"
		luo-bench kexec "n=$N r=$r" --cpu $LUOD_PID --no-kernel || fail check "the barrier failed"
		stop_clients
		stop_luod
		r=$((r + 1))
	done
done
if command -v strace >/dev/null; then
	go_luod strace -c -f -o /run/luod.strace
	luo-bench clients c $N $SIZE || fail setup "the clients did not subscribe"
	luo-bench kexec "strace n=$N" --no-kernel || fail check "the barrier under strace failed"
	stop_clients
	stop_luod
	sleep 1
	echo "LUO-VM: STRACE luod, one update of $N clients, strace -c -f:"
	sed 's/^/LUO-VM: STRACE /' /run/luod.strace
fi
pass "bench: diagnosis done"
