# shellcheck shell=bash
# Today's `luoctl kexec` (luod calls reboot(LINUX_REBOOT_CMD_KEXEC) itself)
# skips systemd's shutdown: no kexec.target, no systemd-shutdown, nothing
# stopped or unmounted (the next boot replays the ext4 journal), systemd's
# fd stores lost (issue 9). This scenario
# passes while that is so; when luod hands the reboot to systemd it must
# fail, and its expectations turn into issue 9's scenario (a).
# luo-cmdline: systemd.mask=luo-probe-own.service
# luo-console: kexec_core: Starting new kernel
# luo-console-not: systemd-shutdown\[1\]
# luo-console-not: Reached target kexec.target
expect_boots 2
case $BOOT in
1)
	wait_for 60 systemctl is-active luod.service || fail setup "luod.service is $(systemctl is-active luod.service)"
	expect_probe fdstore 'created'
	run luoctl load "$KERNEL_IMAGE" --reuse-cmdline --append "luo_boot=2" || fail setup "luoctl load failed"
	run luoctl status || true
	say "luoctl kexec at $(uptime_s)s"
	run luoctl kexec --timeout 30
	sleep 600
	fail check "still running 600 s after luoctl kexec"
	;;
2)
	expect_probe fdstore 'created'
	[ "$(kexec_count)" = 0 ] || fail verify "KExecCount is '$(kexec_count)': systemd's LUO state came through"
	run journalctl -b -1 --no-pager -o short-monotonic -n 15 || fail check "no journal of the previous boot"
	! grep -q 'kexec.target' <<<"$RUN_OUT" || fail verify "the previous boot reached kexec.target: the shutdown was orderly"
	run dmesg --level=err,warn,notice,info || true
	# Mounted read-write and never unmounted: the journal must be replayed.
	grep -qE 'EXT4-fs .*recovery complete' <<<"$RUN_OUT" ||
		fail verify "no ext4 journal recovery after a kexec that skipped the shutdown"
	show_manager_luo
	pass
	;;
esac
