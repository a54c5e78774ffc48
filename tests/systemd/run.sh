#!/bin/bash
# The systemd tier: QEMU boots a Debian sid root file system with sid's
# systemd as PID 1 on a LUO kernel, with luod, luoctl and luo-demo installed
# by `meson install` and luod.service enabled as shipped; each scenario runs
# across real kexecs. Results as TAP on stdout.
#
#   tests/systemd/run.sh [options] [SCENARIO...]     (default: ALL_SCENARIOS below)
#
#   --keep-logs DIR   keep every console log in DIR (default: a temp dir,
#                     kept only when something fails)
#   --timeout S       per-scenario limit for QEMU (default 900)
#   --list            print the scenario names
#   --stamps FILE     write each console line there too, after the host's
#                     clock (EPOCHREALTIME) at its arrival (for bench/)
#   $LUO_SYSTEMD_BZIMAGE, $LUO_SYSTEMD_ROOTFS   prebuilt kernel / root tarball
#   $LUO_QEMU         QEMU binary (default qemu-system-x86_64)
#
# A scenario is tests/systemd/scenarios/NAME.sh, sourced by the guest's test
# driver (luo-test.service) on every boot. Its header lines tell the host
#   # luo-cmdline: WORDS         extra kernel command-line words
#   # luo-console: REGEX         must appear on the serial console
#   # luo-console-not: REGEX     must not appear there
# Each run gets a fresh ext4 image. Heavy steps run under `nice -n 19`.
# Needs root (the image keeps the root's owners).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
log() { echo "# $*"; }
usage() { sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

# The default run: issue 9's four with luod, and systemd's own LUO without
# luod (if that fails, the kernel or systemd is at fault, not luod).
# two-kexecs and reboot-autokexec record facts about systemd; run them by name.
ALL_SCENARIOS=(luod-update operator-kexec never-ready luod-killed fdstore-kexec)
keep_logs=
stamps=
limit=900
scenarios=()
while [ $# -gt 0 ]; do
	case $1 in
	--keep-logs) keep_logs=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--stamps) stamps=$2; shift 2 ;;
	--list) printf '%s\n' "${ALL_SCENARIOS[@]}"; exit 0 ;;
	-h | --help) usage ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) scenarios+=("$1"); shift ;;
	esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL_SCENARIOS[@]}")

if [ -n "$keep_logs" ]; then
	mkdir -p "$keep_logs"
	logdir=$(cd "$keep_logs" && pwd)
else
	logdir=$(mktemp -d /tmp/luo-systemd-logs.XXXXXX)
fi
work=$(mktemp -d /tmp/luo-systemd-work.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
n=0
tap_ok() { n=$((n + 1)); echo "ok $n - systemd: $*"; }
tap_not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - systemd: $*"; }
bail() {
	local s
	echo "run.sh: FATAL: $*" >&2
	for s in "${scenarios[@]}"; do tap_not_ok "$s ($*)"; done
	echo "Bail out! $*"
	exit 1
}
# timed VAR CMD...: run CMD, put its wall time in seconds into VAR.
timed() {
	local __v=$1 t0 rc=0
	shift
	t0=$EPOCHREALTIME
	"$@" || rc=$?
	printf -v "$__v" '%s' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')"
	return $rc
}

echo "1..${#scenarios[@]}"

# --- prerequisites ----------------------------------------------------------
[ "$(id -u)" -eq 0 ] || bail "the systemd tier needs root (mmdebstrap, image file owners)"
"$here/deps.sh" >"$logdir/deps.log" 2>&1 || bail "tests/systemd/deps.sh failed (log $logdir/deps.log)"
qemu=$(command -v "${LUO_QEMU:-qemu-system-x86_64}" || true)
[ -n "$qemu" ] || bail "${LUO_QEMU:-qemu-system-x86_64} not found (scripts/deps.sh installs it)"
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }
t0=$EPOCHREALTIME
bzimage=$("$here/kernel.sh" 2>"$logdir/kernel.log") ||
	bail "no kernel: tests/systemd/kernel.sh failed (log $logdir/kernel.log)"
t_kernel=$(since "$t0")
t0=$EPOCHREALTIME
rootfs=$("$here/rootfs.sh" 2>"$logdir/rootfs.log") ||
	bail "no root file system: tests/systemd/rootfs.sh failed (log $logdir/rootfs.log)"
t_rootfs=$(since "$t0")
log "kernel $bzimage (${t_kernel}s), root $rootfs (${t_rootfs}s)"
log "logs in $logdir"

