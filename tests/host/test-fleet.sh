# shellcheck shell=bash
# luoctl for operators and fleets (issue 11): one JSON document on stdout
# also on failure, help, kexec(8)'s option names, load --if-changed, kexec
# --require / --require-all-sessions / --no-wait, wait, and luod's log
# prefixes only under the journal.
FLEET_DIR=$(dirname "${BASH_SOURCE[0]}")

# json_failure FILE ERRNAME EXIT: FILE holds exactly one JSON document, a
# failure with that errname (and that "exit", unless EXIT is "-").
json_failure() {
	python3 - "$@" <<'EOF' || fail "not one JSON failure document ($2, exit $3): $(cat "$1")"
import json, sys
text = open(sys.argv[1]).read()
doc = json.loads(text)  # raises on nothing, or on a second document
assert text.strip().count("\n") == 0, "more than one line"
assert doc["ok"] is False, doc
assert isinstance(doc["errno"], int) and doc["errno"] > 0, doc
assert doc["errname"] == sys.argv[2], doc
assert isinstance(doc["error"], str) and doc["error"], doc
assert sys.argv[3] == "-" or doc.get("exit") == int(sys.argv[3]), doc
EOF
}

# jrun EXPECTED_STATUS ARGS...: luoctl --json ARGS, stdout in $T/j.out.
jrun() {
	local want=$1 rc
	shift
	luoctl --json "$@" >"$T/j.out" 2>"$T/j.err"
	rc=$?
	[ "$rc" = "$want" ] || fail "luoctl --json $* exited $rc, not $want: $(cat "$T/j.out" "$T/j.err")"
}

test_json_failure_when_luod_is_not_running() {
	local cmd
	# No luod: every command that talks to it says so in one JSON document.
	for cmd in status list check unload kexec abort "release a" "reserve a --uid 1" "unreserve a" ids \
		"load $FLEET_DIR/lib.sh"; do
		# shellcheck disable=SC2086
		jrun 3 $cmd
		json_failure "$T/j.out" ENOENT 3
		grep -q "cannot reach luod" "$T/j.out" || fail "$cmd: the error does not say why: $(cat "$T/j.out")"
	done
	jrun 3 wait --subscribed a --timeout 0
	json_failure "$T/j.out" ENOENT 3
	# A socket nobody listens on.
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/dead.sock"
	luoctl --socket "$T/dead.sock" --json status >"$T/j.out" 2>/dev/null
	[ $? = 3 ] || fail "status on a dead socket did not exit 3"
	json_failure "$T/j.out" ECONNREFUSED 3
	# Usage errors, --json before or after the command.
	jrun 2 bogus
	json_failure "$T/j.out" EINVAL 2
	jrun 2 status --bogus
	json_failure "$T/j.out" EINVAL 2
	jrun 2 help nosuch
	json_failure "$T/j.out" EINVAL 2
	jrun 2 kexec --require 'bad id'
	json_failure "$T/j.out" EINVAL 2
	jrun 2 wait --timeout 1
	json_failure "$T/j.out" EINVAL 2
	luoctl kexec --timeout 0 --json >"$T/j.out" 2>/dev/null
	json_failure "$T/j.out" EINVAL 2
	jrun 1 load /nonexistent/vmlinuz
	json_failure "$T/j.out" ENOENT 1
	# Not a failure: version says luod is not reachable, in its own document.
	jrun 0 version
	[ "$(json_get luod <"$T/j.out")" = null ] || fail "version: $(cat "$T/j.out")"
}

