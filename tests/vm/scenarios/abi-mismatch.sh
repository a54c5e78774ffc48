# shellcheck shell=dash disable=SC1091,SC2086
# A real kernel that speaks another LUO ABI, one boot: /boot/bzImage-luo-v6
# is this very kernel with its LUO_ABI_COMPATIBLE string patched to luo-v6
# (initramfs.sh: patch-abi.py; the payload recompressed in place). luod
# learns the running kernel's ABI from KHO's debugfs and /boot/bzImage
# (its version is uname's), the target's from the image's payload:
#   luoctl load of it (also --dry-run) -> exit 1, EPROTONOSUPPORT, "target
#     kernel speaks luo-v6, this kernel luo-v5", nothing loaded;
#   luoctl load of the real image -> "compatible", and luoctl check says so;
#   luoctl load --force of it -> loaded, with a warning; luoctl check fails
#     on the ABI; luoctl kexec refuses before any client is asked to
#     preserve; the client stays subscribed, the machine does not reboot.
. /lib/luo-vm/lib.sh
expect_boots 1
V6=/boot/bzImage-luo-v6
[ -r "$V6" ] || fail setup "no $V6 in the initramfs (initramfs.sh could not patch the kernel)"
make_next_initrd
ARGS="--initrd $NEXT_INITRD --reuse-cmdline --append luo_boot=2"
start_luod
start_demo c1 --size 1M --seed 7 preserve
wait_for_state c1 subscribed

expect_load_fails "kernel speaking luo-v6" \
	'target kernel speaks luo-v6, this kernel luo-v5: the sessions cannot be handed over' \
	'EPROTONOSUPPORT' '--force' -- "$V6" $ARGS
expect_load_fails "kernel speaking luo-v6, --dry-run" 'luo-v6' -- "$V6" $ARGS --dry-run

run_capture luoctl load "$KERNEL_IMAGE" $ARGS || fail check "luoctl load of the real kernel failed"
echo "$RUN_OUT" | grep -q 'abi check: *compatible: both kernels speak kho-v4 luo-v5 memfd-v2' ||
	fail check "the real kernel is not reported compatible"
run_capture luoctl --json status || fail check "luoctl status failed"
echo "$RUN_OUT" | grep -q '"running_source": *"image /boot/bzImage and /sys/kernel/debug/kho"' ||
	fail check "luod did not learn the running ABI from both /boot/bzImage and KHO's debugfs"
run_capture luoctl check || fail check "luoctl check failed with a compatible kernel loaded"
echo "$RUN_OUT" | grep -q 'ok    abi       LUO ABI compatible' || fail check "luoctl check does not say compatible"

run_capture luoctl load "$V6" $ARGS --force || fail check "luoctl load --force of the luo-v6 kernel failed"
echo "$RUN_OUT" | grep -q 'warning: loaded anyway (--force): target kernel speaks luo-v6, this kernel luo-v5' ||
	fail check "load --force does not warn"
[ "$(cat /sys/kernel/kexec_loaded)" = 1 ] || fail check "load --force did not load"
run_capture luoctl check && fail check "luoctl check passed with the luo-v6 kernel loaded"
echo "$RUN_OUT" | grep -q 'fail  abi       LUO ABI incompatible: target kernel speaks luo-v6, this kernel luo-v5' ||
	fail check "luoctl check does not name the ABI difference"
run_capture luoctl kexec && fail check "luoctl kexec started an update into the luo-v6 kernel"
echo "$RUN_OUT" | grep -q 'refusing the live update: target kernel speaks luo-v6, this kernel luo-v5' ||
	fail check "luoctl kexec does not say why it refuses"
run_capture luoctl --json status || fail check "luoctl status failed"
echo "$RUN_OUT" | grep -q '"state": *"idle"' || fail check "an update started"
echo "$RUN_OUT" | grep -q '"state": *"subscribed"' || fail check "the client was asked to preserve"
demo_alive c1 || fail check "the client died"
pass
