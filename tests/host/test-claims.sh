# shellcheck shell=bash
# Client ids, the README-only client, aborts racing READY, and sessions a
# restarted luod lost (issue 7).
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
