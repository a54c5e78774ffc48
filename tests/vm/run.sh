#!/bin/bash
# Run VM scenarios: one QEMU per scenario, results as TAP on stdout.
#
#   tests/vm/run.sh [options] [SCENARIO...]      (default: all)
#
#   --bzimage P          kernel (default: $LUO_BZIMAGE, else tests/vm/kernel.sh)
#   --next-bzimage P     the kernel to upgrade to, for upgrade-7.3 (default:
#                        $LUO_BZIMAGE_NEXT, else tests/vm/kernel.sh --suite
#                        trixie-backports --package linux-source-7.3, when
#                        upgrade-7.3 is to run)
#   --initrd P           prebuilt initramfs (default: built with initramfs.sh)
#   --bin-dir D          static luod/luoctl/luo-demo for the built initramfs
#                        (default: $LUO_BIN_DIR, else build-static/ if present)
#   --broken-bin-dir D   binaries with a deliberately broken luod, for the
#                        mutation check `broken-luod` (or --broken-initrd P)
#   --keep-logs DIR      keep every console log in DIR (default: a temp dir,
#                        kept only when something fails)
#   --timeout S          per-scenario limit for QEMU (default 300)
#   --mem SIZE           guest RAM, as QEMU's -m takes it (default 1G)
#   --stamps FILE        also write each console line there, after the
#                        host's clock (EPOCHREALTIME) at its arrival (bench/)
#   --list               print the scenario names
#   $LUO_QEMU            QEMU binary (default qemu-system-x86_64)
#   $LUO_VM_APPEND       extra kernel command-line words
#
# A scenario is tests/vm/scenarios/NAME.sh, run by the guest's /init on every
# boot with the boot number. `broken-luod` runs a scenario with the broken
# binaries and passes when that scenario fails on data verification. The
# scenario is one-client-64M ($LUO_VM_MUTANT_SCENARIO overrides): luo-demo
# closes its copy of the session fd after READY, so luod's reference is what
# keeps the data alive until the reboot.
# A missing QEMU or kernel, a hung guest (timeout) or a guest that ends
# without a RESULT line is a failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
log() { echo "# $*"; }
die() { echo "run.sh: error: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

ALL_SCENARIOS=(smoke selftests one-client-64M eight-clients timeout-abort client-killed
	exit-after-ready three-updates reboot-refused readme-client load-append load-two-initrds load-errors abi-mismatch
	abi-forced upgrade-7.3 broken-luod)
MUTANT_SCENARIO=${LUO_VM_MUTANT_SCENARIO:-one-client-64M}

bzimage=${LUO_BZIMAGE:-}
next_bzimage=${LUO_BZIMAGE_NEXT:-}
initrd=
bin_dir=${LUO_BIN_DIR:-}
broken_bin_dir=
broken_initrd=
keep_logs=
limit=300
mem=1G
stamps=
scenarios=()
while [ $# -gt 0 ]; do
	case $1 in
	--bzimage) bzimage=$2; shift 2 ;;
	--next-bzimage) next_bzimage=$2; shift 2 ;;
	--initrd) initrd=$2; shift 2 ;;
	--bin-dir) bin_dir=$2; shift 2 ;;
	--broken-bin-dir) broken_bin_dir=$2; shift 2 ;;
	--broken-initrd) broken_initrd=$2; shift 2 ;;
	--keep-logs) keep_logs=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--stamps) stamps=$2; shift 2 ;;
	--list) printf '%s\n' "${ALL_SCENARIOS[@]}"; exit 0 ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	all) scenarios+=("${ALL_SCENARIOS[@]}"); shift ;;
	*) scenarios+=("$1"); shift ;;
	esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL_SCENARIOS[@]}")
[ -n "$bin_dir" ] || { [ -d "$repo/build-static" ] && bin_dir=$repo/build-static; } || true

