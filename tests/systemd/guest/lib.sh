# shellcheck shell=bash
# Helpers sourced by the systemd tier's guest driver and scenarios.
# Lines for the host start with "LUO-VM: "; the host (tests/systemd/run.sh)
# reads
#   LUO-VM: RESULT pass
#   LUO-VM: RESULT fail CATEGORY: REASON      (CATEGORY: setup, verify, check)
# The first RESULT line decides the run.

KERNEL_IMAGE=/boot/bzImage

say() { echo "LUO-VM: INFO [boot $BOOT] $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# End the run: QEMU runs with -no-reboot, so a reboot makes it exit. The
# image is thrown away, so no orderly shutdown is needed; no kernel may be
# loaded, or the reboot would become a kexec.
end_run() {
	sync
	kexec -u 2>/dev/null
	SYSTEMCTL_SKIP_AUTO_KEXEC=1 systemctl reboot --force --force
	sleep 60
	echo b >/proc/sysrq-trigger 2>/dev/null
	exit 0
}
pass() {
	echo "LUO-VM: RESULT pass${1:+ $*}"
	end_run
}
# fail CATEGORY REASON...
fail() {
	local cat=$1
	shift
	echo "LUO-VM: RESULT fail $cat: $*"
	run journalctl -b 0 --no-pager -n 60 -o short-monotonic || true
	end_run
}
# Show a command, run it, prefix its output; returns its exit code.
RUN_OUT=
run() {
	local rc=0
	echo "LUO-VM: \$ $*"
	RUN_OUT=$("$@" 2>&1) || rc=$?
	[ -z "$RUN_OUT" ] || printf '%s\n' "$RUN_OUT" | sed 's/^/LUO-VM: | /'
	[ "$rc" -eq 0 ] || echo "LUO-VM: (exit $rc)"
	return "$rc"
}

expect_boots() {
	[ "$BOOT" -ge 1 ] && [ "$BOOT" -le "$1" ] && return 0
	fail check "unexpected boot number $BOOT (scenario has $1 boots)"
}

# wait_for SECONDS CMD...: poll CMD until it succeeds; 1 on timeout.
wait_for() {
	local limit=$1 i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -le $((limit * 5)) ] || return 1
		sleep 0.2
	done
}
unit_settled() {
	local s
	s=$(systemctl is-active "$1")
	[ "$s" = active ] || [ "$s" = failed ] || [ "$s" = inactive ]
}
# The one line a probe wrote about itself (empty if none).
probe_state() { cat "/run/luo-probe-$1.state" 2>/dev/null; }
# expect_probe NAME GLOB: the probe's unit is active and its state matches.
expect_probe() {
	local st
	wait_for 60 test -s "/run/luo-probe-$1.state" || fail check "luo-probe-$1 wrote no state"
	wait_for 60 unit_settled "luo-probe-$1.service"
	st=$(probe_state "$1")
	say "luo-probe-$1: $st"
	# shellcheck disable=SC2053
	[[ $st == $2 ]] || fail verify "luo-probe-$1: '$st', expected '$2'"
	[ "$(systemctl is-active "luo-probe-$1.service")" = active ] ||
		fail check "luo-probe-$1.service is $(systemctl is-active "luo-probe-$1.service")"
}
# The manager's count of kexecs carried through LUO (systemd 261+).
kexec_count() { systemctl show -P KExecCount; }

# kexec_next [EXTRA_ARGS]: load the same kernel with the same command line
# plus luo_boot=N+1 (kexec-tools, kexec_file_load, no initrd), then hand the
# reboot to systemd: `systemctl kexec` stops everything in order and
# systemd-shutdown does the kexec.
kexec_next() {
	run kexec -s -l "$KERNEL_IMAGE" --reuse-cmdline --append="luo_boot=$((BOOT + 1)) $*" ||
		fail setup "kexec -s -l failed"
	run cat /sys/kernel/kexec_loaded
	say "systemctl kexec at $(uptime_s)s"
	run systemctl kexec || fail setup "systemctl kexec failed"
	sleep 600
	fail check "still running 600 s after systemctl kexec"
}

