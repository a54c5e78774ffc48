# shellcheck shell=dash disable=SC1091,SC2086
# A client is SIGKILLed while the update waits for it: the update is aborted
# at once (not at the timeout), nothing reboots and the system keeps going:
# the next update, without that client, works.
. /lib/luo-vm/lib.sh
expect_boots 2
GOOD="--size 8M --seed 99"
case $BOOT in
1)
	start_luod
	start_demo good $GOOD preserve
	start_demo victim --size 1M --seed 6 --never-ready preserve
	wait_for_state good subscribed
	wait_for_state victim subscribed
	luo_load
	t0=$(date +%s)
	luoctl kexec --timeout 120 >/run/kexec.out 2>&1 &
	kpid=$!
	wait_for_state victim preparing
	say "victim is preparing; kill -9 $(demo_pid victim)"
	kill -9 "$(demo_pid victim)"
	rc=0
	wait $kpid || rc=$?
	t1=$(date +%s)
	prefix </run/kexec.out
	[ "$rc" -ne 0 ] || fail check "luoctl kexec succeeded although a client was killed"
	[ $((t1 - t0)) -lt 60 ] || fail check "the abort took $((t1 - t0)) s: luod waited for the timeout"
	grep -q victim /run/kexec.out || fail check "luoctl kexec's failure does not name the killed client"
	say "update aborted after $((t1 - t0))s (luoctl exit $rc); still on boot 1"
	run luoctl status || fail check "luod does not answer after the abort"
	expect_no_sessions "LUO sessions still open after the aborted update"
	wait_for_state good subscribed
	luoctl list | grep -q victim && fail check "the killed client is still listed"
	luo_kexec_reboot --timeout 30
	;;
2)
	start_luod
	demo_verify good $GOOD
	check_handover 1
	pass
	;;
esac