test_json_failure_when_luod_refuses() {
	luod_start
	jrun 1 release nosuch
	json_failure "$T/j.out" ENOENT 1
	jrun 1 abort
	json_failure "$T/j.out" ENOENT 1
	jrun 1 unreserve nosuch
	json_failure "$T/j.out" ENOENT 1
	# kexec refused: its one line is luod's refusal.
	jrun 1 kexec
	json_failure "$T/j.out" ENOEXEC -
	jrun 1 kexec --require nobody
	json_failure "$T/j.out" ESRCH -
	# check's own document carries the failure.
	jrun 1 check
	json_failure "$T/j.out" EAGAIN -
	[ "$(json_get ready <"$T/j.out")" = False ] || fail "check: $(cat "$T/j.out")"
	jrun 4 wait --subscribed nobody --timeout 1
	json_failure "$T/j.out" ETIMEDOUT 4
	[ "$(json_get not_subscribed <"$T/j.out")" = '["nobody"]' ] || fail "wait: $(cat "$T/j.out")"
	# Not root: luod refuses with EPERM.
	if command -v setpriv >/dev/null; then
		chmod 755 "$T"
		setpriv --reuid=65534 --regid=65534 --clear-groups "$LUOCTL" --json unload >"$T/j.out" 2>/dev/null
		[ $? = 1 ] || fail "unload as nobody did not exit 1: $(cat "$T/j.out")"
		json_failure "$T/j.out" EPERM 1
	fi
	# Success is unchanged: one document, no "ok": false.
	jrun 0 status
	[ "$(json_get state <"$T/j.out")" = idle ] || fail "status: $(cat "$T/j.out")"
}

test_help_and_kexec_option_names() {
	luoctl help >"$T/help.out" || fail "luoctl help failed"
	for c in status load kexec wait help; do
		grep -q "^  $c " "$T/help.out" || fail "luoctl help does not list $c: $(cat "$T/help.out")"
	done
	luoctl help load >"$T/help.out" || fail "luoctl help load failed"
	expect_out "$T/help.out" "Usage: luoctl .* load KERNEL"
	expect_out "$T/help.out" "--ramdisk"
	expect_out "$T/help.out" "--command-line"
	expect_out "$T/help.out" "--if-changed"
	luoctl help kexec | grep -q -- "--require ID" || fail "luoctl help kexec lacks --require"
	luoctl help nosuch >/dev/null 2>&1
	[ $? = 2 ] || fail "luoctl help of an unknown command is not a usage error"
	luoctl --json help wait >"$T/help.json" || fail "luoctl --json help wait"
	[ "$(json_get commands.0.name <"$T/help.json")" = wait ] || fail "help --json: $(cat "$T/help.json")"
	luoctl --json help | python3 -c 'import json,sys; n=[c["name"] for c in json.load(sys.stdin)["commands"]]
assert "kexec" in n and "wait" in n, n' || fail "help --json does not list the commands"

	# kexec(8)'s names: --ramdisk for --initrd, --command-line for --cmdline.
	luod_start
	python3 "$FLEET_DIR/make-bzimage.py" "$T/bzImage"
	head -c 5000 /dev/urandom >"$T/initrd.img"
	luoctl load "$T/bzImage" --ramdisk "$T/initrd.img" --command-line "console=ttyS0 liveupdate=on kho=on" \
		>"$T/load.out" 2>&1 || fail "load with kexec(8)'s option names: $(cat "$T/load.out")"
	luoctl --json status >"$T/st.json"
	[ "$(json_get loaded.cmdline <"$T/st.json")" = "console=ttyS0 liveupdate=on kho=on" ] ||
		fail "--command-line was not used: $(cat "$T/st.json")"
	[ "$(json_get loaded.initrds.0 <"$T/st.json")" = "$T/initrd.img" ] ||
		fail "--ramdisk was not used: $(cat "$T/st.json")"
	[ "$(json_get loaded.initrd_sha256 <"$T/st.json")" = "[\"$(sha256sum <"$T/initrd.img" | cut -d' ' -f1)\"]" ] ||
		fail "STATUS lacks the initrd's sha256: $(cat "$T/st.json")"
}

