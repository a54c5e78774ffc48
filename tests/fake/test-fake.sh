#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The self-test of the /dev/liveupdate test double: runs test-fake's phases
# against a luo-fake-kernel on a temporary socket, through a simulated live
# update and a second one, and checks the fake's status in between.
# Prints TAP; exits non-zero if anything failed.
#
# usage: test-fake.sh LUO_FAKE_KERNEL LUO_FAKE_PRELOAD TEST_FAKE
set -u

fake=$(realpath "$1")
preload=$(realpath "$2")
testprog=$(realpath "$3")
dir=$(mktemp -d)
sock=$dir/sock
fake_pid=

# main runs in a subshell (the pipe below): its fake is cleaned up there.
cleanup() {
	if [ -n "$fake_pid" ]; then
		kill "$fake_pid" 2>/dev/null
		wait "$fake_pid" 2>/dev/null
	fi
	rm -rf "$dir"
}

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
check() { # DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# start_fake SOCKET [--no-luo]: wait until it listens
start_fake() {
	local i
	"$fake" --socket "$@" >"$1.log" 2>&1 &
	fake_pid=$!
	for i in $(seq 100); do
		grep -q '^fake-kernel: boot 0$' "$1.log" 2>/dev/null && return 0
		sleep 0.05
	done
	sed 's/^/# /' "$1.log"
	return 1
}

# stop_fake SOCKET: SIGTERM; a clean exit (no sanitizer report) is a pass
stop_fake() {
	local rc
	kill -TERM "$fake_pid"
	wait "$fake_pid"
	rc=$?
	fake_pid=
	if [ "$rc" = 0 ]; then
		ok "the fake kernel exits cleanly"
	else
		not_ok "the fake kernel exits cleanly (status $rc)"
		sed 's/^/# /' "$1.log"
	fi
}

run() { # SOCKET PHASE: test-fake under the preload
	LD_PRELOAD=$preload LUO_FAKE_SOCKET=$1 LUO_FAKE_KERNEL=$fake "$testprog" "$2"
}

# expect_exit WANT PHASE: run a phase, check how it ended
expect_exit() {
	local rc
	run "$sock" "$2"
	rc=$?
	check "test-fake $2 ends with status $1 (got $rc)" [ "$rc" = "$1" ]
}

fd_count() { ls "/proc/$fake_pid/fd" | wc -l; }

# fds_are N: the fake holds N fds (connections just closed may take a moment)
fds_are() {
	local i
	for i in $(seq 40); do
		[ "$(fd_count)" = "$1" ] && return 0
		sleep 0.05
	done
	echo "# the fake holds: $(ls -l "/proc/$fake_pid/fd" | tail -n +2)"
	return 1
}

status() { "$fake" ctl --socket "$sock" status; }
has() { status | grep -qx -- "$1"; }
lacks() { ! status | grep -q -- "$1"; }

main() {
	trap cleanup EXIT
	if ! start_fake "$sock"; then
		not_ok "start luo-fake-kernel"
		return
	fi
	# What it holds idle: stdio and whatever it inherited, epoll, signalfd, listener.
	idle_fds=$(fd_count)
	check "a second fake on the same socket is refused" \
		eval '! "$fake" --socket "$sock" >/dev/null 2>&1'

	expect_exit 0 rules
	check "after rules: boot 0, device free, no session left" \
		eval 'has "boot 0" && has "device free" && lacks "^outgoing" && has "loaded 0"'

	# A SIGKILL at the reboot is 128 + 9.
	expect_exit 137 prepare
	check "the fake printed the new boot" grep -qx 'fake-kernel: boot 1' "$sock.log"
	check "status: boot 1, nothing loaded, device free" \
		eval 'has "boot 1" && has "loaded 0" && has "device free"'
	check "keep came along with its three files" has "incoming keep retrieved=0 tokens=1,2,3"
	check "held, held by a child only, came along" has "incoming held retrieved=0 tokens="
	check "spare came along" has "incoming spare retrieved=0 tokens="
	check "gone, closed before the reboot, did not" lacks "^incoming gone "
	check "no outgoing session in the new boot" lacks "^outgoing"

	expect_exit 0 after
	check "after: keep and held are released, spare waits" \
		eval 'lacks "^incoming keep " && lacks "^incoming held " && has "incoming spare retrieved=0 tokens="'

	expect_exit 137 reboot
	check "boot 2: the new session came along" has "incoming second retrieved=0 tokens=1"
	check "boot 2: the unclaimed spare of boot 1 is dropped" \
		eval 'has "boot 2" && lacks "^incoming spare "'
	check "the fake holds no fd but the file of session second" fds_are $((idle_fds + 1))
	stop_fake "$sock"

	if start_fake "$dir/noluo" --no-luo; then
		run "$dir/noluo" no-luo
		check "test-fake no-luo" [ $? = 0 ]
		stop_fake "$dir/noluo"
	else
		not_ok "start luo-fake-kernel --no-luo"
	fi

	LD_PRELOAD=$preload "$testprog" passthrough
	check "test-fake passthrough" [ $? = 0 ]
}

# Number the "ok - ..." lines of all the phases as one TAP stream.
main | awk '
	/^(not )?ok / {
		n++
		if ($1 == "not") { failed++; sub(/^not ok/, "not ok " n) } else sub(/^ok/, "ok " n)
	}
	{ print; fflush() }
	END { print "1.." n; exit (failed || !n) }'
