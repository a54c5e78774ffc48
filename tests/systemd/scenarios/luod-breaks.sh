# shellcheck shell=bash
# Today's luod (luod.service enabled as shipped) holds /dev/liveupdate for
# its whole life, and that breaks systemd's own LUO use (issue 9): the
# LUOSession= unit cannot start (EBUSY), systemd-shutdown cannot open the
# device at `systemctl kexec`, and the fd store is lost. This scenario
# passes while that is so; once luod releases the device it must fail, and
# its expectations turn into those of fdstore-kexec with luod running.
# luo-cmdline: systemd.mask=luo-probe-own.service
# luo-console: Failed to open /dev/liveupdate
# luo-console-not: Preserved fd stores in LUO session 'systemd' for kexec
expect_boots 2
probe_session_failed() {
	local r
	wait_for 60 unit_settled luo-probe-session.service
	r=$(systemctl show -P Result luo-probe-session.service)
	run systemctl status --no-pager -l luo-probe-session.service || true
	say "luo-probe-session: $(systemctl is-active luo-probe-session.service), result $r"
	[ "$(systemctl is-active luo-probe-session.service)" = failed ] ||
		fail verify "the LUOSession= unit started although luod holds /dev/liveupdate"
	grep -q 'Device or resource busy' <<<"$RUN_OUT" ||
		fail verify "the LUOSession= unit failed, but not with EBUSY"
}
case $BOOT in
1)
	wait_for 60 systemctl is-active luod.service || fail setup "luod.service is $(systemctl is-active luod.service)"
	run systemctl status --no-pager luod.service || true
	run ls -l "/proc/$(systemctl show -P MainPID luod.service)/fd" || true
	probe_session_failed
	expect_probe fdstore 'created'
	kexec_next
	;;
2)
	run journalctl -b 0 --no-pager -o short-monotonic --grep 'LUO|liveupdate|luo' || true
	show_manager_luo
	# The fd store did not come back: the probe made a new memfd.
	expect_probe fdstore 'created'
	[ "$(kexec_count)" = 0 ] || fail verify "KExecCount is '$(kexec_count)': systemd's LUO state came through"
	probe_session_failed
	pass
	;;
esac