test_load_if_changed() {
	local cl="console=ttyS0 liveupdate=on kho=on" n
	luod_start
	python3 "$FLEET_DIR/make-bzimage.py" "$T/bzImage"
	echo one >"$T/i1"
	echo two >"$T/i2"
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i1" --initrd "$T/i2" --cmdline "$cl" >"$T/l.out" 2>&1 ||
		fail "first load: $(cat "$T/l.out")"
	expect_out "$T/l.out" "^loaded:"
	n=$(grep -c "loaded in" "$T/luod.1.log")
	# The same again: nothing is loaded, exit 0, and it says so.
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i1" --initrd "$T/i2" --cmdline "$cl" >"$T/l.out" 2>&1 ||
		fail "second load: $(cat "$T/l.out")"
	expect_out "$T/l.out" "already loaded: the same kernel, initrds and command line"
	[ "$(grep -c "loaded in" "$T/luod.1.log")" = "$n" ] || fail "luod loaded again: $(cat "$T/luod.1.log")"
	luoctl --json load --if-changed "$T/bzImage" --initrd "$T/i1" --initrd "$T/i2" --cmdline "$cl" >"$T/l.json" ||
		fail "json load"
	[ "$(json_get changed <"$T/l.json")" = False ] || fail "not changed: $(cat "$T/l.json")"
	[ "$(json_get sha256 <"$T/l.json")" = "$(sha256sum <"$T/bzImage" | cut -d' ' -f1)" ] ||
		fail "the kernel's hash: $(cat "$T/l.json")"
	# Each difference loads again: command line, initrd content, initrd order, kernel.
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i1" --initrd "$T/i2" --cmdline "$cl quiet" >"$T/l.out" 2>&1
	expect_out "$T/l.out" "loading: the command line differs"
	expect_out "$T/l.out" "^loaded:"
	echo three >"$T/i2"
	luoctl --json load --if-changed "$T/bzImage" --initrd "$T/i1" --initrd "$T/i2" --cmdline "$cl quiet" >"$T/l.json" ||
		fail "load after the initrd changed"
	[ "$(json_get changed <"$T/l.json")" = True ] || fail "a changed initrd was not loaded: $(cat "$T/l.json")"
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i2" --initrd "$T/i1" --cmdline "$cl quiet" >"$T/l.out" 2>&1
	expect_out "$T/l.out" "loading: the initrds differ"
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i2" --cmdline "$cl quiet" >"$T/l.out" 2>&1
	expect_out "$T/l.out" "loading: the initrds differ"
	printf 'x' >>"$T/bzImage"
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i2" --cmdline "$cl quiet" >"$T/l.out" 2>&1
	expect_out "$T/l.out" "loading: the kernel image differs"
	[ "$(grep -c "loaded in" "$T/luod.1.log")" = $((n + 5)) ] || fail "not every change was loaded: $(cat "$T/luod.1.log")"
	# Unloaded behind luod's back: loaded again.
	luoctl unload >/dev/null || fail "unload"
	luoctl load --if-changed "$T/bzImage" --initrd "$T/i2" --cmdline "$cl quiet" >"$T/l.out" 2>&1
	expect_out "$T/l.out" "loading: no kernel was loaded"
	luoctl load --if-changed --dry-run "$T/bzImage" >/dev/null 2>&1
	[ $? = 2 ] || fail "--if-changed with --dry-run is not a usage error"
}

