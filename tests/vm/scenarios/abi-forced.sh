# shellcheck shell=dash disable=SC1091,SC2086
# Why the LUO ABI check refuses: forced into the kernel patched to speak
# luo-v6 (/boot/bzImage-luo-v6, see abi-mismatch), two boots. Boot 1: a
# client preserves 1 MiB; luoctl load --force and luoctl kexec --force go
# into the luo-v6 kernel (both warn). Boot 2: that kernel finds luo-v5 state
# and panics ("LUO state is incompatible with 'luo-v6'", "Kernel panic - not
# syncing: The incoming tree failed to initialize properly"): what luoctl
# refuses without --force. That panic is this scenario's expected end:
# LUO-VM-EXPECT-PANIC: LUO state is incompatible with 'luo-v6'
# (run.sh passes it when the console shows that line and a kernel panic, and
# no RESULT line came.)
. /lib/luo-vm/lib.sh
expect_boots 2
V6=/boot/bzImage-luo-v6
case $BOOT in
1)
	[ -r "$V6" ] || fail setup "no $V6 in the initramfs (initramfs.sh could not patch the kernel)"
	start_luod
	start_demo f1 --size 1M --seed 61 preserve
	wait_for_state f1 subscribed
	make_next_initrd
	run_capture luoctl load "$V6" --initrd "$NEXT_INITRD" --reuse-cmdline --append "$(next_boot_arg)" --force ||
		fail check "luoctl load --force failed"
	echo "$RUN_OUT" | grep -q 'loaded anyway (--force): target kernel speaks luo-v6' || fail check "no warning"
	luo_kexec_reboot --force
	;;
2)
	dmesg | grep -iE 'luo|kho' | prefix
	fail check "the luo-v6 kernel booted to init with luo-v5 state (expected a panic)"
	;;
esac
