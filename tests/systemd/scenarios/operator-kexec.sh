# shellcheck shell=bash
# Issue 9 (b): an operator types `systemctl kexec` while a client is
# subscribed: luod-barrier.service, stopped before the services, has luod
# run the barrier first; the client preserves its data before it is
# stopped, and claims it back in the next boot.
# luo-cmdline: systemd.mask=luo-probe-own.service
# luo-console: Preserved fd stores in LUO session 'systemd' for kexec
# luo-console-not: Failed to open /dev/liveupdate
expect_boots 2
case $BOOT in
1)
	expect_luod_lets_go
	wait_for 60 systemctl is-active luod-barrier.service || fail setup "luod-barrier.service is not active"
	expect_probe fdstore 'created'
	start_demo
	kexec_next
	;;
2)
	expect_luod_lets_go
	expect_probe fdstore 'restored ok*'
	[ "$(kexec_count)" = 1 ] || fail verify "KExecCount is '$(kexec_count)' after one kexec, expected 1"
	expect_luod_committed 'running the barrier first'
	expect_luod_committed 'the kexec systemd is running goes on'
	run journalctl -b -1 --no-pager -o cat -u luod-barrier.service || true
	expect_orderly_previous_shutdown
	systemctl start luo-demo.service
	expect_demo_verified
	pass
	;;
esac
