# shellcheck shell=dash disable=SC1091,SC2086,SC2015
# A real `luoctl load --reuse-cmdline --append "luo_boot=2 foo=bar"`:
# luoctl status shows the loaded kernel (path, exact size, sha256 of the
# file, the command line with foo=bar and without BOOT_IMAGE=); a client
# preserves data; `luoctl kexec`. Boot 2 has foo=bar exactly once on its
# command line and the data verifies; a second --reuse-cmdline load with
# --append luo_boot=3 does not pile up duplicates.
. /lib/luo-vm/lib.sh
expect_boots 2
ARGS="--size 8M --seed 808"
case $BOOT in
1)
	start_luod
	start_demo c1 $ARGS preserve
	wait_for_state c1 subscribed
	make_next_initrd
	run luoctl load "$KERNEL_IMAGE" --initrd "$NEXT_INITRD" --reuse-cmdline --append "$(next_boot_arg) foo=bar" ||
		fail check "luoctl load failed"
	[ "$(cat /sys/kernel/kexec_loaded)" = 1 ] || fail check "/sys/kernel/kexec_loaded is not 1 after luoctl load"
	run_capture luoctl status || fail check "luoctl status failed"
	kernel=$(status_field kernel)
	case $kernel in "$KERNEL_IMAGE ("*) ;; *) fail check "luoctl status: kernel is '$kernel', expected $KERNEL_IMAGE (SIZE)" ;; esac
	[ "$(status_field initrd)" = "$NEXT_INITRD" ] || fail check "luoctl status: initrd is '$(status_field initrd)'"
	size=$(loaded_num size)
	[ "$size" = "$(stat -c %s "$KERNEL_IMAGE")" ] ||
		fail check "luoctl --json status: size '$size', the file has $(stat -c %s "$KERNEL_IMAGE") bytes"
	sum=$(sha256sum "$KERNEL_IMAGE" | cut -d' ' -f1)
	[ "$(status_field sha256)" = "$sum" ] || fail check "luoctl status: sha256 '$(status_field sha256)', sha256sum says $sum"
	cl=$(status_field cmdline)
	[ "$(count_param foo "$cl")" = 1 ] && [ "$(param_values foo "$cl")" = bar ] ||
		fail check "luoctl status: the command line does not have foo=bar once: $cl"
	[ "$(count_param BOOT_IMAGE "$cl")" = 0 ] || fail check "luoctl status: the command line has BOOT_IMAGE=: $cl"
	[ "$(param_values luo_boot "$cl")" = 2 ] || fail check "luoctl status: the command line does not have luo_boot=2 alone: $cl"
	for p in liveupdate=on kho=on luo_scenario=load-append; do
		echo " $cl " | grep -q " $p " || fail check "luoctl status: $p lost from the command line: $cl"
	done
	say "status shows $KERNEL_IMAGE, $size bytes, sha256 $sum"
	run_capture luoctl check || fail check "luoctl check says the machine is not ready"
	echo "$RUN_OUT" | grep -q "^ok  *cmdline" || fail check "luoctl check did not check the command line"
	luo_kexec_reboot
	;;
2)
	cl=$(cat /proc/cmdline)
	[ "$(count_param foo "$cl")" = 1 ] && [ "$(param_values foo "$cl")" = bar ] ||
		fail check "/proc/cmdline does not have foo=bar exactly once: $cl"
	[ "$(param_values luo_boot "$cl")" = 2 ] || fail check "/proc/cmdline does not have luo_boot=2 alone: $cl"
	start_luod
	demo_verify c1 $ARGS
	check_handover 1
	# Reusing this command line again replaces luo_boot= instead of adding one.
	make_next_initrd
	run_capture luoctl load "$KERNEL_IMAGE" --initrd "$NEXT_INITRD" --reuse-cmdline --append luo_boot=3 ||
		fail check "the second luoctl load failed"
	out=$(echo "$RUN_OUT" | sed -n 's/^cmdline: *//p')
	run_capture luoctl status || fail check "luoctl status failed"
	cl=$(status_field cmdline)
	[ "$out" = "$cl" ] || fail check "luoctl load printed the command line '$out', luoctl status shows '$cl'"
	[ "$(count_param luo_boot "$cl")" = 1 ] && [ "$(param_values luo_boot "$cl")" = 3 ] ||
		fail check "the reloaded command line does not have luo_boot=3 alone: $cl"
	[ "$(count_param foo "$cl")" = 1 ] || fail check "the reloaded command line does not have foo=bar once: $cl"
	[ "$(count_param liveupdate "$cl")" = 1 ] || fail check "the reloaded command line does not have liveupdate= once: $cl"
	run luoctl unload || fail check "luoctl unload failed"
	run_capture luoctl check && fail check "luoctl check passed with nothing loaded"
	echo "$RUN_OUT" | grep -q "^fail  *kernel" || fail check "luoctl check did not name the missing kernel"
	[ "$(cat /sys/kernel/kexec_loaded)" = 0 ] || fail check "/sys/kernel/kexec_loaded is not 0 after luoctl unload"
	pass
	;;
esac
