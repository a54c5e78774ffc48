# shellcheck shell=bash
# The live-update workflow end to end against the fake kernel.
RAW="python3 $(dirname "${BASH_SOURCE[0]}")/raw-client.py"

test_one_client_survives_reboot() {
	luod_start
	client a --size 1M --seed 7 preserve
	wait_state a subscribed
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "reboot"
	reboot_done
	luoctl list | grep -q "unclaimed" || fail "no unclaimed session after the reboot: $(luoctl list)"
	on "$DEMO" --id a --size 1M --seed 7 verify >"$T/verify.out" 2>&1 || fail "verify failed: $(cat "$T/verify.out")"
	expect_out "$T/verify.out" "verified"
	[ "$(luoctl --json status | json_get sessions)" = "[]" ] || fail "session still listed after DONE: $(luoctl --json status)"
	[ "$(sessions incoming)" = 0 ] || fail "the kernel still has an incoming session: $(fakectl status)"
}

test_verify_detects_corruption() {
	# The verifier must be able to fail: a different seed is different data.
	luod_start
	client a --size 64K --seed 7 preserve
	wait_state a subscribed
	load_kernel
	kexec || fail "kexec failed"
	reboot_done
	on "$DEMO" --id a --size 64K --seed 8 verify >"$T/verify.out" 2>&1 && fail "verify passed on wrong data"
	expect_out "$T/verify.out" "MISMATCH"
	# Nothing was finished: the right verifier still succeeds.
	on "$DEMO" --id a --size 64K --seed 7 verify >"$T/verify.out" 2>&1 || fail "second verify: $(cat "$T/verify.out")"
}

test_many_clients() {
	local i
	luod_start
	for i in 1 2 3 4 5 6; do client "c$i" --size 256K --files 3 --seed "$i" preserve; done
	for i in 1 2 3 4 5 6; do wait_state "c$i" subscribed; done
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	for i in 1 2 3 4 5 6; do expect_out "$T/kexec.out" "c$i"; done
	reboot_done
	for i in 1 2 3 4 5 6; do
		on "$DEMO" --id "c$i" --size 256K --files 3 --seed "$i" verify >"$T/v$i.out" 2>&1 ||
			fail "c$i: $(cat "$T/v$i.out")"
	done
}

test_ready_barrier_and_timeout() {
	luod_start
	client good --size 64K preserve
	client stuck --size 64K --never-ready preserve
	wait_state good subscribed
	wait_state stuck subscribed
	load_kernel
	kexec --timeout 3 &
	local kpid=$!
	wait_state good ready
	wait_state stuck preparing
	luoctl status | grep -q preparing || fail "status does not say preparing"
	kernel_rebooted && fail "rebooted before every client was ready"
	wait $kpid && fail "kexec succeeded with a client that never got ready"
	expect_out "$T/kexec.out" "stuck"
	expect_out "$T/kexec.out" "ETIMEDOUT"
	kernel_rebooted && fail "rebooted after the timeout"
	expect_out "$T/client.good.1.log" "aborted"
	wait_state good subscribed
	kill -9 "${CLIENT_PID[stuck]}"
	eventually '[ "$(sessions outgoing)" = 0 ]' || fail "sessions left after the abort: $(fakectl status)"
	# The system keeps going: a new update without the stuck client works.
	kexec || fail "second kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	on "$DEMO" --id good --size 64K verify >/dev/null || fail "good client's data lost"
}

test_client_crash_aborts() {
	luod_start
	client good --size 64K preserve
	client crash --size 64K --never-ready preserve
	wait_state crash subscribed
	wait_state good subscribed
	load_kernel
	kexec --timeout 30 &
	local kpid=$!
	wait_state crash preparing
	kill -9 "${CLIENT_PID[crash]}"
	wait $kpid && fail "kexec succeeded although a client crashed"
	expect_out "$T/kexec.out" "crash"
	expect_out "$T/kexec.out" "disconnected"
	kernel_rebooted && fail "rebooted"
	eventually '[ "$(sessions outgoing)" = 0 ]' || fail "sessions left: $(fakectl status)"
	wait_state good subscribed
}

test_client_fail_aborts() {
	luod_start
	client bad --size 64K --fail "disk on fire" preserve
	wait_state bad subscribed
	load_kernel
	kexec && fail "kexec succeeded although a client failed"
	expect_out "$T/kexec.out" "disk on fire"
	expect_out "$T/kexec.out" "bad"
}

