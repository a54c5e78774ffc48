# shellcheck shell=bash
# Chained updates without luod: the fd store's memfd survives two
# `systemctl kexec` in a row (systemd preserves the restored memfd again,
# KExecCount 0 → 1 → 2). A session that came back (incoming: LUOSession= or
# a unit's own) and is still in the fd store at the second kexec is lost: the
# kernel serializes only outgoing sessions. PID 1 then fails to retrieve it
# and the units start with fresh, empty sessions. (Pinned here so that a
# change in systemd or the kernel shows up.)
# luo-cmdline: systemd.mask=luod.service
expect_boots 3
case $BOOT in
1)
	expect_probe fdstore 'created'
	expect_probe session 'preserved*'
	expect_probe own 'preserved*'
	kexec_next
	;;
2)
	expect_probe fdstore 'restored ok*'
	expect_probe session 'restored ok*'
	expect_probe own 'restored ok*'
	[ "$(kexec_count)" = 1 ] || fail verify "KExecCount is '$(kexec_count)' after one kexec, expected 1"
	kexec_next
	;;
3)
	expect_probe fdstore 'restored ok*'
	[ "$(kexec_count)" = 2 ] || fail verify "KExecCount is '$(kexec_count)' after two kexecs, expected 2"
	expect_probe session 'preserved*'
	expect_probe own 'preserved*'
	run journalctl -b 0 --no-pager -o short-monotonic --grep 'LUO|liveupdate' || true
	grep -q "Failed to retrieve LUO session 'luo-probe-own-own' for unit 'luo-probe-own.service'" <<<"$RUN_OUT" ||
		fail verify "PID 1 did not report the lost incoming session of luo-probe-own"
	show_manager_luo
	pass
	;;
esac