if [ -n "$keep_logs" ]; then
	mkdir -p "$keep_logs"
	logdir=$(cd "$keep_logs" && pwd)
else
	logdir=$(mktemp -d /tmp/luo-vm-logs.XXXXXX)
fi
failures=0
n=0

# --- TAP ----------------------------------------------------------------------
tap_ok() { n=$((n + 1)); echo "ok $n - vm: $*"; }
tap_not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - vm: $*"; }

# Fail every scenario loudly when the machinery itself is missing.
bail() {
	local s
	echo "run.sh: FATAL: $*" >&2
	for s in "${scenarios[@]}"; do tap_not_ok "$s ($*)"; done
	echo "Bail out! $*"
	exit 1
}

echo "1..${#scenarios[@]}"

# --- prerequisites --------------------------------------------------------------
qemu=$(command -v "${LUO_QEMU:-qemu-system-x86_64}" || true)
[ -n "$qemu" ] || bail "${LUO_QEMU:-qemu-system-x86_64} not found (apt-get install qemu-system-x86)"
command -v timeout >/dev/null || bail "timeout(1) not found"
if [ -z "$bzimage" ]; then
	bzimage=$("$here/kernel.sh" 2>"$logdir/kernel.log") || bail "no LUO kernel: tests/vm/kernel.sh failed (log $logdir/kernel.log)"
fi
[ -r "$bzimage" ] || bail "kernel $bzimage is not readable"
for s in "${scenarios[@]}"; do
	[ "$s" = upgrade-7.3 ] && [ -z "$next_bzimage" ] && [ -z "$initrd" ] || continue
	next_bzimage=$("$here/kernel.sh" --suite trixie-backports --package linux-source-7.3 2>"$logdir/kernel-next.log") ||
		bail "no kernel to upgrade to: tests/vm/kernel.sh --suite trixie-backports failed (log $logdir/kernel-next.log)"
done

# build_initrd OUT [BIN_DIR]
build_initrd() {
	local out=$1 bins=${2:-}
	"$here/initramfs.sh" -o "$out" --bzimage "$bzimage" ${next_bzimage:+--next-bzimage "$next_bzimage"} \
		${bins:+"$bins"} >"$out.log" 2>&1 || {
		sed 's/^/# /' "$out.log"
		return 1
	}
}
needs_broken=0
for s in "${scenarios[@]}"; do [ "$s" = broken-luod ] && needs_broken=1; done
if [ ${#scenarios[@]} -gt "$needs_broken" ] && [ -z "$initrd" ]; then
	initrd=$logdir/initramfs.cgz
	build_initrd "$initrd" "$bin_dir" || bail "building the initramfs failed"
fi
if [ "$needs_broken" = 1 ] && [ -z "$broken_initrd" ] && [ -n "$broken_bin_dir" ]; then
	broken_initrd=$logdir/initramfs-broken.cgz
	build_initrd "$broken_initrd" "$broken_bin_dir" || broken_initrd=BUILD-FAILED
fi
log "kernel $bzimage"
log "logs in $logdir"

# --- one QEMU run ---------------------------------------------------------------
# stamp_lines FILE PID: each line of a growing FILE, after the host's clock.
stamp_lines() {
	local line
	while IFS= read -r line; do
		printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"
	done < <(tail -n +1 --pid="$2" -F "$1" 2>/dev/null)
}

# boot_vm NAME INITRD LOG: sets RESULT (pass|fail|hung|noresult|qemu) and REASON.
boot_vm() {
	local name=$1 rd=$2 console=$3 rc=0 line pid
	: >"$console"
	timeout -k 10 "$limit" "$qemu" -m "$mem" -smp 1 -nographic -no-reboot \
		-kernel "$bzimage" -initrd "$rd" \
		-append "console=ttyS0 liveupdate=on kho=on panic=-1 quiet luo_scenario=$name ${LUO_VM_APPEND:-}" \
		</dev/null >"$console" 2>&1 &
	pid=$!
	[ -z "$stamps" ] || stamp_lines "$console" "$pid" >>"$stamps"
	wait "$pid" || rc=$?
	# The console has CRs and the firmware's escape sequences.
	sed -i -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$console"
	line=$(grep -m1 -a '^LUO-VM: RESULT ' "$console" || true)
	case $line in
	"LUO-VM: RESULT pass"*) RESULT=pass; REASON= ;;
	"LUO-VM: RESULT fail "*) RESULT=fail; REASON=${line#LUO-VM: RESULT fail } ;;
	*)
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			RESULT=hung; REASON="guest hung: no result within ${limit}s"
		elif ! grep -qa 'LUO-VM: BOOT ' "$console"; then
			RESULT=qemu; REASON="the guest never reached /init (QEMU exit $rc)"
		else
			RESULT=noresult; REASON="the guest ended without a result (QEMU exit $rc; kernel panic?)"
		fi
		;;
	esac
	if [ "$RESULT" != pass ] && [ "$rc" = 124 ] && [ "$RESULT" != hung ]; then
		REASON="$REASON; then the guest hung until the ${limit}s timeout"
	fi
	BOOTS=$(grep -ca 'LUO-VM: BOOT ' "$console" || true)
}