test_abort_on_demand() {
	luod_start
	client slow --size 64K --never-ready preserve
	wait_state slow subscribed
	load_kernel
	kexec --timeout 60 &
	local kpid=$!
	wait_state slow preparing
	luoctl abort --reason "maintenance cancelled" || fail "abort failed"
	wait $kpid && fail "kexec succeeded after abort"
	expect_out "$T/kexec.out" "maintenance cancelled"
	wait_out "$T/client.slow.1.log" "aborted"
	luoctl abort >/dev/null 2>&1 && fail "abort with nothing running succeeded"
	luoctl status | grep -q idle || fail "not idle after abort"
}

test_reboot_failure_recovers() {
	luod_start
	client a --size 64K --seed 3 preserve
	wait_state a subscribed
	load_kernel
	fakectl fail-reboot 5 >/dev/null
	kexec && fail "kexec succeeded although reboot() failed"
	expect_out "$T/kexec.out" "EIO"
	expect_out "$T/kexec.out" "refused the reboot"
	wait_out "$T/client.a.1.log" "aborted"
	wait_state a subscribed
	[ "$(sessions outgoing)" = 0 ] || fail "sessions left after the failed reboot: $(fakectl status)"
	fakectl fail-reboot 0 >/dev/null
	kexec || fail "kexec after recovery failed: $(cat "$T/kexec.out")"
	reboot_done
	on "$DEMO" --id a --size 64K --seed 3 verify >/dev/null || fail "data lost"
}

test_no_kernel_loaded() {
	luod_start
	client a --size 64K preserve
	wait_state a subscribed
	kexec && fail "kexec without a loaded kernel succeeded"
	expect_out "$T/kexec.out" "luoctl load"
	wait_state a subscribed
	# --force lets the kernel decide: reboot() says EINVAL, nothing happens.
	kexec --force && fail "forced kexec without a kernel succeeded"
	expect_out "$T/kexec.out" "no kernel is loaded"
	kernel_rebooted && fail "rebooted"
	wait_state a subscribed
}

test_exit_after_ready_survives() {
	luod_start
	client a --size 256K --seed 11 --exit-after-ready preserve
	client b --size 64K preserve
	wait_state a subscribed
	wait_state b subscribed
	load_kernel
	kexec --timeout 30 || fail "kexec failed: $(cat "$T/kexec.out")"
	# The fake reboot kills only luod: a must have gone by itself.
	for _ in $(seq 100); do kill -0 "${CLIENT_PID[a]}" 2>/dev/null || break; sleep 0.05; done
	kill -0 "${CLIENT_PID[a]}" 2>/dev/null && fail "client a did not exit after READY"
	reboot_done
	on "$DEMO" --id a --size 256K --seed 11 verify >"$T/v.out" 2>&1 || fail "a: $(cat "$T/v.out")"
}

test_claim_rules() {
	luod_start
	client a --size 64K preserve
	wait_state a subscribed
	load_kernel
	kexec || fail "kexec failed"
	reboot_done
	on "$DEMO" --id nobody-here verify >"$T/v.out" 2>&1
	[ $? = 2 ] || fail "claim of an unknown id did not exit 2: $(cat "$T/v.out")"
	# A claimer that holds the session: a second claim is refused.
	$RAW '{"cmd":"CLAIM","id":"a"}' --hold 120 >"$T/raw.out" &
	local rpid=$!
	wait_out "$T/raw.out" '"ok":true'
	expect_out "$T/raw.out" '"session":"luod.a.'
	on "$DEMO" --id a --size 64K verify >"$T/v.out" 2>&1 && fail "double claim succeeded"
	expect_out "$T/v.out" "claimed"
	# The claimer dies before DONE: the session can be claimed again.
	kill "$rpid"
	wait $rpid
	on "$DEMO" --id a --size 64K verify >"$T/v.out" 2>&1 || fail "claim after a crashed claimer: $(cat "$T/v.out")"
	$RAW '{"cmd":"CLAIM","id":"a"}' | grep -q ENOENT || fail "claim after DONE did not say ENOENT"
	$RAW '{"cmd":"DONE"}' | grep -q ENOTCONN || fail "DONE without a claim accepted"
}

test_release_and_unclaimed_block() {
	luod_start
	client a --size 64K preserve
	client b --size 64K preserve
	wait_state a subscribed
	wait_state b subscribed
	load_kernel
	kexec || fail "kexec failed"
	reboot_done
	load_kernel
	kexec && fail "kexec with unclaimed sessions succeeded"
	expect_out "$T/kexec.out" "release"
	luoctl release a >/dev/null || fail "release failed"
	on "$DEMO" --id a verify >/dev/null 2>&1
	[ $? = 2 ] || fail "released session still claimable"
	luoctl release a >/dev/null 2>&1 && fail "second release succeeded"
	[ "$(sessions incoming)" = 1 ] || fail "kernel does not show exactly b's session: $(fakectl status)"
	kexec --force || fail "forced kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	# b's unclaimed session did not survive the second update, as forced.
	[ "$(sessions incoming)" = 0 ] || fail "sessions survived: $(fakectl status)"
	[ "$(luoctl --json status | json_get sessions)" = "[]" ] || fail "luod lists sessions: $(luoctl list)"
}

