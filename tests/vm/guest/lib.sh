# shellcheck shell=dash
# Helpers sourced by the scenario scripts (busybox sh) in the test VM.
# Lines for the host start with "LUO-VM: "; the host (tests/vm/run.sh) reads
#   LUO-VM: RESULT pass
#   LUO-VM: RESULT fail CATEGORY: REASON      (CATEGORY: setup, verify, check)
# The first RESULT line decides the run.

BOOT=${1:-${LUO_BOOT:-1}}
NEXT_INITRD=/run/next-initrd.cpio
KERNEL_IMAGE=/boot/bzImage
LUOD_LOG=/run/luod.log

say() { echo "LUO-VM: INFO [boot $BOOT] $*"; }
pass() { echo "LUO-VM: RESULT pass${1:+ $*}"; exit 0; }
# fail CATEGORY REASON...
fail() {
	local cat=$1
	shift
	echo "LUO-VM: RESULT fail $cat: $*"
	dump_luod_log
	exit 1
}
# Show a command, run it, prefix its output; returns its exit code.
run() {
	local rc=0 out=/run/run.$$.out
	echo "LUO-VM: \$ $*"
	"$@" >"$out" 2>&1 || rc=$?
	sed 's/^/LUO-VM: | /' "$out"
	[ "$rc" -eq 0 ] || echo "LUO-VM: (exit $rc)"
	rm -f "$out"
	return "$rc"
}
# Like run, but also saves the output in $RUN_OUT.
RUN_OUT=
run_capture() {
	local rc=0 out=/run/run.$$.out
	echo "LUO-VM: \$ $*"
	"$@" >"$out" 2>&1 || rc=$?
	RUN_OUT=$(cat "$out")
	sed 's/^/LUO-VM: | /' "$out"
	[ "$rc" -eq 0 ] || echo "LUO-VM: (exit $rc)"
	rm -f "$out"
	return "$rc"
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Fail unless this is one of the boots the scenario knows about.
expect_boots() {
	local max=$1
	[ "$BOOT" -ge 1 ] && [ "$BOOT" -le "$max" ] && return 0
	fail check "unexpected boot number $BOOT (scenario has $max boots)"
}

# The marker for the next kernel's command line.
next_boot_arg() { echo "luo_boot=$((BOOT + 1))"; }

# Re-pack the running root (the initramfs contents, minus the mounted
# /proc /sys /dev /run /tmp) as the initrd of the next kernel.
make_next_initrd() {
	[ -s "$NEXT_INITRD" ] && return 0
	(cd / && { find . -xdev; echo ./dev/console; } | cpio -o -H newc -F "$NEXT_INITRD" 2>/dev/null) ||
		fail setup "cannot re-pack the root into $NEXT_INITRD"
	say "next initrd: $NEXT_INITRD ($(wc -c <"$NEXT_INITRD") bytes)"
}

# Did this kernel receive a live update (N-th in the lineage)?
check_handover() {
	local n=$1
	dmesg | grep -q "liveupdate number: $n\$" && return 0
	dmesg | grep -iE 'luo|kho' | sed 's/^/LUO-VM: dmesg | /'
	fail check "the kernel log does not show live update number $n"
}

# Load the next kernel with kexec-tools (kexec_file_load) and jump to it.
# Returns only if the kexec failed.
kexec_tools_reboot() {
	make_next_initrd
	run kexec -s -l "$KERNEL_IMAGE" --initrd="$NEXT_INITRD" --reuse-cmdline \
		--append="$(next_boot_arg)" || fail setup "kexec -l failed"
	echo "LUO-VM: KEXEC boot=$BOOT uptime=$(uptime_s)"
	kexec -e
	fail check "kexec -e returned ($?)"
}

# --- luo-agent ---------------------------------------------------------------

need_bins() {
	local b
	for b in "$@"; do
		command -v "$b" >/dev/null 2>&1 || fail setup "$b is not in the initramfs (build the static binaries first)"
	done
}

# Start luod in the background and wait until luoctl status answers.
start_luod() {
	need_bins luod luoctl
	mkdir -p /run/luod
	luod -v "$@" >>"$LUOD_LOG" 2>&1 &
	LUOD_PID=$!
	local i=0
	while [ $i -lt 300 ]; do
		if luoctl status >/dev/null 2>&1; then
			say "luod ready (pid $LUOD_PID) after $((i / 10)).$((i % 10))s"
			return 0
		fi
		kill -0 "$LUOD_PID" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	fail setup "luod did not become ready (see its log)"
}

dump_luod_log() {
	[ -s "$LUOD_LOG" ] || return 0
	echo "LUO-VM: ---- luod log (last 60 lines) ----"
	tail -n 60 "$LUOD_LOG" | sed 's/^/LUO-VM: luod | /'
}

# Is the luo-demo client ID (started by start_demo) still running?
demo_alive() {
	local pid
	pid=$(cat "/run/demo.$1.pid" 2>/dev/null) || return 1
	[ -r "/proc/$pid/stat" ] || return 1
	case $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) in Z | X | '') return 1 ;; esac
	return 0
}

# wait_for_state ID STATE [TENTHS]: poll `luoctl list` until client ID shows
# STATE (ID, PID, UID, STATE columns).
wait_for_state() {
	local id=$1 state=$2 max=${3:-600} i=0
	while [ $i -lt "$max" ]; do
		luoctl list 2>/dev/null | awk -v id="$id" -v st="$state" '$1 == id && $4 == st { f = 1 } END { exit !f }' && return 0
		if [ -f "/run/demo.$id.pid" ] && ! demo_alive "$id"; then
			demo_log "$id"
			fail check "client $id exited before reaching state $state"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	run luoctl list
	fail check "client $id did not reach state $state"
}

