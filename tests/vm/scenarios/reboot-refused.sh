# shellcheck shell=dash disable=SC1091,SC2086
# `luoctl kexec --force` with no kernel loaded: the kernel's reboot() fails
# (EINVAL), luoctl exits non-zero with the errno and its meaning, the clients
# are told and stay subscribed. Then a load + kexec works and the data
# verifies.
. /lib/luo-vm/lib.sh
expect_boots 2
ARGS="--size 8M --seed 55"
case $BOOT in
1)
	start_luod
	start_demo c1 $ARGS preserve
	wait_for_state c1 subscribed
	run luoctl unload || true
	[ "$(cat /sys/kernel/kexec_loaded)" = 0 ] || fail setup "a kernel is still loaded"
	if run_capture luoctl kexec --force --timeout 30; then
		fail check "luoctl kexec --force succeeded with nothing loaded"
	fi
	echo "$RUN_OUT" | grep -qE 'EINVAL|Invalid argument' || fail check "luoctl kexec does not show the errno (EINVAL)"
	say "reboot refused as expected; still on boot 1"
	run luoctl status || fail check "luod does not answer after the refused reboot"
	wait_for_state c1 subscribed
	grep -qi abort "/run/demo.c1.log" || { demo_log c1; fail check "the client was not told about the abort"; }
	kill -0 "$(demo_pid c1)" || fail check "the client died"
	expect_no_sessions "LUO sessions still open after the refused reboot"
	luo_load
	luo_kexec_reboot
	;;
2)
	start_luod
	demo_verify c1 $ARGS
	check_handover 1
	pass
	;;
esac