test_three_updates_in_a_row() {
	local n
	luod_start
	for n in 1 2 3; do
		client a --size 128K --seed 5 run
		wait_state a subscribed
		load_kernel
		kexec || fail "kexec $n failed: $(cat "$T/kexec.out")"
		reboot_done
	done
	luoctl status | grep -Eq "updates: +3" || fail "status does not show 3 updates: $(luoctl status)"
	on "$DEMO" --id a --size 128K --seed 5 verify >"$T/v.out" 2>&1 || fail "$(cat "$T/v.out")"
}

test_uid_rules() {
	local nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	local bin=$T/bin
	# The checkout may sit where other uids cannot read (/root): copy what
	# they run to the world-readable scratch directory.
	mkdir "$bin"
	cp "$LUOCTL" "$DEMO" "$PRELOAD" "$BUILD"/src/client/libluo-client.so* \
		"$(dirname "${BASH_SOURCE[0]}")/raw-client.py" "$bin"/
	chmod -R a+rX "$bin"
	nobody="env LD_LIBRARY_PATH=$bin $nobody"
	luod_start
	$nobody "$bin/luoctl" kexec >"$T/k.out" 2>&1 && fail "non-root kexec accepted"
	expect_out "$T/k.out" "EPERM"
	$nobody "$bin/luoctl" status >/dev/null || fail "non-root status refused"
	LD_PRELOAD=$bin/$(basename "$PRELOAD") $nobody "$bin/luo-demo" --id u --size 64K preserve </dev/null >"$T/u.log" 2>&1 &
	BOOT_PIDS+=("$!")
	wait_state u subscribed
	[ "$(luoctl --json list | json_get clients.0.uid)" = 65534 ] || fail "uid not recorded"
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	setpriv --reuid=65533 --regid=65533 --clear-groups /usr/bin/python3 "$bin/raw-client.py" \
		'{"cmd":"CLAIM","id":"u"}' | grep -q EPERM || fail "another uid could claim"
	LD_PRELOAD=$bin/$(basename "$PRELOAD") $nobody "$bin/luo-demo" --id u --size 64K verify >"$T/v.out" 2>&1 ||
		fail "owner: $(cat "$T/v.out")"
}

test_bad_input_keeps_serving() {
	luod_start
	$RAW '{"cmd":"SUBSCRIBE","id":"bad id!"}' | grep -q EINVAL || fail "bad id accepted"
	$RAW '{"cmd":"NOPE"}' | grep -q EOPNOTSUPP || fail "unknown command accepted"
	$RAW '{"nocmd":1}' | grep -q EINVAL || fail "message without cmd accepted"
	$RAW '{"cmd":"READY"}' | grep -q ENOTCONN || fail "READY without SUBSCRIBE accepted"
	$RAW '{"cmd":"KEXEC","timeout_ms":"soon"}' | grep -q EINVAL || fail "bad timeout accepted"
	$RAW '{"cmd":"SUBSCRIBE","id":"x"}' '{"cmd":"SUBSCRIBE","id":"y"}' | grep -q EALREADY ||
		fail "double subscribe accepted"
	[ "$($RAW --raw 'garbage\n' | tail -n1)" = closed ] || fail "garbage did not close the connection"
	[ "$($RAW --raw '{"cmd":"STATUS","fds":1}\n' | tail -n1)" = closed ] ||
		fail "missing fds did not close the connection"
	head -c 70000 /dev/zero | tr '\0' 'a' >"$T/big"
	[ "$($RAW --raw "$(cat "$T/big")" | tail -n1)" = closed ] || fail "oversized line did not close the connection"
	luoctl status >/dev/null || fail "luod stopped serving"
	kill -0 "$LUOD_PID" || fail "luod died"
	# The failed subscriptions changed nothing.
	[ "$(luoctl --json list | json_get clients)" = "[]" ] || fail "clients listed after bad input: $(luoctl --json list)"
}

test_singleton() {
	luod_start
	on "$LUOD" 2>"$T/second.log" && fail "a second luod on the same socket started"
	expect_out "$T/second.log" "another luod"
	luoctl status >/dev/null || fail "the first luod lost its socket"
	on "$LUOD" --socket "$T/other.sock" 2>"$T/third.log" && fail "a second luod took the device"
	expect_out "$T/third.log" "held by"
	luoctl status >/dev/null || fail "the first luod stopped serving"
}