show_tail() {
	log "console log: $1"
	tail -n 25 "$1" | sed 's/^/#   /'
}

run_one() {
	local name=$1 t0 t1 secs console rd=$initrd expect
	console=$logdir/$name.console.log
	if [ "$name" = broken-luod ]; then
		rd=$broken_initrd
		if [ -z "$rd" ] || [ "$rd" = BUILD-FAILED ]; then
			tap_not_ok "broken-luod (no broken build: give --broken-bin-dir or --broken-initrd${rd:+; building its initramfs failed})"
			return
		fi
		name=$MUTANT_SCENARIO
	elif [ ! -f "$here/scenarios/$name.sh" ]; then
		tap_not_ok "$name (unknown scenario: no tests/vm/scenarios/$name.sh)"
		return
	fi
	t0=$EPOCHREALTIME
	boot_vm "$name" "$rd" "$console"
	t1=$EPOCHREALTIME
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$1" = broken-luod ]; then
		case $RESULT:$REASON in
		fail:verify:*) tap_ok "broken-luod is caught ($MUTANT_SCENARIO failed: ${REASON}) [${secs}s]" ;;
		pass:*) tap_not_ok "broken-luod is NOT caught: $MUTANT_SCENARIO passed with the broken luod [${secs}s]"; show_tail "$console" ;;
		*) tap_not_ok "broken-luod: $MUTANT_SCENARIO failed, but not on data verification: $REASON [${secs}s]"; show_tail "$console" ;;
		esac
		return
	fi
	# A scenario whose expected end is a kernel panic says so in a line
	# "# LUO-VM-EXPECT-PANIC: TEXT" (the guest cannot report after it).
	expect=$(sed -n 's/^# LUO-VM-EXPECT-PANIC: //p' "$here/scenarios/$name.sh" | head -n1)
	if [ -n "$expect" ] && [ "$RESULT" = noresult ]; then
		if grep -qaF -- "$expect" "$console" && grep -qa 'Kernel panic' "$console"; then
			RESULT=pass
		else
			REASON="$REASON; expected a panic after: $expect"
		fi
	fi
	if [ "$RESULT" = pass ]; then
		tap_ok "$name [${secs}s, $BOOTS boots]"
	else
		tap_not_ok "$name: $REASON [${secs}s, $BOOTS boots]"
		show_tail "$console"
	fi
}

for s in "${scenarios[@]}"; do
	run_one "$s"
done

if [ "$failures" -gt 0 ]; then
	log "$failures of ${#scenarios[@]} failed; console logs kept in $logdir"
	exit 1
fi
[ -n "$keep_logs" ] || rm -rf "$logdir"
exit 0