# Evidence of the previous boot's orderly shutdown in its journal.
expect_orderly_previous_shutdown() {
	run journalctl -b -1 --no-pager -o short-monotonic -n 40 || fail check "no journal of the previous boot"
	grep -q 'kexec.target' <<<"$RUN_OUT" || fail check "previous boot's journal does not reach kexec.target"
	grep -q 'Journal stopped' <<<"$RUN_OUT" || fail check "previous boot's journal was not stopped in order"
	run dmesg || true
	! grep -qiE 'EXT4-fs .*(recovery complete|orphan)' <<<"$RUN_OUT" ||
		fail check "the root file system needed ext4 journal recovery: not unmounted in order"
}

# The manager's view of the previous boot's shutdown (systemd 262 restores
# the late timestamps from the LUO payload after a kexec).
show_manager_luo() {
	run systemctl show -p KExecCount -p PreviousShutdownStartTimestamp -p PreviousShutdownFinishTimestamp \
		-p PreviousShutdownLateStartTimestamp -p PreviousShutdownLateFinishTimestamp -p UserspaceTimestamp \
		-p FinishTimestamp || true
}

# --- luod ---------------------------------------------------------------------
luod_pid() { systemctl show -P MainPID luod.service; }
# luod is up and does not hold /dev/liveupdate (systemd 261+: only briefly).
expect_luod_lets_go() {
	local pid fd
	wait_for 60 systemctl is-active luod.service || fail setup "luod.service is $(systemctl is-active luod.service)"
	wait_for 30 luoctl status || fail setup "luod does not answer"
	pid=$(luod_pid)
	run luoctl status || true
	grep -q 'systemd' <<<"$RUN_OUT" || fail verify "luod does not work with systemd (luoctl status)"
	for fd in "/proc/$pid/fd"/*; do
		[ "$(readlink "$fd")" = /dev/liveupdate ] || continue
		run ls -l "/proc/$pid/fd"
		fail verify "luod (pid $pid) holds /dev/liveupdate"
	done
}
# start_demo: start the demo client and wait until it is subscribed.
start_demo() {
	systemctl start luo-demo.service || fail setup "cannot start luo-demo.service"
	wait_for 120 sh -c 'luoctl list | grep -q "^demo .*subscribed"' || {
		run luoctl list
		run journalctl -b 0 --no-pager -u luo-demo.service
		fail setup "the demo client did not subscribe"
	}
}
# expect_demo_verified: this boot's demo claimed its session and checked every byte.
expect_demo_verified() {
	wait_for 300 sh -c 'journalctl -b 0 -u luo-demo.service --no-pager | grep -qE "verified|MISMATCH|nothing to claim"'
	run journalctl -b 0 --no-pager -u luo-demo.service || true
	grep -q 'verified 1 file(s), 67108864 bytes' <<<"$RUN_OUT" || fail verify "the demo's data was not verified"
}
# luod_update [LUOCTL_KEXEC_ARGS]: load the same kernel for boot N+1 with
# luoctl and start the update with luoctl kexec; systemd does the kexec.
luod_update() {
	run luoctl load "$KERNEL_IMAGE" --reuse-cmdline --append "luo_boot=$((BOOT + 1))" || fail setup "luoctl load failed"
	say "luoctl kexec at $(uptime_s)s"
	run luoctl kexec --timeout 60 "$@" || fail verify "luoctl kexec failed"
	sleep 600
	fail check "still running 600 s after luoctl kexec"
}
# The previous boot's luod log: it committed the update to systemd's kexec.
expect_luod_committed() {
	run journalctl -b -1 --no-pager -u luod.service -o short-monotonic || fail check "no luod log of the previous boot"
	grep -q "$1" <<<"$RUN_OUT" || fail verify "luod's log of the previous boot lacks '$1'"
}
