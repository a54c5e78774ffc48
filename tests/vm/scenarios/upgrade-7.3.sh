# shellcheck shell=dash disable=SC1091,SC2086
# A real upgrade, two boots: Linux 7.2.13 (the test kernel) live-updates
# into 7.3.4 (Debian trixie-backports' linux-source-7.3, built like the first
# by kernel.sh; /boot/bzImage-next). Same LUO ABI (kho-v4 luo-v5 memfd-v2):
# luoctl load and check say "compatible". Two clients preserve 32 MiB and
# 1 MiB; after the update the running kernel is 7.3.4 and every byte of
# both is verified.
. /lib/luo-vm/lib.sh
expect_boots 2
NEXT=/boot/bzImage-next
A="--size 32M --seed 731"
B="--size 1M --seed 732"
case $BOOT in
1)
	[ -r "$NEXT" ] || fail setup "no $NEXT in the initramfs (run.sh --next-bzimage)"
	say "running $(uname -r); upgrading to $NEXT"
	start_luod
	start_demo up1 $A preserve
	start_demo up2 $B preserve
	wait_for_state up1 subscribed
	wait_for_state up2 subscribed
	make_next_initrd
	run_capture luoctl load "$NEXT" --initrd "$NEXT_INITRD" --reuse-cmdline --append "$(next_boot_arg)" ||
		fail check "luoctl load of the 7.3 kernel failed"
	echo "$RUN_OUT" | grep -q 'version: *7\.3\.' || fail check "the loaded kernel is not 7.3"
	echo "$RUN_OUT" | grep -q 'abi check: *compatible: both kernels speak kho-v4 luo-v5 memfd-v2' ||
		fail check "the 7.3 kernel is not reported compatible"
	run_capture luoctl check || fail check "luoctl check failed"
	echo "$RUN_OUT" | grep -q 'ok    abi       LUO ABI compatible' || fail check "luoctl check does not say compatible"
	luo_kexec_reboot
	;;
2)
	case $(uname -r) in
	7.3.*) say "running $(uname -r)" ;;
	*) fail check "after the update the kernel is $(uname -r), not 7.3" ;;
	esac
	start_luod
	run luoctl list
	demo_verify up1 $A
	demo_verify up2 $B
	check_handover 1
	expect_updates 1
	pass
	;;
esac
