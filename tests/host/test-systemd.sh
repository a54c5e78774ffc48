# shellcheck shell=bash
# luod under systemd 261+ (--systemd=yes), with fake-systemd.py as the
# service manager (its fd store) and fake-systemctl as systemctl: the
# device held only while needed, the update's sessions committed to the fd
# store, the kexec asked of systemd, and every failure before that undone.
# What happens across the real kexec is the systemd VM tier's to prove.

# luod [--systemd=MODE] under the stand-in for systemd, with the fake
# systemctl saying it is VERSION; in a mount namespace of its own where
# /run/systemd/system exists, as when systemd is PID 1.
luod_start_systemd() {
	local mode=${1:-yes} version=${2:-262}
	mkdir -p "$T/bin" "$T/systemctl"
	# Never the real systemctl: luod would kexec the machine running the tests.
	ln -sf "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fake-systemctl" "$T/bin/systemctl"
	echo "systemd $version ($version.1-1)" >"$T/systemctl/version"
	[ "$(FAKE_SYSTEMCTL_DIR=$T/systemctl "$T/bin/systemctl" --version)" = "systemd $version ($version.1-1)" ] ||
		fail "the fake systemctl does not run"
	FAKE_SYSTEMCTL_DIR=$T/systemctl PATH=$T/bin:$PATH unshare -m --propagation private \
		sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$@"' sh \
		python3 "$(dirname "${BASH_SOURCE[0]}")/fake-systemd.py" \
		--notify "$T/notify.sock" --log "$T/systemd.log" --pidfile "$T/luod.pid" -- \
		env LD_PRELOAD="$PRELOAD" "${LUOD_WRAP[@]}" "$LUOD" -v --systemd="$mode" </dev/null >/dev/null 2>>"$T/luod.$BOOT.log" &
	BOOT_PIDS+=("$!")
	wait_luod
}

device_state() { fakectl status | sed -n 's/^device //p'; }
systemctl_calls() { cat "$T/systemctl/calls" 2>/dev/null; }

# A subscribed demo client and a loaded kernel.
systemd_setup() {
	luod_start_systemd
	client a --size 128K --seed 3 preserve
	wait_state a subscribed
	load_kernel
}

test_systemd_device_only_when_needed() {
	luod_start_systemd
	[ "$(luoctl --json status | json_get luo.kexec_by)" = systemd ] || fail "luod is not in systemd mode"
	[ "$(device_state)" = free ] || fail "luod holds /dev/liveupdate while idle"
	# Another LUO user (PID 1 starting a LUOSession= unit) can have it.
	on python3 -c 'import os; os.close(os.open("/dev/liveupdate", os.O_RDWR))' ||
		fail "another process cannot open /dev/liveupdate while luod runs"
}

test_systemd_commit_and_kexec() {
	systemd_setup
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "systemd is taking the machine down for the kexec"
	systemctl_calls | grep -qx -- "--no-wall kexec" || fail "systemctl kexec was not called: $(systemctl_calls)"
	eventually 'grep -q "^store luod-state" "$T/systemd.log"' || fail "no list in the fd store: $(cat "$T/systemd.log")"
	grep -q "^store luod.a.1" "$T/systemd.log" || fail "a's session is not in the fd store: $(cat "$T/systemd.log")"
	[ "$(luoctl --json status | json_get state)" = rebooting ] || fail "luod is not committed"
	[ "$(device_state)" = free ] || fail "luod kept /dev/liveupdate after creating the sessions"
	[ "$(sessions outgoing)" = 1 ] || fail "expected a's outgoing session: $(fakectl status)"
	# luod-barrier.service, stopped on the way down: nothing more to do.
	luoctl kexec --shutdown >"$T/hook.out" 2>&1 || fail "the shutdown hook failed: $(cat "$T/hook.out")"
	expect_out "$T/hook.out" "committed already"
	# The client is stopped by systemd, luod too: the store keeps the sessions.
	kill "${CLIENT_PID[a]}"
	eventually '! kill -0 '"${CLIENT_PID[a]}"' 2>/dev/null' || fail "client a did not exit"
	grep -q "^remove luod.a" "$T/systemd.log" && fail "a's session left the fd store: $(cat "$T/systemd.log")"
	[ "$(sessions outgoing)" = 1 ] || fail "a's session is gone: $(fakectl status)"
}

test_systemd_refuses_kexec_aborts() {
	systemd_setup
	echo "Failed to reboot system via logind: Access denied" >"$T/systemctl/fail"
	kexec && fail "kexec succeeded although systemctl kexec failed"
	expect_out "$T/kexec.out" "Access denied"
	[ "$(luoctl --json status | json_get state)" = idle ] || fail "luod did not go back to idle"
	wait_out "$T/client.a.1.log" "aborted"
	# Everything committed to the fd store was taken back out.
	eventually 'grep -q "^remove luod.a.1" "$T/systemd.log"' || fail "a's session stayed in the store: $(cat "$T/systemd.log")"
	eventually 'grep -q "^remove luod-state" "$T/systemd.log"' || fail "the list stayed in the store"
	eventually '[ "$(sessions outgoing)" = 0 ]' || fail "the aborted session is still there: $(fakectl status)"
	# The next attempt works.
	rm "$T/systemctl/fail"
	wait_state a subscribed
	kexec || fail "the second kexec failed: $(cat "$T/kexec.out")"
	eventually 'grep -q "^store luod.a.2" "$T/systemd.log"' || fail "a's new session is not in the store"
}