test_kexec_require() {
	luod_start
	client a --size 64K preserve
	wait_state a subscribed
	load_kernel
	# A required client is missing: refused before anything starts.
	kexec --require a --require b && fail "kexec went ahead without b: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "required client b is not subscribed"
	expect_out "$T/kexec.out" "ESRCH"
	kexec --require a,b,c && fail "kexec went ahead without b and c"
	expect_out "$T/kexec.out" "required client b is not subscribed"
	[ "$(luoctl --json status | json_get updates)" = 0 ] || fail "an update was counted"
	[ "$(client_state a)" = subscribed ] || fail "a was asked to preserve: $(luoctl list)"
	grep -q "START_PRESERVATION\|preserving" "$T/client.a.1.log" && fail "a was asked to preserve: $(cat "$T/client.a.1.log")"
	kernel_rebooted && fail "rebooted"
	kexec --require 'bad id' && fail "a bad id was accepted"
	grep -q "not a client id" "$T/kexec.out" || fail "bad id: $(cat "$T/kexec.out")"
	# luod itself checks: a raw KEXEC with a malformed "require" is refused.
	python3 "$FLEET_DIR/raw-client.py" '{"cmd":"KEXEC","require":"a"}' >"$T/raw.out" 2>&1
	grep -Eq '"errno": ?22' "$T/raw.out" || fail "a malformed require was not refused: $(cat "$T/raw.out")"
	# Everyone required is there: the update goes.
	kexec --require a || fail "kexec --require a: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "rebooting into the new kernel"
	reboot_done
	on "$DEMO" --id a --size 64K verify >/dev/null || fail "a's data"
}

test_kexec_require_all_sessions() {
	luod_start
	readme_client --id rc --preserve 1
	wait_state rc subscribed
	load_kernel
	kexec || fail "kexec 1 failed: $(cat "$T/kexec.out")"
	reboot_done
	# Unclaimed: refused either way.
	kexec --require-all-sessions && fail "kexec went ahead with an unclaimed session"
	expect_out "$T/kexec.out" "ENOTEMPTY"
	# Claimed without DONE ("left"): only --require-all-sessions refuses.
	on $README_CLIENT --id rc --claim 1 >>"$T/readme.$BOOT.log" 2>&1 || fail "claim: $(cat "$T/readme.$BOOT.log")"
	[ "$(session_state rc)" = left ] || fail "not left: $(luoctl list)"
	load_kernel
	kexec --require-all-sessions && fail "kexec went ahead with a session left without DONE"
	expect_out "$T/kexec.out" "session of client rc from the previous update is left"
	kernel_rebooted && fail "rebooted"
	luoctl kexec --require-all-sessions --force >/dev/null 2>&1
	[ $? = 2 ] || fail "--require-all-sessions with --force is not a usage error"
	kexec || fail "kexec without --require-all-sessions: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "this update drops"
}

test_kexec_no_wait() {
	luod_start
	client a --size 64K preserve
	wait_state a subscribed
	load_kernel
	luoctl --json kexec --no-wait --require a >"$T/kexec.json" 2>"$T/kexec.err" || fail "kexec --no-wait: $(cat "$T/kexec.*")"
	grep -q '"event": *"REBOOTING"' "$T/kexec.json" || fail "returned before REBOOTING: $(cat "$T/kexec.json")"
	tail -n1 "$T/kexec.json" | grep -q '"event": *"REBOOTING"' || fail "REBOOTING is not the last line"
	reboot_done
	on "$DEMO" --id a --size 64K verify >/dev/null || fail "a's data"
	# An abort still fails it.
	client b --size 64K --never-ready preserve
	wait_state b subscribed
	load_kernel
	kexec --no-wait --timeout 1 && fail "kexec --no-wait succeeded though b never got ready"
	expect_out "$T/kexec.out" "ETIMEDOUT"
	luoctl --json kexec --no-wait --timeout 1 >"$T/kexec.json" 2>/dev/null && fail "succeeded"
	tail -n1 "$T/kexec.json" >"$T/last.json"
	json_failure "$T/last.json" ETIMEDOUT 1
}

