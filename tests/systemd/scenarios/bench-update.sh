# shellcheck shell=bash
# For bench/update-time.sh (not in the default run): one live update of the
# 64 MiB demo under systemd, with marks for the host's clock: "LUO-VM: MARK
# kexec" just before `luoctl kexec`, "LUO-VM: MARK verified" once the demo
# verified its data in the next boot.
# luo-cmdline: systemd.mask=luo-probe-own.service systemd.mask=luo-probe-session.service systemd.mask=luo-probe-fdstore.service
expect_boots 2
case $BOOT in
1)
	expect_luod_lets_go
	start_demo
	run luoctl load "$KERNEL_IMAGE" --reuse-cmdline --append "luo_boot=2" || fail setup "luoctl load failed"
	echo "LUO-VM: MARK kexec"
	run luoctl kexec --timeout 60 || fail verify "luoctl kexec failed"
	sleep 600
	fail check "still running 600 s after luoctl kexec"
	;;
2)
	systemctl start luo-demo.service
	expect_demo_verified
	echo "LUO-VM: MARK verified"
	pass
	;;
esac
