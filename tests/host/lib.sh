# shellcheck shell=bash
# The host test tier's "machine": a fake kernel (tests/fake) stands in for
# /dev/liveupdate, kexec_file_load and reboot; the real luod, luoctl and
# luo-demo run against it over the real socket. A simulated reboot kills
# every process of the old boot and starts luod again.
#
# Each test is a function test_NAME in a tests/host/*.sh file; run.sh runs
# each one in a fresh machine and prints TAP.

BUILD=${BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
LUOD=$BUILD/src/daemon/luod
LUOCTL=$BUILD/src/ctl/luoctl
DEMO=$BUILD/src/demo/luo-demo
# The test double is always taken from an uninstrumented build when given.
FAKE=${FAKE:-$BUILD/tests/fake/luo-fake-kernel}
PRELOAD=${PRELOAD:-$(ls "$BUILD"/tests/fake/*luo-fake-preload*.so 2>/dev/null | head -n1)}

T=                # this test's scratch directory
BOOT=1
BOOT_PIDS=()      # processes of the current boot, killed by the reboot
FAKE_PID=
LUOD_PID=
declare -A CLIENT_PID
# LUOD_VALGRIND=1 runs every luod under valgrind's memcheck; machine_stop
# fails the test on any error or definite leak it reports.
LUOD_WRAP=()

fail() {
	echo "# FAIL: $*"
	exit 1
}
note() { echo "# $*"; }

machine_start() {
	T=$(mktemp -d /tmp/luo-host.XXXXXX)
	export LUO_FAKE_SOCKET=$T/kernel.sock
	export LUOD_SOCKET=$T/luod.sock
	if [ -n "${LUOD_VALGRIND:-}" ]; then
		LUOD_WRAP=(valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
			"--log-file=$T/valgrind.%p")
	fi
	"$FAKE" --socket "$LUO_FAKE_SOCKET" </dev/null >"$T/kernel.log" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 100); do [ -S "$LUO_FAKE_SOCKET" ] && break; sleep 0.05; done
	[ -S "$LUO_FAKE_SOCKET" ] || fail "the fake kernel did not start: $(cat "$T/kernel.log")"
	# Every uid may reach the "kernel", as every process may call ioctl().
	chmod 755 "$T"
	chmod 666 "$LUO_FAKE_SOCKET"
}

any_alive() {
	local p
	for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}

machine_stop() {
	local p vg bad= tries=4
	# TERM first, so that a supervisor (fake-systemd.py) stops its luod too;
	# give everyone a moment (valgrind more) to exit on its own.
	[ -n "${LUOD_VALGRIND:-}" ] && tries=200
	for p in "${BOOT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	while [ $tries -gt 0 ] && any_alive "${BOOT_PIDS[@]}"; do
		sleep 0.05
		tries=$((tries - 1))
	done
	for p in "${BOOT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	wait 2>/dev/null
	for vg in "$T"/valgrind.*; do
		[ -f "$vg" ] || continue
		if grep -qE 'Invalid (read|write|free)|uninitialised|Mismatched|Syscall param|definitely lost: [1-9]|are definitely lost|ERROR SUMMARY: [1-9]' "$vg"; then
			echo "# FAIL: valgrind found errors in luod ($vg):"
			sed 's/^/# /' "$vg" | head -n 60
			bad=1
		fi
	done
	if [ -n "${KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
	[ -z "$bad" ] || exit 1
}

# Run a program "on the machine": with the fake kernel preloaded.
on() { LD_PRELOAD=$PRELOAD "$@"; }

fakectl() { "$FAKE" ctl --socket "$LUO_FAKE_SOCKET" "$@"; }

luoctl() { "$LUOCTL" "$@"; }

# journal_stream FILE: the $JOURNAL_STREAM that makes FILE luod's "journal":
# luod's log lines then carry their <N> priority prefixes, which the tests
# check. (Without it, as on a terminal, they carry none: test-fleet.sh.)
journal_stream() {
	touch "$1"
	stat -c %d:%i "$1"
}

luod_start() {
	# Not through on(): a backgrounded function would be a subshell, and $!
	# must be luod itself.
	JOURNAL_STREAM=$(journal_stream "$T/luod.$BOOT.log") LD_PRELOAD=$PRELOAD "${LUOD_WRAP[@]}" "$LUOD" -v "$@" \
		</dev/null >/dev/null 2>>"$T/luod.$BOOT.log" &
	LUOD_PID=$!
	BOOT_PIDS+=("$LUOD_PID")
	for _ in $(seq 200); do
		luoctl status >/dev/null 2>&1 && return 0
		kill -0 "$LUOD_PID" 2>/dev/null || fail "luod exited: $(cat "$T/luod.$BOOT.log")"
		sleep 0.05
	done
	fail "luod does not answer"
}

# client NAME ARGS...: start luo-demo in the background as client NAME.
client() {
	local id=$1
	shift
	LD_PRELOAD=$PRELOAD "$DEMO" --id "$id" "$@" </dev/null >>"$T/client.$id.$BOOT.log" 2>&1 &
	CLIENT_PID[$id]=$!
	BOOT_PIDS+=("$!")
}

# jq-like: print the member PATH of luoctl's JSON (e.g. "clients.0.state").
json_get() {
	python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v.get(k)
print(json.dumps(v) if isinstance(v,(dict,list)) or v is None else v)' "$1"
}

# client_state ID: the state `luoctl list` shows for a subscribed client.
client_state() {
	luoctl --json list 2>/dev/null | python3 -c 'import json,sys
print(next((c["state"] for c in json.load(sys.stdin)["clients"] if c["id"]==sys.argv[1]), "absent"))' "$1"
}

# wait_state ID STATE: until `luoctl list` shows the client in STATE.
wait_state() {
	for _ in $(seq 200); do
		[ "$(client_state "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	luoctl list
	fail "client $1 never reached state $2"
}

# Stage a "kernel": a file with a valid x86 boot header (luod checks it).
load_kernel() {
	python3 "$(dirname "${BASH_SOURCE[0]}")/make-bzimage.py" "$T/bzImage"
	luoctl load "$T/bzImage" --cmdline "console=ttyS0 liveupdate=on kho=on" >/dev/null ||
		fail "luoctl load failed"
}

# kexec ARGS...: run luoctl kexec, output in $T/kexec.out, returns its status.
kexec() {
	luoctl kexec "$@" >"$T/kexec.out" 2>&1
}

# luod under a stand-in for systemd (fd store, restarts); $T/luod.pid
# names the running luod.
luod_start_supervised() {
	python3 "$(dirname "${BASH_SOURCE[0]}")/fake-systemd.py" --notify "$T/notify.sock" --log "$T/systemd.log" \
		--pidfile "$T/luod.pid" -- env JOURNAL_STREAM="$(journal_stream "$T/luod.$BOOT.log")" LD_PRELOAD="$PRELOAD" "${LUOD_WRAP[@]}" "$LUOD" -v </dev/null >/dev/null 2>>"$T/luod.$BOOT.log" &
	BOOT_PIDS+=("$!")
	wait_luod
}

wait_luod() {
	for _ in $(seq 200); do
		luoctl status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "luod does not answer: $(cat "$T/luod.$BOOT.log")"
}

# After a successful kexec: the old boot's processes die, luod starts again
# (with the function named by $1, luod_start by default).
reboot_done() {
	local p
	for _ in $(seq 100); do kill -0 "$LUOD_PID" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$LUOD_PID" 2>/dev/null && fail "luod still runs after a successful kexec"
	for p in "${BOOT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait "${BOOT_PIDS[@]}" 2>/dev/null
	BOOT_PIDS=()
	kernel_rebooted || fail "the fake kernel did not reboot: $(cat "$T/kernel.log")"
	BOOT=$((BOOT + 1))
	"${1:-luod_start}"
}

# Has the fake kernel left our boot? (Its boots count from 0, ours from 1.)
kernel_rebooted() { grep -q "^fake-kernel: boot $BOOT\$" "$T/kernel.log"; }

# Number of sessions the fake kernel has, of a kind (outgoing|incoming).
sessions() { fakectl status | grep -c "^$1 " || true; }

expect_out() { grep -q -- "$2" "$1" || fail "expected '$2' in $1: $(cat "$1")"; }

# eventually 'SHELL CONDITION': true once the condition holds, false if it
# still does not after 10 s. For what a peer does asynchronously: never sleep
# and look once.
eventually() {
	for _ in $(seq 200); do
		eval "$1" && return 0
		sleep 0.05
	done
	return 1
}

# wait_out FILE PATTERN: like expect_out, for output still being written.
wait_out() {
	eventually "grep -q -- $(printf %q "$2") $(printf %q "$1") 2>/dev/null" ||
		fail "expected '$2' in $1: $(cat "$1" 2>&1)"
}
