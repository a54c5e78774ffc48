# shellcheck shell=bash
# Hostile local peers and faults at the edges: a peer that floods luod, a
# socket directory someone else controls, fd exhaustion, stray signals.

HOSTILE_PY="$(dirname "${BASH_SOURCE[0]}")/hostile.py"
RAW_PY="$(dirname "${BASH_SOURCE[0]}")/raw-client.py"

# as_uid UID CMD...: run CMD as UID (and gid) with no supplementary groups.
as_uid() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

# The checkout may sit where other uids cannot read (/root): the scripts
# other uids run are copied to the world-readable scratch directory.
hostile_bin() {
	mkdir -p "$T/bin"
	cp "$HOSTILE_PY" "$RAW_PY" "$T/bin/"
	chmod -R a+rX "$T/bin"
	# Where they may leave marks (never the socket's directory: $T).
	mkdir -p -m 1777 "$T/marks"
}

# flood_start UID [CONNS]: a peer of UID that pipelines commands without end.
flood_start() {
	hostile_bin
	rm -f "$T/marks/flood.ready"
	as_uid "$1" /usr/bin/python3 "$T/bin/hostile.py" flood --conns "${2:-4}" --ready "$T/marks/flood.ready" \
		</dev/null >>"$T/flood.log" 2>&1 &
	BOOT_PIDS+=("$!")
	FLOOD_PID=$!
	for _ in $(seq 400); do [ -e "$T/marks/flood.ready" ] && return 0; sleep 0.05; done
	fail "the flooder never got replies: $(cat "$T/flood.log")"
}

# wait_gone PID WHAT: wait (generously: only a hang fails) for PID to exit.
wait_gone() {
	for _ in $(seq 1200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "$2"
}

test_flood_does_not_starve_others() {
	luod_start
	flood_start 65534 4
	timeout 60 "$LUOCTL" status >"$T/s.out" 2>&1 || fail "root's status not answered during a flood: $(cat "$T/s.out")"
	timeout 60 setpriv --reuid=65533 --regid=65533 --clear-groups /usr/bin/python3 "$T/bin/raw-client.py" '{"cmd":"VERSION"}' >"$T/v.out" 2>&1 ||
		fail "a new connection was not answered during a flood: $(cat "$T/v.out")"
	grep -q '"ok":true' "$T/v.out" || fail "no VERSION reply: $(cat "$T/v.out")"
	kill -0 "$FLOOD_PID" || fail "the flooder died: $(cat "$T/flood.log")"
}

test_flood_does_not_delay_the_deadline() {
	luod_start
	client slow --size 64K --never-ready preserve
	wait_state slow subscribed
	load_kernel
	kexec --timeout 2 &
	local kpid=$!
	wait_state slow preparing
	flood_start 65534 4
	wait_gone $kpid "the update's deadline did not fire during a flood"
	wait $kpid && fail "kexec succeeded although a client never got ready"
	expect_out "$T/kexec.out" "not ready in time"
	kernel_rebooted && fail "rebooted"
	kill -0 "$LUOD_PID" || fail "luod died"
}

test_flood_does_not_delay_sigterm() {
	luod_start
	flood_start 65534 4
	kill -TERM "$LUOD_PID"
	wait_gone "$LUOD_PID" "luod did not stop on SIGTERM during a flood"
	wait "$LUOD_PID" || fail "luod exited with $? on SIGTERM"
}

test_sighup_does_not_stop_an_update() {
	luod_start
	client slow --size 64K --never-ready preserve
	wait_state slow subscribed
	load_kernel
	kexec --timeout 60 &
	local kpid=$!
	wait_state slow preparing
	kill -HUP "$LUOD_PID"
	kill -USR1 "$LUOD_PID"
	kill -USR2 "$LUOD_PID"
	luoctl status >"$T/s.out" 2>&1 || fail "luod does not answer after SIGHUP: $(cat "$T/s.out")"
	kill -0 "$LUOD_PID" || fail "luod died of a signal"
	expect_out "$T/s.out" "preparing"
	expect_out "$T/luod.1.log" "SIGHUP"
	luoctl abort --reason "after the hangup" || fail "abort failed"
	wait $kpid && fail "kexec succeeded after abort"
	expect_out "$T/kexec.out" "after the hangup"
	wait_state slow subscribed
	expect_out "$T/client.slow.1.log" "aborted"
	kill -0 "$LUOD_PID" || fail "luod died"
}
