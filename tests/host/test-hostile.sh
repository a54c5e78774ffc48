# shellcheck shell=bash disable=SC2046
# (SC2046: $(as_uid UID) is meant to split into a command line.)
# Hostile local peers and faults at the edges: a peer that floods luod, a
# socket directory someone else controls, fd exhaustion, stray signals.

HOSTILE_PY="$(dirname "${BASH_SOURCE[0]}")/hostile.py"
RAW_PY="$(dirname "${BASH_SOURCE[0]}")/raw-client.py"

# $(as_uid UID) CMD...: run CMD as UID (and gid) with no supplementary
# groups. (Not a function: a function run in the background is a subshell,
# and $! must be the process itself.)
as_uid() { echo "setpriv --reuid=$1 --regid=$1 --clear-groups"; }

# The checkout may sit where other uids cannot read (/root): the scripts
# other uids run are copied to the world-readable scratch directory.
hostile_bin() {
	[ -e "$T/marks" ] && return 0
	mkdir -p "$T/bin"
	cp "$HOSTILE_PY" "$RAW_PY" "$T/bin/"
	chmod -R a+rX "$T/bin"
	# Where they may leave marks (never the socket's directory: $T).
	mkdir -m 1777 "$T/marks"
}

# flood_start UID [CONNS]: a peer of UID that pipelines commands without end.
flood_start() {
	hostile_bin
	rm -f "$T/marks/flood.ready"
	$(as_uid "$1") /usr/bin/python3 "$T/bin/hostile.py" flood --conns "${2:-4}" --ready "$T/marks/flood.ready" \
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
	timeout 60 $(as_uid 65533) /usr/bin/python3 "$T/bin/raw-client.py" '{"cmd":"VERSION"}' >"$T/v.out" 2>&1 ||
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

# luod_refuses ARGS...: luod must refuse to start (a luod that starts is
# stopped after a while, generous enough to only catch that); its log is
# in $T/refused.log.
luod_refuses() {
	local rc=0
	LD_PRELOAD=$PRELOAD timeout 20 "$LUOD" "$@" </dev/null >/dev/null 2>"$T/refused.log" || rc=$?
	[ $rc = 124 ] && fail "luod started with $*: $(cat "$T/refused.log")"
	[ $rc = 1 ] || fail "luod exited with $rc, not 1, with $*: $(cat "$T/refused.log")"
	return 0
}

test_socket_dir_of_another_uid_is_refused() {
	mkdir -m 755 "$T/d"
	chown 65534:65534 "$T/d"
	luod_refuses --socket "$T/d/luod.sock"
	expect_out "$T/refused.log" "$T/d.*owned by uid 65534"
	[ -z "$(ls -A "$T/d")" ] || fail "luod left something in the other uid's directory: $(ls -A "$T/d")"
	# Owned by root but its group is another one: fine while it is not writable.
	chown 0:65534 "$T/d"
	export LUOD_SOCKET=$T/d/luod.sock
	luod_start
}

test_socket_dir_writable_by_others_is_refused() {
	local mode
	mkdir "$T/d"
	for mode in 775 757 777 1777 1770; do
		chmod "$mode" "$T/d"
		luod_refuses --socket "$T/d/luod.sock"
		expect_out "$T/refused.log" "$T/d.*writable by"
		[ -z "$(ls -A "$T/d")" ] || fail "luod left something in a mode $mode directory: $(ls -A "$T/d")"
	done
}

test_socket_dir_symlink_is_refused() {
	mkdir -m 755 "$T/real"
	ln -s real "$T/link"
	luod_refuses --socket "$T/link/luod.sock"
	expect_out "$T/refused.log" "symbolic link"
	luod_refuses --socket "$T/link//luod.sock"
	[ -z "$(ls -A "$T/real")" ] || fail "luod followed the link: $(ls -A "$T/real")"
}

test_socket_dir_is_created() {
	export LUOD_SOCKET=$T/new/luod.sock
	luod_start
	[ "$(stat -c %a "$T/new")" = 755 ] || fail "the socket directory has mode $(stat -c %a "$T/new")"
	[ "$(stat -c %a "$LUOD_SOCKET")" = 666 ] || fail "socket mode is $(stat -c %a "$LUOD_SOCKET")"
}

test_socket_path_that_is_no_socket_is_kept() {
	echo precious >"$T/file"
	# A regular file, a symlink to one, a dangling symlink, a directory.
	echo data >"$T/luod.sock"
	luod_refuses --socket "$T/luod.sock"
	expect_out "$T/refused.log" "$T/luod.sock.*not a socket"
	[ "$(cat "$T/luod.sock")" = data ] || fail "the file at the socket path was changed"
	rm "$T/luod.sock"
	ln -s file "$T/luod.sock"
	luod_refuses --socket "$T/luod.sock"
	expect_out "$T/refused.log" "$T/luod.sock.*not a socket"
	[ -L "$T/luod.sock" ] || fail "the symlink was removed"
	[ "$(cat "$T/file")" = precious ] || fail "the symlink's target was changed"
	rm "$T/luod.sock"
	ln -s nowhere "$T/luod.sock"
	luod_refuses --socket "$T/luod.sock"
	[ -L "$T/luod.sock" ] || fail "the dangling symlink was removed"
	[ -e "$T/nowhere" ] && fail "luod created the symlink's target"
	rm "$T/luod.sock"
	mkdir "$T/luod.sock"
	luod_refuses --socket "$T/luod.sock"
	[ -d "$T/luod.sock" ] || fail "the directory was removed"
	rmdir "$T/luod.sock"
	# The lock file is never followed either.
	rm -f "$T/luod.sock.lock"
	ln -s file "$T/luod.sock.lock"
	luod_refuses --socket "$T/luod.sock"
	[ "$(cat "$T/file")" = precious ] || fail "the lock symlink's target was changed"
	rm "$T/luod.sock.lock"
	luod_start
	[ "$(stat -c %a "$LUOD_SOCKET")" = 666 ] || fail "socket mode is $(stat -c %a "$LUOD_SOCKET")"
}

test_stale_socket_of_another_program_is_replaced() {
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$LUOD_SOCKET"
	[ -S "$LUOD_SOCKET" ] || fail "no stale socket to test with"
	luod_start
	[ "$(stat -c %a "$LUOD_SOCKET")" = 666 ] || fail "socket mode is $(stat -c %a "$LUOD_SOCKET")"
	[ "$(stat -c %a "$LUOD_SOCKET.lock")" = 600 ] || fail "lock mode is $(stat -c %a "$LUOD_SOCKET.lock")"
}

# hog_start UID CONNS [--no-fds]: a peer of UID that makes luod hold as
# many fds as it can; its report (one line per connection) goes to
# $T/marks/hog.UID.
hog_start() {
	hostile_bin
	$(as_uid "$1") /usr/bin/python3 "$T/bin/hostile.py" hog --conns "$2" ${3:+"$3"} --ready "$T/marks/hog.$1.ready" \
		</dev/null >"$T/marks/hog.$1" 2>&1 &
	BOOT_PIDS+=("$!")
}

hog_wait() {
	for _ in $(seq 1200); do [ -e "$T/marks/hog.$1.ready" ] && return 0; sleep 0.05; done
	fail "the hog of uid $1 never finished: $(cat "$T/marks/hog.$1")"
}

test_fd_exhaustion_cannot_lock_out_root() {
	local uid
	# luod with few fds and no way to raise them (soft = hard = 256).
	hostile_bin
	# (The limit is set before a valgrind wrapper, which cannot lower it.)
	printf '#!/bin/sh\nulimit -n 256 || exit 99\nexec %s "$@"\n' "$(printf '%q ' "${LUOD_WRAP[@]}" "$LUOD")" \
		>"$T/bin/luod-256"
	chmod 755 "$T/bin/luod-256"
	LUOD=$T/bin/luod-256
	LUOD_WRAP=()
	luod_start
	[ "$(awk '/open files/ {print $4}' "/proc/$LUOD_PID/limits")" = 256 ] || fail "luod's limit is not 256"
	# Two uids hold fds, eight more all the connections they may.
	hog_start 65501 32
	hog_start 65502 32
	for uid in $(seq 65503 65510); do hog_start "$uid" 32 --no-fds; done
	for uid in $(seq 65501 65510); do hog_wait "$uid"; done
	timeout 60 "$LUOCTL" status >"$T/s.out" 2>&1 || fail "root's status not answered: $(cat "$T/s.out")"
	cat "$T"/marks/hog.* | grep -q EMFILE || fail "no hog was told why it was refused: $(cat "$T"/marks/hog.*)"
	grep -q "file descriptors" "$T/luod.1.log" || fail "luod did not log why it refused"
	# A uid over its budget cannot subscribe more clients; it is told why.
	$(as_uid 65501) /usr/bin/python3 "$T/bin/hostile.py" subscribe --conns 32 --ready "$T/marks/sub.ready" \
		</dev/null >"$T/marks/sub.out" 2>&1 &
	local sub_pid=$!
	BOOT_PIDS+=("$sub_pid")
	for _ in $(seq 1200); do [ -e "$T/marks/sub.ready" ] && break; sleep 0.05; done
	grep -q EMFILE "$T/marks/sub.out" || fail "a uid over its budget was not refused: $(cat "$T/marks/sub.out")"
	timeout 60 "$LUOCTL" status >"$T/s.out" 2>&1 || fail "root's status not answered: $(cat "$T/s.out")"
	# (Its clients would never get ready and hold the update up.)
	kill "$sub_pid"
	# Root's live update still goes through.
	client a --size 128K --seed 21 preserve
	wait_state a subscribed
	load_kernel
	timeout 120 "$LUOCTL" kexec >"$T/kexec.out" 2>&1 || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	on "$DEMO" --id a --size 128K --seed 21 verify >"$T/v.out" 2>&1 || fail "$(cat "$T/v.out")"
}

test_socket_dir_under_another_uids_dir_is_refused() {
	# Root's directory inside one that uid 65534 owns: it could be renamed away.
	mkdir -m 755 "$T/u" "$T/u/d"
	chown 65534:65534 "$T/u"
	luod_refuses --socket "$T/u/d/luod.sock"
	expect_out "$T/refused.log" "parent of the socket directory $T/u/d is owned by uid 65534"
	# World-writable without the sticky bit: anyone could rename it.
	chown 0:0 "$T/u"
	chmod 777 "$T/u"
	luod_refuses --socket "$T/u/d/luod.sock"
	expect_out "$T/refused.log" "not sticky"
	[ -z "$(ls -A "$T/u/d")" ] || fail "luod left something in $T/u/d: $(ls -A "$T/u/d")"
	# Sticky like /tmp: only root may rename root's directory.
	chmod 1777 "$T/u"
	export LUOD_SOCKET=$T/u/d/luod.sock
	luod_start
}

test_pipelined_commands_all_answered() {
	# More commands in one write than luod serves in a turn: the rest are
	# served in later turns although no more data arrives.
	luod_start
	timeout 60 python3 - "$LUOD_SOCKET" >"$T/p.out" 2>&1 <<'PY' || fail "not every pipelined command was answered: $(cat "$T/p.out")"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"".join(b'{"cmd":"VERSION","n":%d}\n{"cmd":"NOPE%d"}\n' % (i, i) for i in range(100)))
buf, n = b"", 0
while n < 200:
    d = s.recv(65536)
    if not d:
        sys.exit("closed after %d replies" % n)
    buf += d
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        r = json.loads(line)
        # In order: VERSION, then the unknown command's error.
        if r.get("ok") != (n % 2 == 0) or (n % 2 and "NOPE%d" % (n // 2) not in r["error"]):
            sys.exit("reply %d out of order: %s" % (n, line))
        n += 1
print(n)
PY
}

# A connection luod refuses at once (too many of the uid's) gets the reason,
# whether luoctl's command went out before luod closed it or not.
test_refused_connection_says_why() {
	local i out
	luod_start
	hog_start 65534 32 --no-fds
	hog_wait 65534 || fail "the hog did not start: $(cat "$T/marks/hog.65534")"
	for i in $(seq 10); do
		out=$($(as_uid 65534) "$LUOCTL" status 2>&1) && fail "luoctl status succeeded past the limit"
		grep -q "too many connections" <<<"$out" || fail "attempt $i: the refusal was lost: $out"
	done
	# The command goes out only after luod has refused and closed (strace
	# holds luoctl's send back): the reply is still there to be read.
	out=$($(as_uid 65534) strace -qq -o /dev/null -e inject=sendmsg:delay_enter=300000 "$LUOCTL" status 2>&1) &&
		fail "luoctl status succeeded past the limit"
	grep -q "too many connections" <<<"$out" || fail "a late send lost the refusal: $out"
	# The same through libluo-client (luo-demo's SUBSCRIBE).
	out=$($(as_uid 65534) strace -qq -o /dev/null -e inject=sendmsg:delay_enter=300000 "$DEMO" --id late preserve 2>&1) &&
		fail "luo-demo subscribed past the limit"
	grep -q "too many connections" <<<"$out" || fail "libluo-client lost the refusal of a late send: $out"
}
