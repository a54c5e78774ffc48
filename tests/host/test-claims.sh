# shellcheck shell=bash
# Client ids, the README-only client, aborts racing READY, and sessions a
# restarted luod lost (issue 7).
RAW="python3 $(dirname "${BASH_SOURCE[0]}")/raw-client.py"
README_CLIENT="python3 $(dirname "${BASH_SOURCE[0]}")/readme-client.py"

# readme_client ARGS...: the README-only client in the background, logged.
readme_client() {
	LD_PRELOAD=$PRELOAD $README_CLIENT "$@" </dev/null >>"$T/readme.$BOOT.log" 2>&1 &
	CLIENT_PID[readme]=$!
	BOOT_PIDS+=("$!")
}

# session_state ID: the state `luoctl list` shows for a carried-over session.
session_state() {
	luoctl --json list 2>/dev/null | python3 -c 'import json,sys
print(next((c["state"] for c in json.load(sys.stdin)["sessions"] if c["id"]==sys.argv[1]), "absent"))' "$1"
}

wait_log() {
	for _ in $(seq 200); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	fail "expected '$2' in $1: $(cat "$1" 2>/dev/null)"
}

test_readme_client_chained_updates() {
	local gen
	luod_start
	readme_client --id rc --preserve 1
	wait_state rc subscribed
	load_kernel
	kexec || fail "kexec 1 failed: $(cat "$T/kexec.out")"
	for gen in 2 3 4; do
		reboot_done
		# Claim, retrieve, FINISH, disconnect without DONE; then subscribe again.
		on $README_CLIENT --id rc --claim $((gen - 1)) >>"$T/readme.$BOOT.log" 2>&1 ||
			fail "claim of generation $((gen - 1)): $(cat "$T/readme.$BOOT.log")"
		[ "$(session_state rc)" = left ] || fail "a claimed session left without DONE is not 'left': $(luoctl list)"
		readme_client --id rc --preserve "$gen"
		wait_state rc subscribed
		load_kernel
		kexec || fail "kexec $gen (no --force) failed: $(cat "$T/kexec.out")"
	done
	reboot_done
	on $README_CLIENT --id rc --claim 4 >>"$T/readme.$BOOT.log" 2>&1 || fail "last claim: $(cat "$T/readme.$BOOT.log")"
	[ "$(luoctl --json status | json_get updates)" = 4 ] || fail "not 4 updates: $(luoctl status)"
}

# A client that sends READY after the update was aborted, without reading
# the ABORTED event first, learns what happened.
test_ready_after_abort_says_canceled() {
	luod_start
	readme_client --id late --preserve 1 --ready-after "$T/go"
	wait_state late subscribed
	load_kernel
	kexec --timeout 60 &
	local kpid=$!
	wait_log "$T/readme.1.log" "preserved generation 1"
	luoctl abort --reason "change window closed" || fail "abort failed"
	wait $kpid && fail "kexec succeeded after the abort"
	touch "$T/go"
	wait_log "$T/readme.1.log" "READY answered"
	expect_out "$T/readme.1.log" ECANCELED
	expect_out "$T/readme.1.log" "live update 1 was aborted: aborted by the administrator: change window closed"
	# FAIL after the abort is told the same.
	$RAW '{"cmd":"SUBSCRIBE","id":"f"}' '{"cmd":"FAIL"}' | grep -q EPROTO || fail "FAIL without an update not EPROTO"
}

# luo-demo is in the middle of preserving when the update is aborted: its
# READY comes late; it stays subscribed and takes part in the next update.
test_demo_ready_races_abort() {
	luod_start
	touch "$T/gate"
	LUO_FAKE_PRESERVE_GATE=$T/gate client a --size 64K --seed 4 preserve
	wait_state a subscribed
	load_kernel
	kexec --timeout 60 &
	local kpid=$!
	for _ in $(seq 200); do [ -e "$T/gate.waiting" ] && break; sleep 0.05; done
	[ -e "$T/gate.waiting" ] || fail "luo-demo never reached PRESERVE_FD"
	luoctl abort --reason "not now" || fail "abort failed"
	wait $kpid && fail "kexec succeeded after the abort"
	rm "$T/gate"
	wait_log "$T/client.a.1.log" "update aborted"
	expect_out "$T/client.a.1.log" "was aborted before luod got READY: live update 1 was aborted: aborted by the administrator: not now"
	kill -0 "${CLIENT_PID[a]}" || fail "luo-demo exited: $(cat "$T/client.a.1.log")"
	wait_state a subscribed
	kexec || fail "the next update failed: $(cat "$T/kexec.out")"
	reboot_done
	on "$DEMO" --id a --size 64K --seed 4 verify >"$T/v.out" 2>&1 || fail "verify: $(cat "$T/v.out")"
}

# Worse: the next update has already started when the late READY of the
# aborted one arrives. It must not count for the new update, whose session
# is still empty.
test_demo_ready_races_abort_and_next_update() {
	luod_start
	touch "$T/gate"
	LUO_FAKE_PRESERVE_GATE=$T/gate client a --size 64K --seed 5 preserve
	wait_state a subscribed
	load_kernel
	kexec --timeout 60 &
	local kpid=$!
	for _ in $(seq 200); do [ -e "$T/gate.waiting" ] && break; sleep 0.05; done
	[ -e "$T/gate.waiting" ] || fail "luo-demo never reached PRESERVE_FD"
	luoctl abort || fail "abort failed"
	wait $kpid && fail "kexec succeeded after the abort"
	kexec --timeout 60 &
	kpid=$!
	wait_state a preparing
	rm "$T/gate"
	wait $kpid || fail "the second update failed: $(cat "$T/kexec.out")"
	# The late READY was refused, not taken for the new update's.
	expect_out "$T/client.a.1.log" "update 1 was aborted before luod got READY: live update 1 was aborted"
	reboot_done
	on "$DEMO" --id a --size 64K --seed 5 verify >"$T/v.out" 2>&1 || fail "verify: $(cat "$T/v.out")"
}