test_stale_socket_is_replaced() {
	# A luod killed with SIGKILL leaves its socket behind; the next one starts.
	luod_start
	kill -9 "$LUOD_PID"
	wait "$LUOD_PID" 2>/dev/null
	[ -S "$LUOD_SOCKET" ] || fail "no stale socket to test with"
	luod_start
	[ "$(stat -c %a "$LUOD_SOCKET")" = 666 ] || fail "socket mode is $(stat -c %a "$LUOD_SOCKET")"
}

test_no_luo_serves_status() {
	kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null
	"$FAKE" --socket "$LUO_FAKE_SOCKET" --no-luo </dev/null >"$T/kernel.log" 2>&1 &
	FAKE_PID=$!
	eventually '[ -S "$LUO_FAKE_SOCKET" ]' || fail "the fake kernel did not start"
	luod_start
	luoctl status >"$T/s.out" || fail "status failed"
	expect_out "$T/s.out" "CONFIG_LIVEUPDATE"
	luoctl kexec >"$T/k.out" 2>&1 && fail "kexec without LUO accepted"
	expect_out "$T/k.out" "ENODEV"
}

test_sigterm_aborts_and_logs_with_priorities() {
	luod_start
	client slow --size 64K --never-ready preserve
	wait_state slow subscribed
	load_kernel
	kexec --timeout 60 &
	local kpid=$!
	wait_state slow preparing
	kill -TERM "$LUOD_PID"
	wait $kpid && fail "kexec succeeded although luod stopped"
	expect_out "$T/kexec.out" "luod is stopping"
	wait "$LUOD_PID" || fail "luod exited with $? on SIGTERM"
	[ -e "$LUOD_SOCKET" ] && fail "luod left its socket behind"
	kernel_rebooted && fail "rebooted"
	kill -9 "${CLIENT_PID[slow]}"
	eventually '[ "$(sessions outgoing)" = 0 ]' || fail "sessions left: $(fakectl status)"
	# Every log line carries a journald priority prefix; -v adds debug ones.
	grep -qv '^<[0-7]>' "$T/luod.1.log" && fail "log lines without a priority: $(grep -v '^<[0-7]>' "$T/luod.1.log")"
	grep -q '^<7>' "$T/luod.1.log" || fail "no debug line with -v"
	grep -q '^<3>live update aborted: luod is stopping' "$T/luod.1.log" || fail "the abort is not logged as an error"
}

test_restart_keeps_sessions_in_fd_store() {
	luod_start
	client a --size 128K --seed 9 preserve
	client b --size 64K --seed 10 preserve
	wait_state a subscribed
	wait_state b subscribed
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done luod_start_supervised
	grep -q "^ready" "$T/systemd.log" || fail "luod did not notify READY=1"
	grep -q "^store luod.a." "$T/systemd.log" || fail "a's session not in the fd store: $(cat "$T/systemd.log")"
	grep -q "^store luod-state" "$T/systemd.log" || fail "no list in the fd store"
	on "$DEMO" --id b --size 64K --seed 10 verify >"$T/v.out" 2>&1 || fail "b: $(cat "$T/v.out")"
	# The service manager logs what luod told it on its own time.
	for _ in $(seq 200); do grep -q "^remove luod.b." "$T/systemd.log" && break; sleep 0.05; done
	grep -q "^remove luod.b." "$T/systemd.log" || fail "b's session stayed in the fd store after DONE"
	# luod crashes: its restart gets a's session back from the store.
	local old
	old=$(cat "$T/luod.pid")
	kill -9 "$old"
	for _ in $(seq 200); do [ "$(cat "$T/luod.pid")" != "$old" ] && break; sleep 0.05; done
	wait_luod
	grep -q "^started .*luod-state" "$T/systemd.log" || fail "the restart got no fds: $(cat "$T/systemd.log")"
	grep -q "taken back from the fd store" "$T/luod.$BOOT.log" || fail "luod did not take the sessions back"
	luoctl list | grep -q "unclaimed" || fail "a's session is not listed after the restart: $(luoctl list)"
	luoctl list | grep -q "luod.b" && fail "b's finished session came back"
	[ "$(luoctl --json status | json_get updates)" = 1 ] || fail "the update count was lost"
	on "$DEMO" --id a --size 128K --seed 9 verify >"$T/v.out" 2>&1 || fail "a after the restart: $(cat "$T/v.out")"
	# The service manager logs what luod told it on its own time.
	for _ in $(seq 200); do grep -q "^remove luod-state" "$T/systemd.log" && break; sleep 0.05; done
	grep -q "^remove luod-state" "$T/systemd.log" || fail "the list stayed in the fd store when nothing was left"
}
