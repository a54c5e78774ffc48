# shellcheck shell=bash
# With a kernel loaded, a plain `systemctl reboot` (what an operator types)
# becomes a kexec through LUO, fd stores included (systemd 261+, with logind
# running). No luod. A plain reboot would end QEMU (-no-reboot) without a
# second boot, and the run would fail without a result.
# luo-cmdline: systemd.mask=luod.service systemd.mask=luo-probe-own.service
# luo-console: Preserved fd stores in LUO session 'systemd' for kexec
expect_boots 2
case $BOOT in
1)
	expect_probe fdstore 'created'
	run systemctl is-active systemd-logind.service || fail setup "logind is not running"
	run kexec -s -l "$KERNEL_IMAGE" --reuse-cmdline --append="luo_boot=2" || fail setup "kexec -s -l failed"
	say "systemctl reboot at $(uptime_s)s"
	run systemctl reboot || fail setup "systemctl reboot failed"
	sleep 600
	fail check "still running 600 s after systemctl reboot"
	;;
2)
	expect_probe fdstore 'restored ok*'
	[ "$(kexec_count)" = 1 ] || fail verify "KExecCount is '$(kexec_count)' after systemctl reboot, expected 1"
	run journalctl -b -1 --no-pager -o short-monotonic --grep 'kexec|reboot' || true
	pass
	;;
esac