test_wait_subscribed_and_claimed() {
	local wpid
	# luod is not up yet: wait waits for it too.
	luoctl wait --subscribed a,b --timeout 20 >"$T/wait.out" 2>&1 &
	wpid=$!
	sleep 0.3
	luod_start
	client a --size 64K preserve
	sleep 0.5
	kill -0 $wpid 2>/dev/null || fail "wait returned with b missing: $(cat "$T/wait.out")"
	client b --size 64K preserve
	wait $wpid || fail "wait failed: $(cat "$T/wait.out")"
	expect_out "$T/wait.out" "client b is subscribed"
	luoctl wait --subscribed a b --timeout 0 >/dev/null || fail "both are subscribed"
	luoctl wait --subscribed a,nobody --timeout 1 >"$T/wait.out" 2>&1
	[ $? = 4 ] || fail "wait for a missing client did not exit 4"
	expect_out "$T/wait.out" "not subscribed: nobody"
	luoctl wait --claimed --timeout 0 >/dev/null || fail "nothing is carried: --claimed holds"
	luoctl wait --timeout 1 >/dev/null 2>&1
	[ $? = 2 ] || fail "wait for nothing is not a usage error"
	load_kernel
	kexec || fail "kexec: $(cat "$T/kexec.out")"
	reboot_done
	luoctl wait --claimed --timeout 1 >"$T/wait.out" 2>&1
	[ $? = 4 ] || fail "--claimed with unclaimed sessions did not exit 4"
	expect_out "$T/wait.out" "unclaimed sessions: a, b\|unclaimed sessions: b, a"
	luoctl wait --claimed --timeout 20 >"$T/wait.out" 2>&1 &
	wpid=$!
	on "$DEMO" --id a --size 64K verify >/dev/null || fail "a's data"
	sleep 0.5
	kill -0 $wpid 2>/dev/null || fail "wait returned with b unclaimed: $(cat "$T/wait.out")"
	on "$DEMO" --id b --size 64K verify >/dev/null || fail "b's data"
	wait $wpid || fail "wait --claimed failed: $(cat "$T/wait.out")"
	luoctl --json wait --claimed --timeout 0 >"$T/wait.json" || fail "json wait"
	[ "$(json_get ok <"$T/wait.json")" = True ] || fail "wait json: $(cat "$T/wait.json")"
}

test_log_prefix_only_under_journal() {
	# stderr a file, no $JOURNAL_STREAM: plain lines.
	LD_PRELOAD=$PRELOAD "${LUOD_WRAP[@]}" "$LUOD" -v </dev/null >/dev/null 2>"$T/plain.log" &
	LUOD_PID=$!
	BOOT_PIDS+=("$LUOD_PID")
	wait_luod
	kill -TERM "$LUOD_PID"
	wait "$LUOD_PID"
	grep -q "luod.*listening\|socket\|started" "$T/plain.log" || fail "no log: $(cat "$T/plain.log")"
	grep -q '^<[0-9]>' "$T/plain.log" && fail "a prefix without the journal: $(cat "$T/plain.log")"
	# $JOURNAL_STREAM inherited, but stderr redirected elsewhere: plain lines.
	JOURNAL_STREAM=$(journal_stream "$T/other") LD_PRELOAD=$PRELOAD "${LUOD_WRAP[@]}" "$LUOD" -v \
		</dev/null >/dev/null 2>"$T/plain2.log" &
	LUOD_PID=$!
	BOOT_PIDS+=("$LUOD_PID")
	wait_luod
	kill -TERM "$LUOD_PID"
	wait "$LUOD_PID"
	[ -s "$T/plain2.log" ] || fail "no log"
	grep -q '^<[0-9]>' "$T/plain2.log" && fail "a prefix with stderr not the journal: $(cat "$T/plain2.log")"
	# stderr is the journal's stream: prefixed lines.
	luod_start
	grep -q '^<[0-9]>' "$T/luod.1.log" || fail "no prefix under the journal: $(cat "$T/luod.1.log")"
	grep -qv '^<[0-9]>' "$T/luod.1.log" && fail "a line without prefix under the journal: $(cat "$T/luod.1.log")"
	true
}

# A boot of the machine in the Ansible test: luod, and client a that claims
# its session (checking every byte) and subscribes again.
fleet_boot() {
	luod_start
	client a --size 64K --seed 3 run
	wait_state a subscribed
}

