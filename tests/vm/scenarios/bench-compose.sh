# shellcheck shell=dash disable=SC1091,SC2086
# Benchmark, not a test (not in run.sh's default list; run by
# bench/luod-bench.sh compose): one update of 8 clients x 64 MiB, cut into
# its parts. Boot 1: luod, 8 clients (luo-bench clients --times: when each
# got START_PRESERVATION and had its READY answered), KEXEC timed to
# REBOOTING ("MARK kexec" and "MARK rebooting" for the host's clock).
# Boot 2: luod's start timed to its first reply, then the 8 claims with the
# data verified ("MARK verified"). The host adds reboot() -> /init.
. /lib/luo-vm/lib.sh
expect_boots 2
need_bins luo-bench luod luoctl
# luo_bench_size= and luo_bench_n= on the kernel command line override them.
SIZE=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^luo_bench_size=//p' | tail -n1)
SIZE=${SIZE:-67108864}
N=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^luo_bench_n=//p' | tail -n1)
N=${N:-8}
mkdir -p /run/luod
luo-bench start-luod $LUOD_LOG luod || fail setup "luod did not start"
case $BOOT in
1)
	luo_load
	luo-bench clients c $N $SIZE --times /run/bench-times || fail setup "the clients did not subscribe"
	luo-bench kexec compose --times /run/bench-times --cpu "$(pidof luod)"
	fail check "luo-bench kexec returned: the update failed"
	;;
2)
	luo-bench claim c $N $SIZE compose || fail verify "claiming the $N sessions failed"
	check_handover 1
	pass "bench: $N x $SIZE bytes update measured"
	;;
esac
