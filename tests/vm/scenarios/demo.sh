# shellcheck shell=dash disable=SC1091,SC2086
# The guest half of scripts/demo.sh: one live update told step by step.
# Lines for the viewer start with "LUO-VM: DEMO "; scripts/demo.sh shows those.
. /lib/luo-vm/lib.sh
expect_boots 2
ID=demo
ARGS="--size ${LUO_DEMO_SIZE:-128M} --files 1 --seed 2026"

demo() { echo "LUO-VM: DEMO $*"; }
# demo_run CMD...: show a command and its output to the viewer.
demo_run() {
	local rc=0
	demo "\$ $*"
	set -o pipefail
	"$@" 2>&1 | while IFS= read -r l; do demo "    $l"; done || rc=$?
	set +o pipefail
	return "$rc"
}
case $BOOT in
1)
	demo "STEP kernel: $(cat /proc/version)"
	demo "STEP starting luod, the live update agent"
	start_luod
	demo "STEP starting the demo client: it will keep ${LUO_DEMO_SIZE:-128M}B of data in a memfd across the update"
	# Straight to the console: the lines written just before the reboot
	# must not wait in a pipe.
	luo-demo --id "$ID" $ARGS preserve &
	echo $! >"/run/demo.$ID.pid"
	wait_for_state "$ID" subscribed
	demo_run luoctl list
	demo "STEP loading the next kernel (here: the same image) with its initrd"
	make_next_initrd >/dev/null
	demo_run luoctl load "$KERNEL_IMAGE" --initrd "$NEXT_INITRD" --reuse-cmdline --append "$(next_boot_arg)" ||
		fail check "luoctl load failed"
	demo "STEP live update: luoctl kexec (clients preserve their data, then the kernel is replaced)"
	echo "LUO-VM: KEXEC boot=$BOOT uptime=$(uptime_s)"
	demo_run luoctl kexec --timeout 60 || fail check "luoctl kexec failed"
	sleep 30
	fail check "luoctl kexec returned but no reboot happened"
	;;
2)
	demo "STEP new kernel: $(cat /proc/version)"
	dmesg | grep -E 'KHO: exec from|luo: Retrieved live update data' | while IFS= read -r l; do demo "    [kernel] $l"; done
	demo "STEP luod starts again and finds the sessions kept for its clients"
	start_luod
	demo_run luoctl list
	demo "STEP the client claims its data and checks every byte"
	rc=0
	luo-demo --id "$ID" $ARGS verify || rc=$?
	[ "$rc" -eq 0 ] || fail verify "luo-demo verify exited $rc"
	echo "LUO-VM: VERIFIED uptime=$(uptime_s)"
	demo_run luoctl status
	pass
	;;
esac
