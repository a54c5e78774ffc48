# shellcheck shell=bash
# systemd's own LUO use, without luod (luod.service is masked): a memfd in a
# FileDescriptorStorePreserve=yes unit's fd store, a memfd in a LUOSession=
# session, and a memfd in a session a luod-like unit created itself and keeps
# in its fd store, survive `systemctl kexec`; the shutdown is orderly.
# Host side (tests/systemd/run.sh) reads these header lines:
# luo-cmdline: systemd.mask=luod.service
# luo-console: Serialized [0-9]+ fd store entries for LUO
# luo-console: Preserved fd stores in LUO session 'systemd' for kexec
# luo-console-not: Failed to open /dev/liveupdate
expect_boots 2
case $BOOT in
1)
	expect_probe fdstore 'created'
	expect_probe session 'preserved (anon_inode:\[luo_session\] *)'
	expect_probe own 'preserved (anon_inode:\[luo_session\] luo-probe-own-own)'
	[ "$(kexec_count)" = 0 ] || fail check "KExecCount is '$(kexec_count)' on the first boot"
	kexec_next
	;;
2)
	expect_probe fdstore 'restored ok*'
	expect_probe session 'restored ok (anon_inode:\[luo_session\] *)'
	expect_probe own 'restored ok (anon_inode:\[luo_session\] luo-probe-own-own)'
	run systemctl status --no-pager luo-probe-own.service || true
	[ "$(kexec_count)" = 1 ] || fail verify "KExecCount is '$(kexec_count)' after one kexec, expected 1"
	run journalctl -b 0 --no-pager -o short-monotonic --grep 'LUO|liveupdate|luo' || true
	show_manager_luo
	expect_orderly_previous_shutdown
	pass
	;;
esac
