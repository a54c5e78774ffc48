# shellcheck shell=bash
# Issue 9 (c): a client that never says READY: `luoctl kexec` aborts, the
# system keeps running with systemd's own preserved state intact, and a
# second update (this time a plain `systemctl reboot` by an operator, which
# systemd 262 turns into a kexec with a kernel loaded) carries the demo.
# luo-cmdline: systemd.mask=luo-probe-own.service
# luo-console: Preserved fd stores in LUO session 'systemd' for kexec
# luo-console-not: Failed to open /dev/liveupdate
expect_boots 2
case $BOOT in
1)
	expect_luod_lets_go
	expect_probe fdstore 'created'
	expect_probe session 'preserved (anon_inode:\[luo_session\] *)'
	start_demo
	systemctl start luo-demo-stuck.service
	wait_for 60 sh -c 'luoctl list | grep -q "^stuck .*subscribed"' || fail setup "the stuck client did not subscribe"
	run luoctl load "$KERNEL_IMAGE" --reuse-cmdline --append "luo_boot=2" || fail setup "luoctl load failed"
	run luoctl kexec --timeout 10 && fail verify "luoctl kexec succeeded with a client that is never ready"
	grep -q 'stuck' <<<"$RUN_OUT" || fail verify "luoctl kexec did not name the client at fault"
	run systemctl is-system-running || true
	run luoctl status || true
	grep -q 'idle' <<<"$RUN_OUT" || fail verify "luod is not idle after the abort"
	[ "$(systemctl show -P Job kexec.target)" = "" ] || fail verify "a kexec job is queued after the abort"
	expect_probe fdstore 'created'
	expect_probe session 'preserved (anon_inode:\[luo_session\] *)'
	systemctl is-active -q luo-demo.service || fail verify "the demo client died in the aborted update"
	systemctl stop luo-demo-stuck.service
	wait_for 30 sh -c '! luoctl list | grep -q "^stuck "' || fail setup "the stuck client is still subscribed"
	say "systemctl reboot at $(uptime_s)s (a kernel is loaded)"
	run systemctl reboot || fail setup "systemctl reboot failed"
	sleep 600
	fail check "still running 600 s after systemctl reboot"
	;;
2)
	expect_luod_lets_go
	expect_probe fdstore 'restored ok*'
	expect_probe session 'restored ok (anon_inode:\[luo_session\] *)'
	[ "$(kexec_count)" = 1 ] || fail verify "KExecCount is '$(kexec_count)', expected 1"
	expect_luod_committed 'running the barrier first'
	expect_orderly_previous_shutdown
	systemctl start luo-demo.service
	expect_demo_verified
	pass
	;;
esac