test_systemd_shutdown_not_kexec_does_nothing() {
	systemd_setup
	luoctl kexec --shutdown >"$T/hook.out" 2>&1 || fail "the hook failed on a plain shutdown: $(cat "$T/hook.out")"
	expect_out "$T/hook.out" "not going down for a kexec"
	[ "$(client_state a)" = subscribed ] || fail "the client was disturbed: $(client_state a)"
	systemctl_calls | grep -q "kexec$" && fail "luod started a kexec: $(systemctl_calls)"
	grep -q "keep nothing" "$T/luod.1.log" || fail "luod did not warn that the clients keep nothing"
}

test_systemd_operator_kexec_runs_barrier() {
	systemd_setup
	echo 7 >"$T/systemctl/job"
	luoctl kexec --shutdown >"$T/hook.out" 2>&1 || fail "the hook failed: $(cat "$T/hook.out")"
	expect_out "$T/hook.out" "systemd goes on with the kexec"
	wait_out "$T/client.a.1.log" "ready"
	grep -q "^store luod.a.1" "$T/systemd.log" || fail "a's session is not in the store: $(cat "$T/systemd.log")"
	systemctl_calls | grep -qx -- "--no-wall kexec" && fail "luod asked for a second kexec: $(systemctl_calls)"
	[ "$(luoctl --json status | json_get state)" = rebooting ] || fail "luod is not committed"
}

test_systemd_operator_kexec_client_not_ready() {
	luod_start_systemd
	client a --size 64K --never-ready preserve
	wait_state a subscribed
	echo 7 >"$T/systemctl/job"
	luoctl kexec --shutdown --timeout 1 >"$T/hook.out" 2>&1 && fail "the hook succeeded with a client not ready"
	expect_out "$T/hook.out" "a"
	[ "$(luoctl --json status | json_get state)" = idle ] || fail "luod did not go back to idle"
	grep -q "^store luod.a" "$T/systemd.log" && fail "a half-ready session went into the store"
	true
}

test_systemd_device_busy() {
	systemd_setup
	# Another LUO user holds the device for longer than luod waits.
	on python3 -c 'import os, sys, time; fd = os.open("/dev/liveupdate", os.O_RDWR); open(sys.argv[1], "w").close(); time.sleep(8)' "$T/held" &
	local holder=$!
	BOOT_PIDS+=("$holder")
	eventually '[ -e "$T/held" ]' || fail "the holder did not start"
	kexec && fail "kexec succeeded while another process held the device"
	expect_out "$T/kexec.out" "held by"
	# Who holds it is said in full (here the test double's device is a socket luod cannot name).
	expect_out "$T/kexec.out" "LUOSession= units) (waited 5000 ms for it)"
	[ "$(client_state a)" = subscribed ] || fail "the client was disturbed"
	wait "$holder"
	wait_state a subscribed
	kexec || fail "kexec failed once the device was free: $(cat "$T/kexec.out")"
}

test_systemd_restart_after_commit() {
	systemd_setup
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	eventually 'grep -q "^store luod-state" "$T/systemd.log"' || fail "no list in the fd store"
	local old
	old=$(cat "$T/luod.pid")
	kill -9 "$old"
	eventually '[ "$(cat "$T/luod.pid")" != '"$old"' ]' || fail "luod was not restarted"
	wait_luod
	[ "$(luoctl --json status | json_get state)" = rebooting ] || fail "the restarted luod forgot the commit"
	luoctl list | grep -q unclaimed && fail "the outgoing session is offered for a claim: $(luoctl list)"
	grep -q "^remove luod.a" "$T/systemd.log" && fail "the restart took a's session out of the store"
	on "$DEMO" --id a --size 128K --seed 3 verify >"$T/v.out" 2>&1 && fail "a claimed an outgoing session"
	true
}

test_systemd_auto_detects_261() {
	luod_start_systemd auto 261
	[ "$(luoctl --json status | json_get luo.kexec_by)" = systemd ] || fail "systemd 261 was not taken for one that uses LUO"
	[ "$(device_state)" = free ] || fail "luod holds /dev/liveupdate under systemd 261"
	grep -q "working with systemd 261" "$T/luod.1.log" || fail "luod did not say how it works"
}

# systemd before 261 does not carry fd stores across a kexec: luod holds the
# device and reboots itself, also when an operator's kexec is under way.
test_systemd_before_261_luod_reboots_itself() {
	luod_start_systemd auto 257
	[ "$(luoctl --json status | json_get luo.kexec_by)" = luod ] || fail "systemd 257 was taken for one that uses LUO"
	[ "$(device_state)" = held ] || fail "luod does not hold /dev/liveupdate under systemd 257"
	grep -q "systemd 257 (before 261) does not use LUO" "$T/luod.1.log" || fail "luod did not say why"
	client a --size 64K --seed 4 preserve
	wait_state a subscribed
	load_kernel
	echo 9 >"$T/systemctl/job"
	luoctl kexec --shutdown >"$T/hook.out" 2>&1
	expect_out "$T/hook.out" "rebooting into the new kernel"
	eventually kernel_rebooted || fail "luod did not reboot: $(cat "$T/kernel.log")"
	systemctl_calls | grep -qx -- "--no-wall kexec" && fail "luod asked systemd 257 for the kexec"
	true
}