# start_demo ID ARGS... : a luo-demo client in the background (log in
# /run/demo.ID.log, pid in /run/demo.ID.pid).
start_demo() {
	local id=$1
	shift
	need_bins luo-demo
	say "starting luo-demo --id $id $*"
	luo-demo --id "$id" "$@" >>"/run/demo.$id.log" 2>&1 &
	echo $! >"/run/demo.$id.pid"
}
demo_pid() { cat "/run/demo.$1.pid"; }
demo_log() {
	echo "LUO-VM: ---- luo-demo $1 log ----"
	sed "s/^/LUO-VM: demo $1 | /" "/run/demo.$1.log" 2>/dev/null
}

# demo_verify ID ARGS... : luo-demo verify, a failure is a data verification failure.
demo_verify() {
	local id=$1 rc=0
	shift
	need_bins luo-demo
	run_capture luo-demo --id "$id" "$@" verify || rc=$?
	[ "$rc" -eq 0 ] && return 0
	case $rc in
	1) fail verify "client $id: data mismatch (luo-demo verify exit 1)" ;;
	2) fail verify "client $id: nothing to claim after the update (luo-demo verify exit 2)" ;;
	*) fail verify "client $id: luo-demo verify exit $rc: $(echo "$RUN_OUT" | tail -n1)" ;;
	esac
}

# Load this same kernel as the next one, with the re-packed root as initrd
# and the boot marker appended.
luo_load() {
	make_next_initrd
	run luoctl load "$KERNEL_IMAGE" --initrd "$NEXT_INITRD" --reuse-cmdline --append "$(next_boot_arg)" ||
		fail check "luoctl load failed"
}

# prefix: copy stdin to the console line by line with the "LUO-VM: | " prefix.
prefix() { while IFS= read -r l; do echo "LUO-VM: | $l"; done; }

# Run `luoctl kexec ARGS...`, which must reboot into the next kernel.
luo_kexec_reboot() {
	local rc=0
	echo "LUO-VM: KEXEC boot=$BOOT uptime=$(uptime_s) epoch=$(date +%s)"
	echo "LUO-VM: \$ luoctl kexec $*"
	set -o pipefail
	luoctl kexec "$@" 2>&1 | prefix || rc=$?
	set +o pipefail
	[ "$rc" -eq 0 ] || fail check "luoctl kexec $* failed (exit $rc)"
	sleep 30
	fail check "luoctl kexec $* exited 0 but no reboot happened within 30s"
}

# Print "PID FD-TARGET" for every open LUO session fd.
session_fds() {
	local f l
	for f in /proc/[0-9]*/fd/*; do
		l=$(readlink "$f" 2>/dev/null) || continue
		case $l in *luo_session*) f=${f#/proc/}; echo "pid ${f%%/*} $l" ;; esac
	done
}

# expect_no_sessions MESSAGE: no process holds a LUO session fd (waits up to 5 s).
expect_no_sessions() {
	local i=0
	while [ $i -lt 50 ]; do
		[ -z "$(session_fds)" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	session_fds | prefix
	fail check "$1"
}

# luoctl status shows `updates: N`.
expect_updates() {
	run_capture luoctl status || fail check "luoctl status failed"
	echo "$RUN_OUT" | grep -qE "^ *updates: *$1\$" || fail check "luoctl status does not show updates: $1"
}

# --- luoctl load ---------------------------------------------------------------

# count_param NAME TEXT: how many words of TEXT are NAME=... (or the bare NAME).
count_param() { echo "$2" | tr ' ' '\n' | grep -cE "^$1(=|\$)"; }
# param_values NAME TEXT: the values of NAME=... in TEXT, one a line.
param_values() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# status_field KEY: the value of "KEY:" in the last `luoctl status` ($RUN_OUT).
status_field() { echo "$RUN_OUT" | sed -n "s/^$1: *//p" | head -n1; }

# loaded_num KEY: a number in the "loaded" object of `luoctl --json status`
# (size, initrd_size, loaded_at...).
loaded_num() { luoctl --json status | sed -n "s/.*\"loaded\": *{[^}]*\"$1\": *\([0-9]*\).*/\1/p"; }

# expect_nothing_loaded WHAT: /sys/kernel/kexec_loaded is 0 and luoctl
# status shows no kernel.
expect_nothing_loaded() {
	local k
	k=$(cat /sys/kernel/kexec_loaded)
	[ "$k" = 0 ] || fail check "$1: /sys/kernel/kexec_loaded is $k, expected 0"
	run_capture luoctl status || fail check "$1: luoctl status failed"
	[ "$(status_field kernel)" = "not loaded" ] || fail check "$1: luoctl status shows a kernel: $(status_field kernel)"
}

# expect_load_fails WHAT REGEX... -- LOAD-ARGS...: `luoctl load LOAD-ARGS`
# exits 1, its output matches every REGEX (grep -E) and nothing is loaded.
expect_load_fails() {
	local what=$1 rc=0 pats='' p
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		pats="$pats$1
"
		shift
	done
	shift
	run_capture luoctl load "$@" || rc=$?
	[ "$rc" = 1 ] || fail check "$what: luoctl load exited $rc, expected 1"
	echo "$pats" | while IFS= read -r p; do
		[ -z "$p" ] && continue
		echo "$RUN_OUT" | grep -qE -- "$p" || { echo "$p"; break; }
	done >/run/nomatch
	[ -s /run/nomatch ] && fail check "$what: the output of luoctl load does not match /$(cat /run/nomatch)/"
	expect_nothing_loaded "$what"
	say "$what: refused as expected"
}
