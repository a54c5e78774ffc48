# shellcheck shell=bash
# Issue 9 (d): luod is killed (SIGKILL) after the update, before its client
# claims: systemd restarts it, it takes the session back from its fd store,
# and the client's claim works.
# luo-cmdline: systemd.mask=luo-probe-own.service
# luo-console: Preserved fd stores in LUO session 'systemd' for kexec
expect_boots 2
case $BOOT in
1)
	expect_luod_lets_go
	start_demo
	luod_update
	;;
2)
	expect_luod_lets_go
	run luoctl list || true
	grep -qE '^demo +.*unclaimed' <<<"$RUN_OUT" || fail verify "the demo's session is not waiting to be claimed"
	old=$(luod_pid)
	run kill -9 "$old"
	wait_for 60 sh -c "[ \"\$(systemctl show -P MainPID luod.service)\" != $old ] && [ \"\$(systemctl show -P MainPID luod.service)\" != 0 ]" ||
		fail verify "systemd did not restart luod"
	expect_luod_lets_go
	run systemctl show -P NRestarts luod.service || true
	run luoctl list || true
	grep -qE '^demo +.*unclaimed' <<<"$RUN_OUT" || fail verify "the restarted luod lost the demo's session"
	systemctl start luo-demo.service
	expect_demo_verified
	run journalctl -b 0 --no-pager -u luod.service -o short-monotonic || true
	pass
	;;
esac
