# shellcheck shell=dash disable=SC1091,SC2086
# Benchmark, not a test (not in run.sh's default list; run by
# bench/luod-bench.sh memory): one memfd of 64 MiB, 256 MiB and 1 GiB
# carried across a reboot by one process that preserves it and calls
# reboot() itself ("MARK direct" -> "MARK retrieved" in the next boot),
# then by one luod client (luod started, "MARK kexec" -> luod started in
# the next boot, "MARK claimed"). Per size two boots:
#   odd boot:  [claim the previous size through luod, stop luod]
#              kexec -s -l, luo-bench direct SIZE (reboots)
#   even boot: luo-bench retrieve SIZE; luod, one client, KEXEC
#   boot 7:    claim 1 GiB through luod
. /lib/luo-vm/lib.sh
expect_boots 7
need_bins luo-bench luod luoctl kexec
size_of() { echo "67108864 268435456 1073741824" | cut -d' ' -f"$1"; }

bench_luod() {
	mkdir -p /run/luod
	luo-bench start-luod $LUOD_LOG luod || fail setup "luod did not start"
}
stop_luod() {
	local pid i=0
	pid=$(pidof luod) || return 0
	kill $pid
	while [ -d /proc/$pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -d /proc/$pid ] && fail setup "luod did not exit on SIGTERM"
	return 0
}

if [ $((BOOT % 2)) = 1 ]; then
	if [ $BOOT -gt 1 ]; then
		S=$(size_of $(((BOOT - 1) / 2)))
		bench_luod
		luo-bench claim m 1 $S "luod size=$S" || fail verify "claiming $S bytes through luod failed"
		[ $BOOT = 7 ] && pass "bench: 64 MiB, 256 MiB, 1 GiB carried over, directly and through luod"
		stop_luod
	fi
	S=$(size_of $(((BOOT + 1) / 2)))
	make_next_initrd
	run kexec -s -l "$KERNEL_IMAGE" --initrd="$NEXT_INITRD" --reuse-cmdline --append="$(next_boot_arg)" ||
		fail setup "kexec -s -l failed"
	luo-bench direct $S "direct size=$S"
	fail check "luo-bench direct returned: its reboot failed"
fi
S=$(size_of $((BOOT / 2)))
luo-bench retrieve $S "direct size=$S" || fail verify "retrieving $S bytes directly failed"
bench_luod
luo_load
luo-bench clients m 1 $S || fail setup "the client did not subscribe"
luo-bench kexec "luod size=$S"
fail check "luo-bench kexec returned: the update failed"
