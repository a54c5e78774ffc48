# shellcheck shell=dash disable=SC1091,SC2086
# Three live updates in a row; a client in `run` mode verifies its data after
# each one and preserves it again. At the end luoctl status shows updates: 3,
# and the command line still has liveupdate=on kho=on.
. /lib/luo-vm/lib.sh
expect_boots 4
ARGS="--size 16M --files 2 --seed 333"
for p in liveupdate=on kho=on; do
	grep -qw "$p" /proc/cmdline || fail check "$p is missing from the command line of boot $BOOT"
done
case $BOOT in
1 | 2 | 3)
	start_luod
	[ "$BOOT" -gt 1 ] && check_handover $((BOOT - 1))
	start_demo keeper $ARGS run
	wait_for_state keeper subscribed
	# In run mode the client verified the previous generation first.
	if [ "$BOOT" -gt 1 ]; then
		luoctl list | grep -q unclaimed && { run luoctl list; fail verify "session still unclaimed on boot $BOOT"; }
		kill -0 "$(demo_pid keeper)" 2>/dev/null || { demo_log keeper; fail verify "luo-demo run exited on boot $BOOT"; }
		grep -q 'verified' "/run/demo.keeper.log" || { demo_log keeper; fail verify "luo-demo run did not verify the data on boot $BOOT"; }
		grep 'verified' "/run/demo.keeper.log" | prefix
	fi
	expect_updates $((BOOT - 1))
	luo_load
	luo_kexec_reboot
	;;
4)
	start_luod
	demo_verify keeper $ARGS
	check_handover 3
	expect_updates 3
	pass "3 updates"
	;;
esac
