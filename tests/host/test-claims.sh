# shellcheck shell=bash
# Client ids, the README-only client, aborts racing READY, and sessions a
# restarted luod lost (issue 7).
CLAIMS_DIR=$(dirname "${BASH_SOURCE[0]}")
RAW="python3 $CLAIMS_DIR/raw-client.py"
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
		expect_out "$T/kexec.out" "this update drops (claimed without DONE, or forced): rc"
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

# Copies of what other uids run: the checkout may be unreadable to them.
other_uids() {
	BIN=$T/bin
	mkdir -p "$BIN"
	cp "$LUOCTL" "$DEMO" "$PRELOAD" "$BUILD"/src/client/libluo-client.so* "$CLAIMS_DIR/raw-client.py" "$BIN"/
	chmod -R a+rX "$BIN"
}
# as UID CMD...: run CMD as UID (and gid UID).
as() {
	local u=$1
	shift
	env LD_LIBRARY_PATH="$BIN" setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}
raw_as() {
	local u=$1
	shift
	as "$u" /usr/bin/python3 "$BIN/raw-client.py" "$@"
}
demo_as() {
	local u=$1
	shift
	LD_PRELOAD=$BIN/$(basename "$PRELOAD") as "$u" "$BIN/luo-demo" "$@"
}

# A root service restarts (or is between CLAIM and SUBSCRIBE after the
# update): another uid cannot take its id meanwhile.
test_id_squat_during_reconnect_refused() {
	other_uids
	luod_start
	client db --size 64K --seed 21 preserve
	wait_state db subscribed
	kill -9 "${CLIENT_PID[db]}"
	wait_state db absent
	raw_as 65534 '{"cmd":"SUBSCRIBE","id":"db"}' >"$T/squat.out"
	expect_out "$T/squat.out" EPERM
	expect_out "$T/squat.out" "belongs to uid 0"
	client db --size 64K --seed 21 preserve
	wait_state db subscribed
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	raw_as 65534 '{"cmd":"SUBSCRIBE","id":"db"}' | grep -q EPERM || fail "squat of a carried id accepted"
	# The claim names the owner; a claimer that leaves without DONE can come back.
	$RAW '{"cmd":"CLAIM","id":"db"}' >"$T/claim.out"
	expect_out "$T/claim.out" '"uid":0'
	on "$DEMO" --id db --size 64K --seed 21 verify >"$T/v.out" 2>&1 || fail "root's data: $(cat "$T/v.out")"
	# Done: no session carries the id any more, the saved binding still does.
	raw_as 65534 '{"cmd":"SUBSCRIBE","id":"db"}' >"$T/squat.out"
	expect_out "$T/squat.out" EPERM
	expect_out "$T/squat.out" "belongs to uid 0"
}

# Root may claim another uid's session, and is told whose it is; luo-demo
# refuses data that is not its own; root cannot subscribe that id.
test_claim_reply_names_owner() {
	other_uids
	luod_start
	demo_as 65534 --id u --size 64K --seed 3 preserve </dev/null >"$T/u.log" 2>&1 &
	BOOT_PIDS+=("$!")
	wait_state u subscribed
	$RAW '{"cmd":"SUBSCRIBE","id":"u"}' >"$T/s.out"
	expect_out "$T/s.out" EPERM
	expect_out "$T/s.out" "belongs to uid 65534"
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	$RAW '{"cmd":"CLAIM","id":"u"}' | grep -q '"uid":65534' || fail "root's claim does not name the owner"
	on "$DEMO" --id u --size 64K --seed 3 verify >"$T/v.out" 2>&1 && fail "luo-demo used another uid's data"
	expect_out "$T/v.out" "belongs to uid 65534"
	[ "$(session_state u)" = unclaimed ] || fail "root's look made the session '$(session_state u)'"
	demo_as 65534 --id u --size 64K --seed 3 verify >"$T/v.out" 2>&1 || fail "owner: $(cat "$T/v.out")"
}

