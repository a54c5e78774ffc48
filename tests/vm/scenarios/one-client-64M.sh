# shellcheck shell=dash disable=SC1091,SC2086
# One client preserves a 64 MiB memfd; after the live update every byte of it
# is verified.
. /lib/luo-vm/lib.sh
expect_boots 2
ARGS="--size 64M --seed 4242"
case $BOOT in
1)
	start_luod
	start_demo c64 $ARGS preserve
	wait_for_state c64 subscribed
	luo_load
	luo_kexec_reboot
	;;
2)
	start_luod
	run luoctl list
	demo_verify c64 $ARGS
	check_handover 1
	run luoctl list
	expect_updates 1
	pass
	;;
esac
