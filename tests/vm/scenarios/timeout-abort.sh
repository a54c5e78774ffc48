# shellcheck shell=dash disable=SC1091,SC2086
# A client that never gets ready: `luoctl kexec --timeout 5` fails naming it,
# no reboot happens and the sessions are gone. Without it, a second kexec
# works and the good client's data verifies after the reboot.
. /lib/luo-vm/lib.sh
expect_boots 2
GOOD="--size 8M --seed 77"
case $BOOT in
1)
	start_luod
	start_demo good $GOOD preserve
	start_demo stuck --size 1M --seed 5 --never-ready preserve
	wait_for_state good subscribed
	wait_for_state stuck subscribed
	luo_load
	t0=$(date +%s)
	if run_capture luoctl kexec --timeout 5; then
		fail check "luoctl kexec --timeout 5 succeeded with a never-ready client"
	fi
	t1=$(date +%s)
	echo "$RUN_OUT" | grep -q stuck || fail check "luoctl kexec's failure does not name the client 'stuck'"
	say "kexec refused after $((t1 - t0))s, naming the stuck client; still on boot 1"
	[ $((t1 - t0)) -le 20 ] || fail check "the 5 s timeout took $((t1 - t0)) s"
	run luoctl status || fail check "luod does not answer after the abort"
	expect_no_sessions "LUO sessions still open after the aborted update"
	grep -qi 'abort' /run/demo.stuck.log || { demo_log stuck; fail check "the stuck client was not told about the abort"; }
	kill "$(demo_pid stuck)"
	wait "$(demo_pid stuck)" 2>/dev/null
	wait_for_state good subscribed
	luo_kexec_reboot --timeout 30
	;;
2)
	start_luod
	demo_verify good $GOOD
	run luoctl list
	luoctl list | grep -q stuck && fail check "the stuck client's session survived the update"
	check_handover 1
	pass
	;;
esac
