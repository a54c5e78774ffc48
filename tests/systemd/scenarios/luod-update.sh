# shellcheck shell=bash
# Issue 9 (a): luod under systemd 262 as PID 1, with systemd's own LUO users
# beside it: luo-demo as a service with 64 MiB, a memfd in a
# FileDescriptorStorePreserve=yes unit's fd store, and a memfd in a
# LUOSession= session (which could not start while luod held the device).
# Two `luoctl kexec` in a row: each runs the barrier, then systemd's orderly
# kexec (kexec.target) carries luod's sessions in its fd store; after each
# the demo's data is verified byte for byte and systemd's state came through.
# luo-cmdline: systemd.mask=luo-probe-own.service
# luo-console: Preserved fd stores in LUO session 'systemd' for kexec
# luo-console-not: Failed to open /dev/liveupdate
expect_boots 3
case $BOOT in
1)
	expect_luod_lets_go
	expect_probe fdstore 'created'
	expect_probe session 'preserved (anon_inode:\[luo_session\] *)'
	start_demo
	luod_update
	;;
2)
	expect_luod_lets_go
	expect_probe fdstore 'restored ok*'
	expect_probe session 'restored ok (anon_inode:\[luo_session\] *)'
	[ "$(kexec_count)" = 1 ] || fail verify "KExecCount is '$(kexec_count)' after one kexec, expected 1"
	expect_luod_committed 'systemd is taking the system down for the kexec'
	expect_orderly_previous_shutdown
	run journalctl -b -1 --no-pager -o cat -u luo-demo.service || true
	grep -q 'Stopped luo-demo.service' <<<"$RUN_OUT" || grep -q 'Stopped.*LUO demo' <<<"$RUN_OUT" ||
		fail verify "the demo service was not stopped in order before the kexec"
	start_demo_and_verify() { systemctl start luo-demo.service; expect_demo_verified; }
	start_demo_and_verify
	wait_for 60 sh -c 'luoctl list | grep -q "^demo .*subscribed"' || fail setup "the demo did not subscribe again"
	run luoctl status || true
	luod_update
	;;
3)
	expect_luod_lets_go
	[ "$(kexec_count)" = 2 ] || fail verify "KExecCount is '$(kexec_count)' after two kexecs, expected 2"
	expect_probe fdstore 'restored ok*'
	expect_orderly_previous_shutdown
	systemctl start luo-demo.service
	expect_demo_verified
	run journalctl -b 0 --no-pager -o short-monotonic --grep 'Failed to retrieve LUO session' || true
	! grep -q 'luod' <<<"$RUN_OUT" || fail verify "systemd could not retrieve one of luod's sessions"
	pass
	;;
esac
