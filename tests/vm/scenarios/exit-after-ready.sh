# shellcheck shell=dash disable=SC1091,SC2086
# A client exits right after READY; luod keeps its session and the data
# verifies after the reboot. A second, bigger client keeps the update busy
# long enough for the first one to be gone before the reboot.
. /lib/luo-vm/lib.sh
expect_boots 2
QUICK="--size 4M --seed 31"
SLOW="--size 96M --seed 32"
case $BOOT in
1)
	start_luod
	start_demo quick $QUICK --exit-after-ready preserve
	start_demo slow $SLOW preserve
	wait_for_state quick subscribed
	wait_for_state slow subscribed
	qpid=$(demo_pid quick)
	( while kill -0 "$qpid" 2>/dev/null; do sleep 0.05; done
	  say "client quick (pid $qpid) has exited at uptime $(uptime_s)" ) &
	luo_load
	luo_kexec_reboot
	;;
2)
	start_luod
	demo_verify quick $QUICK
	demo_verify slow $SLOW
	check_handover 1
	pass
	;;
esac