test_reservations() {
	other_uids
	luod_start
	as 65534 "$BIN/luoctl" reserve x --uid 65534 >"$T/r.out" 2>&1 && fail "non-root reserve accepted"
	expect_out "$T/r.out" EPERM
	luoctl reserve svc --uid 65534 >/dev/null || fail "reserve failed"
	luoctl reserve svc --uid 65534 >/dev/null || fail "reserve again for the same uid failed"
	luoctl ids | grep -Eq "^svc +65534 +true" || fail "luoctl ids does not show the reservation: $(luoctl ids)"
	$RAW '{"cmd":"SUBSCRIBE","id":"svc"}' | grep -q EPERM || fail "root subscribed a reserved id"
	raw_as 65533 '{"cmd":"SUBSCRIBE","id":"svc"}' | grep -q "belongs to uid 65534" || fail "another uid subscribed"
	luoctl reserve svc --uid 65533 >"$T/r.out" 2>&1 && fail "reserve for a second uid accepted"
	expect_out "$T/r.out" EEXIST
	# The subscriber holds on until the test has seen the refusal (a fixed
	# hold could run out first on a loaded machine).
	raw_as 65534 '{"cmd":"SUBSCRIBE","id":"svc"}' --hold 120 >"$T/h.out" &
	local hpid=$!
	wait_state svc subscribed
	luoctl unreserve svc >"$T/r.out" 2>&1 && fail "unreserve of a subscribed id accepted"
	expect_out "$T/r.out" EBUSY
	pkill -u 65534 -f raw-client.py
	wait $hpid
	wait_state svc absent
	luoctl unreserve svc >/dev/null || fail "unreserve failed"
	luoctl unreserve svc >"$T/r.out" 2>&1 && fail "second unreserve accepted"
	expect_out "$T/r.out" ENOENT
	raw_as 65533 '{"cmd":"SUBSCRIBE","id":"svc"}' | grep -q '"ok":true' || fail "a freed id cannot be subscribed"
	luoctl ids | grep -Eq "^svc +65533 +false" || fail "luoctl ids does not show the binding: $(luoctl ids)"
	luoctl reserve 'bad id' --uid 1 >/dev/null 2>&1
	[ $? = 2 ] || fail "bad id not a usage error"
	local bad
	for bad in '-1' '"7"' 4294967295 1.5; do
		$RAW '{"cmd":"RESERVE","id":"a","uid":'"$bad"'}' | grep -q EINVAL || fail "uid $bad accepted"
	done
	$RAW '{"cmd":"RESERVE","id":"a"}' | grep -q EINVAL || fail "RESERVE without uid accepted"
	# A reservation is saved across the update.
	luoctl reserve keep --uid 65534 >/dev/null || fail "reserve failed"
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	$RAW '{"cmd":"SUBSCRIBE","id":"keep"}' | grep -q "belongs to uid 65534" || fail "reservation lost in the update"
	raw_as 65534 '{"cmd":"SUBSCRIBE","id":"keep"}' | grep -q '"ok":true' || fail "owner refused after the update"
	raw_as 65533 '{"cmd":"SUBSCRIBE","id":"svc"}' | grep -q '"ok":true' || fail "first-subscribe binding lost"
	$RAW '{"cmd":"SUBSCRIBE","id":"svc"}' | grep -q "belongs to uid 65533" || fail "first-subscribe binding lost"
}

test_binding_limits() {
	other_uids
	luod_start
	cat >"$T/bulk.py" <<'PY'
import json, os, socket, sys
cmd, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
last = None
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.environ["LUOD_SOCKET"])
    m = {"cmd": cmd, "id": "%s%d" % (prefix, i)}
    if cmd == "RESERVE":
        m["uid"] = 4242
    s.sendall(json.dumps(m).encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        buf += s.recv(4096)
    last = json.loads(buf.split(b"\n")[0])
    s.close()
    if not last["ok"]:
        print(i, json.dumps(last))
        sys.exit(1)
print("all", n)
PY
	chmod a+r "$T/bulk.py"
	as 65534 /usr/bin/python3 "$T/bulk.py" SUBSCRIBE u 64 >"$T/b.out" || fail "64 ids of one uid: $(cat "$T/b.out")"
	as 65534 /usr/bin/python3 "$T/bulk.py" SUBSCRIBE v 1 >"$T/b.out" && fail "a 65th id of one uid was bound"
	expect_out "$T/b.out" ENOSPC
	expect_out "$T/b.out" "uid 65534 has bound 64 client ids"
	# Another uid is not affected; the total is bounded too.
	as 65533 /usr/bin/python3 "$T/bulk.py" SUBSCRIBE w 1 >"$T/b.out" || fail "other uid: $(cat "$T/b.out")"
	python3 "$T/bulk.py" RESERVE r $((1024 - 65)) >"$T/b.out" || fail "reserving up to the total: $(cat "$T/b.out")"
	[ "$(luoctl --json status | json_get bindings)" = 1024 ] || fail "status does not count 1024 bindings"
	python3 "$T/bulk.py" RESERVE s 1 >"$T/b.out" && fail "a binding over the total was made"
	expect_out "$T/b.out" ENOSPC
	$RAW '{"cmd":"SUBSCRIBE","id":"root-too"}' | grep -q ENOSPC || fail "root's subscribe over the total was bound"
	luoctl unreserve r0 >/dev/null || fail "unreserve failed"
	$RAW '{"cmd":"SUBSCRIBE","id":"root-too"}' | grep -q '"ok":true' || fail "a freed slot cannot be used"
}

