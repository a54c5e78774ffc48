# shellcheck shell=dash disable=SC1091,SC2086
# `luoctl load` with two initrds: the re-packed root, then a small newc cpio
# holding only /etc/luo-second-initrd. After `luoctl kexec` the marker file
# is there with its text: luod concatenated both archives, in order (the
# kernel unpacks them one after the other).
. /lib/luo-vm/lib.sh
expect_boots 2
MARKER=/etc/luo-second-initrd
TEXT="second initrd of load-two-initrds, unpacked after the root"
SECOND=/run/second-initrd.cpio
case $BOOT in
1)
	[ -e "$MARKER" ] && fail setup "$MARKER already exists in the first boot's root"
	start_luod
	make_next_initrd
	mkdir -p /tmp/second/etc
	echo "$TEXT" >"/tmp/second$MARKER"
	(cd /tmp/second && find . | cpio -o -H newc -F "$SECOND" 2>/dev/null) || fail setup "cannot build $SECOND"
	say "second initrd: $SECOND ($(wc -c <"$SECOND") bytes)"
	run luoctl load "$KERNEL_IMAGE" --initrd "$NEXT_INITRD" --initrd "$SECOND" --reuse-cmdline \
		--append "$(next_boot_arg)" || fail check "luoctl load with two initrds failed"
	run_capture luoctl status || fail check "luoctl status failed"
	[ "$(echo "$RUN_OUT" | sed -n 's/^initrd: *//p' | tr '\n' ' ')" = "$NEXT_INITRD $SECOND " ] ||
		fail check "luoctl status does not list both initrds in order"
	size=$(loaded_num initrd_size)
	want=$(($(wc -c <"$NEXT_INITRD") + $(wc -c <"$SECOND")))
	[ "$size" = "$want" ] || fail check "luoctl --json status: initrd_size '$size', expected $want"
	luo_kexec_reboot
	;;
2)
	check_handover 1
	[ -f "$MARKER" ] || fail check "$MARKER is missing: the second initrd was not unpacked"
	got=$(cat "$MARKER")
	[ "$got" = "$TEXT" ] || fail check "$MARKER holds '$got', expected '$TEXT'"
	# The first archive was unpacked too (it holds /init and this script).
	[ -x /usr/local/bin/luod ] || fail check "luod missing: the first initrd was not unpacked"
	say "$MARKER: $got"
	pass
	;;
esac
