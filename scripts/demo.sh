#!/bin/bash
# Show a kernel live update with luo-agent, end to end, in a QEMU VM:
#   installs the build dependencies (scripts/deps.sh), builds luo-agent
#   (scripts/build.sh), gets a LUO-capable kernel (tests/vm/kernel.sh: built
#   once, ~10 minutes, then cached), packs an initramfs and boots it. In the
#   VM a demo client keeps a memfd full of data across a kexec into a new
#   kernel; the new kernel's client checks every byte.
#
#   scripts/demo.sh [--size SIZE] [--keep-log FILE] [--raw]
#
#   --size SIZE      data the client keeps (default 128M; K/M/G suffixes)
#   --keep-log FILE  save the full serial console log there
#   --raw            show the whole console instead of the story
# Ends with DEMO PASSED (exit 0) or DEMO FAILED (exit 1).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
size=128M
keep_log=
raw=0
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	--keep-log) keep_log=$2; shift 2 ;;
	--raw) raw=1; shift ;;
	-h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done

B='' G='' R='' N=''
if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; fi
work=$(mktemp -d /tmp/luo-demo.XXXXXX)
console=$work/console.log
t_start=$EPOCHREALTIME

say() { echo "${B}==>${N} $*"; }
failed() {
	echo "${R}DEMO FAILED${N}: $*"
	[ -s "$console" ] && echo "    full console log: ${keep_log:-$console}"
	exit 1
}
# Run a setup step quietly; show its log only if it fails.
quiet_step() {
	local what=$1 log=$work/$2.log
	shift 2
	say "$what"
	"$@" >"$log" 2>&1 || { tail -n 30 "$log" | sed 's/^/    /'; failed "$what (log: $log)"; }
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

quiet_step "installing build dependencies (scripts/deps.sh)" deps scripts/deps.sh
quiet_step "building luod, luoctl and luo-demo (scripts/build.sh)" build scripts/build.sh
say "getting a kernel with the Live Update Orchestrator (tests/vm/kernel.sh; first time: ~10 min build)"
bzimage=$(tests/vm/kernel.sh 2>"$work/kernel.log") || { tail -n 30 "$work/kernel.log"; failed "no LUO kernel"; }
echo "    $bzimage"
quiet_step "packing the VM's initramfs (tests/vm/initramfs.sh)" initramfs \
	tests/vm/initramfs.sh --no-selftests -o "$work/initramfs.cgz" --bzimage "$bzimage" "$repo/build-static"
command -v qemu-system-x86_64 >/dev/null || failed "qemu-system-x86_64 is missing"

say "booting the VM (QEMU, software emulation); the story follows"
echo

# Stream the console: keep all of it in $console, show the story, note times.
sum_before='' sum_after='' t_kexec='' t_boot2='' t_verified='' result='' guest_boot2_uptime='' guest_verified_uptime=''
show() {
	local line t
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$console"
		t=$EPOCHREALTIME
		[ "$raw" = 1 ] && printf '%s\n' "$line"
		case $line in
		*"LUO-VM: KEXEC "*) t_kexec=$t ;;
		*"LUO-VM: BOOTED boot=2 "*) t_boot2=$t; guest_boot2_uptime=${line#*uptime=}; guest_boot2_uptime=${guest_boot2_uptime%% *} ;;
		*"LUO-VM: VERIFIED "*) t_verified=$t; guest_verified_uptime=${line#*uptime=} ;;
		*"LUO-VM: RESULT "*) [ -n "$result" ] || result=${line#*LUO-VM: RESULT } ;;
		*"luo-demo["*"]: preserved "*"checksum "*) sum_before=${line##*checksum }; sum_before=${sum_before%%;*} ;;
		*"luo-demo["*"]: verified "*"checksum "*) sum_after=${line##*checksum } ;;
		esac
		[ "$raw" = 1 ] && continue
		case $line in
		*"LUO-VM: DEMO STEP "*) echo; say "${line#*LUO-VM: DEMO STEP }" ;;
		*"LUO-VM: DEMO "*) echo "${line#*LUO-VM: DEMO }" ;;
		*"LUO-VM: RESULT fail"*) echo "${R}${line#*LUO-VM: }${N}" ;;
		*"LUO-VM: luod | <"[67]">"*) ;;
		*"LUO-VM: luod | "* | *"LUO-VM: demo "* | *"LUO-VM: | "*) echo "    ${line#*LUO-VM: }" ;;
		*"luo-demo["*) echo "    [luo-demo] ${line#*luo-demo\[*\]: }" ;;
		*"Kernel panic"* | *"BUG:"* | *"Oops"*) echo "${R}$line${N}" ;;
		esac
	done
}
qemu_rc=0
shopt -s lastpipe # show() runs in this shell and keeps what it noted
set +e
timeout -k 10 "${LUO_DEMO_TIMEOUT:-300}" qemu-system-x86_64 -m 1G -smp 1 -nographic -no-reboot \
	-kernel "$bzimage" -initrd "$work/initramfs.cgz" \
	-append "console=ttyS0 liveupdate=on kho=on panic=-1 quiet luo_scenario=demo LUO_DEMO_SIZE=$size" \
	</dev/null 2>&1 | show
qemu_rc=${PIPESTATUS[0]}
set -e
[ -n "$keep_log" ] && cp "$console" "$keep_log"
echo

[ "$qemu_rc" = 124 ] && failed "the VM hung (killed after ${LUO_DEMO_TIMEOUT:-300}s)"
case $result in
pass*) ;;
fail*) failed "${result#fail }" ;;
*) failed "the VM ended without a result (QEMU exit $qemu_rc)" ;;
esac
if [ -z "$t_kexec" ] || [ -z "$t_verified" ]; then failed "missing timing marks in the console"; fi

say "the data"
if [ -n "$sum_before" ]; then
	echo "    checksum before the update: $sum_before  (printed by the client as it preserved the data)"
else
	# luo-demo prints its line after READY, which races with the reboot; the
	# verification compares against the manifest written before the reboot.
	echo "    checksum before the update: $sum_after  (recorded in the client's preserved manifest before the reboot;"
	echo "                                the client's own line about it was cut off by the reboot)"
fi
echo "    checksum after the update:  $sum_after  (every byte re-read and checked against the pattern and the manifest)"
if [ -n "$sum_before" ] && [ "$sum_before" != "$sum_after" ]; then failed "checksums differ"; fi
say "timing (host clock; QEMU software emulation, no KVM: real hardware is much faster)"
echo "    luoctl kexec -> new kernel running /init : $(secs "$t_kexec" "$t_boot2") s  (clients preserve, kexec, boot; guest uptime then ${guest_boot2_uptime}s)"
echo "    new kernel /init -> data verified        : $(secs "$t_boot2" "$t_verified") s"
echo "    ${B}live update, luoctl kexec -> data verified: $(secs "$t_kexec" "$t_verified") s${N}  (guest uptime at verification: ${guest_verified_uptime}s)"
echo "    whole demo: $(secs "$t_start" "$EPOCHREALTIME") s"
echo
echo "${G}DEMO PASSED${N}"