# luod restarted without the service manager after an update: the sessions
# it held are gone (nothing can keep them), but it says so, loudly.
test_restart_without_fd_store_reports_lost() {
	luod_start
	client a --size 64K --seed 1 preserve
	client b --size 64K --seed 2 preserve
	wait_state a subscribed
	wait_state b subscribed
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	on "$DEMO" --id b --size 64K --seed 2 verify >"$T/v.out" 2>&1 || fail "b: $(cat "$T/v.out")"
	kill -9 "$LUOD_PID"
	wait "$LUOD_PID" 2>/dev/null
	luod_start
	grep -q '^<2>luod was restarted without .*fd store: 1 session(s) of live update 1 are lost.*a (luod\.a\.[0-9]*, uid 0)' \
		"$T/luod.$BOOT.log" || fail "no critical log line naming a's lost session: $(cat "$T/luod.$BOOT.log")"
	grep -q "lost.*b (" "$T/luod.$BOOT.log" && fail "b (done) reported lost"
	[ "$(luoctl --json status | json_get lost.0.id)" = a ] || fail "status does not list a as lost: $(luoctl --json status)"
	[ "$(luoctl --json status | json_get lost.0.update)" = 1 ] || fail "status does not name update 1"
	[ "$(luoctl --json status | json_get updates)" = 1 ] || fail "the update count was lost"
	luoctl status 2>&1 | grep -q "lost" || fail "luoctl status does not say it: $(luoctl status 2>&1)"
	luoctl list | grep -q "LOST" || fail "luoctl list does not say it: $(luoctl list)"
	# Another restart still reports it, until an administrator acknowledges.
	kill -9 "$LUOD_PID"
	wait "$LUOD_PID" 2>/dev/null
	luod_start
	[ "$(luoctl --json status | json_get lost.0.id)" = a ] || fail "a second restart forgot: $(luoctl --json status)"
	luoctl release a >/dev/null || fail "acknowledging failed"
	[ "$(luoctl --json status | json_get lost)" = "[]" ] || fail "still lost after release: $(luoctl --json status)"
	# The next update needs no --force, and the lineage goes on.
	client a --size 64K --seed 1 preserve
	wait_state a subscribed
	load_kernel
	kexec || fail "kexec after the loss failed: $(cat "$T/kexec.out")"
	reboot_done
	[ "$(luoctl --json status | json_get updates)" = 2 ] || fail "updates: $(luoctl --json status)"
	[ "$(luoctl --json status | json_get lost)" = "[]" ] || fail "lost after the next update"
}

# The same with the C client of the VM tier (no library, no DONE).
test_readme_c_client_chained_updates() {
	local rc=$BUILD/tests/fake/luo-readme-client gen
	luod_start
	LD_PRELOAD=$PRELOAD "$rc" --id crc --gen 1 --size 65536 --socket "$LUOD_SOCKET" </dev/null >>"$T/rc.log" 2>&1 &
	BOOT_PIDS+=("$!")
	wait_state crc subscribed
	load_kernel
	kexec || fail "kexec 1 failed: $(cat "$T/kexec.out")"
	for gen in 2 3 4; do
		reboot_done
		LD_PRELOAD=$PRELOAD "$rc" --id crc --gen $gen --claim --size 65536 --socket "$LUOD_SOCKET" \
			</dev/null >>"$T/rc.log" 2>&1 &
		BOOT_PIDS+=("$!")
		wait_log "$T/rc.log" "verified generation $((gen - 1))"
		wait_state crc subscribed
		[ "$(session_state crc)" = left ] || fail "the claimed session is '$(session_state crc)'"
		load_kernel
		kexec || fail "kexec $gen (no --force) failed: $(cat "$T/kexec.out")"
	done
	expect_out "$T/kexec.out" "reboot"
}
