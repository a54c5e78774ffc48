# shellcheck shell=dash disable=SC1091,SC2086
# Boot, kexec into the same kernel with kexec-tools, check the second boot.
# Needs no project code: validates the VM machinery.
. /lib/luo-vm/lib.sh
expect_boots 2
case $BOOT in
1)
	[ -c /dev/liveupdate ] || fail check "/dev/liveupdate does not exist"
	say "kernel $(uname -r), /dev/liveupdate present"
	kexec_tools_reboot
	;;
2)
	grep -q 'liveupdate=on' /proc/cmdline || fail check "liveupdate=on lost from the command line"
	[ -c /dev/liveupdate ] || fail check "/dev/liveupdate does not exist after the kexec"
	check_handover 1
	pass
	;;
esac