# --- the root file system of this run -----------------------------------------
# luo-agent as a distribution would install it: built on this (bookworm)
# host against its json-c, installed with `meson install` under /usr, and
# run on sid (newer glibc and the same libjson-c.so.5).
stage() {
	local root=$1 b=$repo/build-systemd-tier
	mkdir -p "$root"
	tar -C "$root" --numeric-owner --xattrs -xf "$rootfs"
	if [ ! -f "$b/build.ninja" ]; then
		nice -n 19 meson setup "$b" "$repo" --prefix=/usr --sysconfdir=/etc -Dtests=false >&2 || return 1
	fi
	nice -n 19 ninja -C "$b" >&2 || return 1
	DESTDIR=$root nice -n 19 meson install -C "$b" --no-rebuild --quiet >&2 || return 1
	install -d "$root/usr/local/lib/luo-test/scenarios" "$root/boot"
	nice -n 19 gcc -static -O2 -Wall -Wextra -I"$repo/src/shared" -o "$root/usr/local/lib/luo-test/luo-sd-probe" \
		"$here/guest/luo-sd-probe.c" >&2 || return 1
	install -m 0755 "$here/guest/driver" "$root/usr/local/lib/luo-test/driver"
	install -m 0644 "$here/guest/lib.sh" "$root/usr/local/lib/luo-test/lib.sh"
	install -m 0644 "$here"/scenarios/*.sh "$root/usr/local/lib/luo-test/scenarios/"
	install -m 0644 "$here"/guest/units/*.service "$root/etc/systemd/system/"
	install -m 0644 "$bzimage" "$root/boot/bzImage"
	# No daily jobs in a test VM.
	rm -f "$root"/etc/systemd/system/timers.target.wants/*.timer
	# Enabled as their [Install] sections say (offline: no /proc needed).
	systemctl --root="$root" enable luod.service luod-barrier.service luo-test.service \
		luo-probe-fdstore.service luo-probe-session.service luo-probe-own.service >&2 || return 1
}
timed t_stage stage "$work/root" 2>"$logdir/stage.log" || {
	sed 's/^/# /' "$logdir/stage.log"
	bail "staging the root file system failed"
}
log "staged the root with luo-agent in ${t_stage}s"

# --- one scenario --------------------------------------------------------------
# qemu_run IMAGE SCENARIO CONSOLE: boot the image until the guest powers off.
qemu_run() {
	local rc=0 pid
	timeout -k 10 "$limit" nice -n 19 "$qemu" -m 1G -smp 1 -nographic -no-reboot \
		-kernel "$bzimage" -drive "file=$1,format=raw,if=virtio" \
		-append "console=ttyS0 root=/dev/vda rw liveupdate=on kho=on panic=-1 luo_scenario=$2 $(header "$2" luo-cmdline)" \
		</dev/null >"$3" 2>&1 &
	pid=$!
	[ -z "$stamps" ] || stamp_lines "$3" "$pid" >>"$stamps"
	wait "$pid" || rc=$?
	return $rc
}
# stamp_lines FILE PID: each line of a growing FILE, after the host's clock.
stamp_lines() {
	local line
	while IFS= read -r line; do
		printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"
	done < <(tail -n +1 --pid="$2" -F "$1" 2>/dev/null)
}

header() { sed -n "s/^# $2: \{0,1\}//p" "$here/scenarios/$1.sh"; }

run_one() {
	local name=$1 img=$work/$1.img console=$logdir/$1.console.log rc=0 secs t_img line res reason re boots
	if [ ! -f "$here/scenarios/$name.sh" ]; then
		tap_not_ok "$name (unknown scenario: no tests/systemd/scenarios/$name.sh)"
		return
	fi
	rm -f "$img"
	timed t_img nice -n 19 mkfs.ext4 -q -F -L luo-root -d "$work/root" "$img" 2G >"$logdir/$name.mkfs.log" 2>&1 || {
		tap_not_ok "$name (mkfs.ext4 failed)"
		return
	}
	timed secs qemu_run "$img" "$name" "$console" || rc=$?
	rm -f "$img"
	# The console has CRs, colours and systemd's terminal queries (DCS).
	sed -i -e 's/\r$//' -e 's/\x1bP[^\x1b]*\x1b\\//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$console"
	boots=$(grep -ca '^LUO-VM: BOOT ' "$console" || true)
	line=$(grep -m1 -a '^LUO-VM: RESULT ' "$console" || true)
	case $line in
	"LUO-VM: RESULT pass"*) res=pass reason= ;;
	"LUO-VM: RESULT fail "*) res=fail reason=${line#LUO-VM: RESULT fail } ;;
	*)
		res=fail
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			reason="guest hung: no result within ${limit}s"
		else
			reason="the guest ended without a result (QEMU exit $rc)"
		fi
		;;
	esac
	if [ "$res" = pass ]; then
		while IFS= read -r re; do
			[ -n "$re" ] || continue
			grep -qaE -- "$re" "$console" || { res=fail reason="console lacks /$re/"; break; }
		done < <(header "$name" luo-console)
	fi
	if [ "$res" = pass ]; then
		while IFS= read -r re; do
			[ -n "$re" ] || continue
			! grep -qaE -- "$re" "$console" || { res=fail reason="console has /$re/"; break; }
		done < <(header "$name" luo-console-not)
	fi
	# Timings for the CI budget: image, each boot's "startup finished" line.
	grep -a '^LUO-VM: | Startup finished' "$console" | sed 's/^/# /' || true
	if [ "$res" = pass ]; then
		tap_ok "$name [${secs}s, $boots boots, image ${t_img}s]"
	else
		tap_not_ok "$name: $reason [${secs}s, $boots boots]"
		log "console log: $console"
		grep -a '^LUO-VM: ' "$console" | tail -n 40 | sed 's/^/#   /'
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