# ansible_rollout NAME EXTRA_VARS_JSON: run contrib/ansible/rolling-kernel.yml
# over two inventory hosts that are both this machine (connection: local),
# serving the test double's reboots meanwhile. Output in $T/NAME.out.
ansible_rollout() {
	local apid rc
	cat >"$T/inventory" <<INV
[luo]
host1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3
host2 ansible_connection=local ansible_python_interpreter=/usr/bin/python3
INV
	python3 - "$2" >"$T/vars.json" <<PY
import json, sys
v = {"luoctl": "$LUOCTL", "luo_kernel": "$T/bzImage", "luo_initrds": ["$T/initrd.img"],
     "luo_cmdline_args": ["--cmdline", "console=ttyS0 liveupdate=on kho=on"],
     "luo_required_clients": ["a"], "luo_become": False, "luo_reboot_delay": 0,
     "luo_reboot_timeout": 60, "luo_claim_timeout": 30, "luo_env": {"LUOD_SOCKET": "$LUOD_SOCKET"}}
v.update(json.loads(sys.argv[1]))
print(json.dumps(v))
PY
	ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=$T/ansible-tmp ANSIBLE_REMOTE_TEMP=$T/ansible-tmp ANSIBLE_HOME=$T/ansible \
		ANSIBLE_RETRY_FILES_ENABLED=0 ansible-playbook -i "$T/inventory" -e "@$T/vars.json" \
		"$FLEET_DIR/../../contrib/ansible/rolling-kernel.yml" >"$T/$1.out" 2>&1 </dev/null &
	apid=$!
	while kill -0 $apid 2>/dev/null; do
		if kernel_rebooted; then
			reboot_done fleet_boot
		fi
		sleep 0.1
	done
	wait $apid
	rc=$?
	return $rc
}

test_ansible_rolling_update() {
	command -v ansible-playbook >/dev/null || fail "ansible-playbook is missing (scripts/deps.sh installs ansible-core)"
	fleet_boot
	python3 "$FLEET_DIR/make-bzimage.py" "$T/bzImage"
	echo initrd >"$T/initrd.img"
	# A required client is missing: host1 refuses, the rollout stops there.
	ansible_rollout refused '{"luo_required_clients": ["a", "nobody"]}' &&
		fail "the rollout went on without client nobody: $(cat "$T/refused.out")"
	grep -q "required client nobody is not subscribed" "$T/refused.out" || fail "why: $(cat "$T/refused.out")"
	kernel_rebooted && fail "host1 rebooted without client nobody"
	grep -q "host2" "$T/refused.out" && fail "the rollout went on to host2: $(cat "$T/refused.out")"
	[ "$(luoctl --json status | json_get updates)" = 0 ] || fail "an update ran"
	# Everything there: two batches of one host, one live update each, a's data kept.
	ansible_rollout rollout '{}' || fail "the rollout failed: $(tail -n 60 "$T/rollout.out")"
	[ "$BOOT" = 3 ] || fail "$((BOOT - 1)) reboots, not 2: $(cat "$T/rollout.out")"
	[ "$(grep -c '^PLAY \[' "$T/rollout.out")" = 2 ] || fail "not two batches: $(cat "$T/rollout.out")"
	grep -q "host1.*changed=[1-9].*failed=0" "$T/rollout.out" || fail "host1: $(cat "$T/rollout.out")"
	grep -q "host2.*changed=[1-9].*failed=0" "$T/rollout.out" || fail "host2: $(cat "$T/rollout.out")"
	grep -q "verified" "$T/client.a.2.log" || fail "a's data after update 1: $(cat "$T/client.a.2.log")"
	grep -q "verified" "$T/client.a.3.log" || fail "a's data after update 2: $(cat "$T/client.a.3.log")"
	[ "$(luoctl --json status | json_get updates)" = 2 ] || fail "not 2 updates: $(luoctl status)"
}
