# shellcheck shell=bash
# Text from hostile peers: what a client says must not forge log lines or
# drive the operator's terminal, the decoder is strict, luod can report its
# own maximum state, and a flood of bad connections does not flood the log.
TXT_RAW="python3 $(dirname "${BASH_SOURCE[0]}")/raw-client.py"
TXT_MANY="$(dirname "${BASH_SOURCE[0]}")/many-clients.py"

# has_controls FILE: does FILE hold a control character other than newline
# (C0, DEL, or a C1 control encoded in UTF-8)?
has_controls() {
	LC_ALL=C grep -aqP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1"
}

# utf8_ok FILE: is FILE valid UTF-8?
utf8_ok() {
	python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1" 2>/dev/null
}

test_client_text_is_escaped() {
	local evil
	# A newline and a journald priority prefix, a CR, terminal commands (clear
	# the screen, set the title), a C1 CSI, and bytes that are not UTF-8.
	evil=$(printf 'disk full\n<0>FORGED emergency\r\033[2J\033]0;owned\007\302\233 \377\303')
	luod_start
	# good never answers: it stays to hear the ABORTED event (a READY racing the
	# abort would end it).
	client good --size 64K --never-ready preserve
	client bad --size 64K --fail "$evil" preserve
	wait_state good subscribed
	wait_state bad subscribed
	load_kernel
	kexec && fail "kexec succeeded with a failing client"
	wait_state good subscribed
	# bad stays subscribed and fails the next try the same way.
	wait_state bad subscribed
	luoctl --json kexec >"$T/kexec.json" 2>&1 && fail "kexec --json succeeded with a failing client"

	# luod's log: the reason is there, escaped, on the line of its message.
	grep -aq 'FORGED' "$T/luod.1.log" || fail "the reason is not logged: $(cat "$T/luod.1.log")"
	grep -aq '^<0>' "$T/luod.1.log" && fail "a client forged an emergency log line: $(grep -a '<0>' "$T/luod.1.log")"
	grep -av '^<[0-7]>' "$T/luod.1.log" | grep -q . &&
		fail "a log line without priority (a forged line): $(grep -av '^<[0-7]>' "$T/luod.1.log")"
	# (libluo-client sent the bytes that are not UTF-8 as U+FFFD already.)
	grep -aqF "$(printf '%s\357\277\275\357\277\275' 'disk full\n<0>FORGED emergency\r\x1b[2J\x1b]0;owned\x07\u009b ')" \
		"$T/luod.1.log" ||
		fail "the reason is not escaped as expected: $(grep -a FORGED "$T/luod.1.log")"
	has_controls "$T/luod.1.log" && fail "control characters in luod's log"
	utf8_ok "$T/luod.1.log" || fail "luod's log is not UTF-8"

	# luoctl kexec, for people: escaped as well.
	expect_out "$T/kexec.out" 'FORGED'
	has_controls "$T/kexec.out" && fail "luoctl kexec passed control characters to the terminal: $(cat -v "$T/kexec.out")"
	grep -q '^<0>FORGED' "$T/kexec.out" && fail "luoctl kexec printed the forged line"
	utf8_ok "$T/kexec.out" || fail "luoctl kexec printed invalid UTF-8"
	# luoctl kexec --json: valid UTF-8 JSON lines, nothing a terminal obeys.
	expect_out "$T/kexec.json" 'FORGED'
	has_controls "$T/kexec.json" && fail "luoctl --json kexec passed control characters: $(cat -v "$T/kexec.json")"
	utf8_ok "$T/kexec.json" || fail "luoctl --json kexec printed invalid UTF-8"
	grep -a '"event"' "$T/kexec.json" | python3 -c 'import json,sys
for l in sys.stdin: json.loads(l)' || fail "luoctl --json kexec printed invalid JSON: $(cat "$T/kexec.json")"

	# The other client printed the ABORTED reason; the failing one its own.
	for f in "$T/client.good.1.log" "$T/client.bad.1.log"; do
		expect_out "$f" 'FORGED'
		has_controls "$f" && fail "luo-demo printed control characters: $(cat -v "$f")"
	done
	true
}

test_image_version_is_utf8() {
	# The image's version string is the kernel's bytes: ESC, BEL, not UTF-8.
	python3 "$(dirname "${BASH_SOURCE[0]}")/make-bzimage.py" "$T/bzImage"
	printf '7.2\033]0;owned\007\377\303 x\0' | dd of="$T/bzImage" bs=1 seek=1024 conv=notrunc status=none
	luod_start
	luoctl load "$T/bzImage" --cmdline "liveupdate=on" >"$T/load.out" 2>&1 || fail "load failed: $(cat "$T/load.out")"
	has_controls "$T/load.out" && fail "luoctl load printed control characters: $(cat -v "$T/load.out")"
	luoctl --json load "$T/bzImage" --cmdline "liveupdate=on" >"$T/load.json" 2>&1 ||
		fail "load --json failed: $(cat "$T/load.json")"
	luoctl --json status >"$T/status.json" || fail "status failed"
	for f in "$T/load.json" "$T/status.json"; do
		utf8_ok "$f" || fail "$f is not UTF-8: $(cat -v "$f")"
		has_controls "$f" && fail "$f has raw control characters: $(cat -v "$f")"
	done
	[ "$(json_get loaded.version <"$T/status.json")" = "$(printf '7.2\033]0;owned\a\357\277\275\357\277\275 x')" ] ||
		fail "the version is not kept with U+FFFD for the bad bytes: $(json_get loaded.version <"$T/status.json" | cat -v)"
	luoctl status >"$T/status.out" || fail "status failed"
	has_controls "$T/status.out" && fail "luoctl status printed control characters: $(cat -v "$T/status.out")"
	true
}

test_strict_decoder_closes() {
	local line out
	luod_start
	client a --size 64K preserve
	wait_state a subscribed
	# Each one is EBADMSG and closes the connection; none runs VERSION.
	for line in '{"cmd":"VERSION\\u0000x"}' '{"cmd\\u0000x":"VERSION","cmd":"VERSION\\u0000"}' \
		"{'cmd':'VERSION'}" '{"cmd":"VERSION",}' '{"cmd":"VERSION"} // x' '{"cmd":"VERSION" /* x */}' \
		'{"cmd":"VERSION","t":NaN}' '{"cmd":"VERSION","t":Infinity}' '{"cmd":"VERSION","t":01}' \
		'{"cmd":"STATUS","cmd":"VERSION"}' '{"cmd":"VERSION","x":"\xff"}' '{"cmd":"VERSION","x":"\\ud800"}' \
		'{"cmd":"VERSION","x":"a\tb"}' '{"cmd":"VERSION","t":[1,]}'; do
		out=$($TXT_RAW --raw "$line\n")
		[ "$(echo "$out" | tail -n1)" = closed ] || fail "not closed after $line: $out"
		echo "$out" | grep -q '"errname":"EBADMSG"' || fail "no EBADMSG reply to $line: $out"
		echo "$out" | grep -q '"version"' && fail "luod ran $line: $out"
	done
	# luod keeps serving: the subscribed client and new commands.
	[ "$(client_state a)" = subscribed ] || fail "client a lost: $(luoctl list)"
	$TXT_RAW '{"cmd":"VERSION"}' | grep -q '"version":1' || fail "a strict VERSION is refused"
	$TXT_RAW '{"cmd":"SUBSCRIBE","id":"\u0062"}' | grep -q '"id":"b"' || fail "escapes in a strict command are refused"
	kill -0 "$LUOD_PID" || fail "luod died"
	true
}

test_status_at_maxima() {
	local i cmdline
	luod_start
	# 256 clients (LUOD_MAX_SUBS) with 48-character ids, all ready: after the
	# update, 256 sessions are carried over.
	python3 "$TXT_MANY" --count 256 --prefix c --ready-file "$T/many.1" >"$T/many.1.log" 2>&1 &
	BOOT_PIDS+=("$!")
	for _ in $(seq 600); do [ -e "$T/many.1" ] && break; sleep 0.05; done
	[ -e "$T/many.1" ] || fail "256 clients did not subscribe: $(cat "$T/many.1.log")"
	load_kernel
	kexec || fail "kexec with 256 clients failed: $(tail -n 5 "$T/kexec.out")"
	reboot_done
	# And 256 new subscribers next to them, and a kernel with a long command line.
	python3 "$TXT_MANY" --count 256 --prefix d --ready-file "$T/many.2" >"$T/many.2.log" 2>&1 &
	BOOT_PIDS+=("$!")
	for _ in $(seq 600); do [ -e "$T/many.2" ] && break; sleep 0.05; done
	[ -e "$T/many.2" ] || fail "256 clients did not subscribe after the reboot: $(cat "$T/many.2.log")"
	python3 "$(dirname "${BASH_SOURCE[0]}")/make-bzimage.py" "$T/bzImage2" --cmdline-size 4096
	cmdline="liveupdate=on"
	for i in $(seq 400); do cmdline="$cmdline p$i=xxxxx"; done
	luoctl load "$T/bzImage2" --cmdline "${cmdline:0:4000}" >"$T/load.out" 2>&1 ||
		fail "load failed: $(cat "$T/load.out")"

	luoctl list >"$T/list.out" 2>&1 || fail "luoctl list fails at the maxima: $(tail -n 3 "$T/list.out")"
	[ "$(grep -c ' subscribed' "$T/list.out")" = 256 ] || fail "list does not show 256 clients"
	[ "$(grep -c ' unclaimed' "$T/list.out")" = 256 ] || fail "list does not show 256 sessions"
	luoctl --json status >"$T/status.json" 2>&1 || fail "luoctl status --json fails: $(tail -n 3 "$T/status.json")"
	python3 -c 'import json,sys
st = json.load(open(sys.argv[1]))
assert len(st["clients"]) == 256 and len(st["sessions"]) == 256, "counts"
assert all(len(c["id"]) == 48 for c in st["clients"] + st["sessions"]), "ids"
assert len(st["loaded"]["cmdline"]) >= 3900, "cmdline"' "$T/status.json" ||
		fail "status --json is not the full state"
	[ "$(stat -c %s "$T/status.json")" -gt 65536 ] || fail "the state was not larger than a command may be"
	luoctl status >/dev/null || fail "luoctl status fails at the maxima"
	luoctl check >/dev/null 2>&1
	[ $? -le 1 ] || fail "luoctl check cannot read the status at the maxima"
	true
}

test_log_flood_is_limited() {
	local logged suppressed
	luod_start
	# 300 malformed messages from a non-root uid, one connection each.
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c 'import socket,sys
for i in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b"{bad\n")
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    s.close()' "$LUOD_SOCKET" || fail "the flood failed"
	luoctl status >/dev/null || fail "luod stopped serving"
	logged=$(grep -v suppressed "$T/luod.1.log" | grep -c 'closing connection of pid')
	# 10 lines per 5 s and call site: even a slow machine stays far below 300.
	[ "$logged" -lt 100 ] || fail "$logged warnings for 300 bad connections: the log is not limited"
	# The next one after the interval says how many were dropped.
	sleep 5.5
	$TXT_RAW --raw '{bad\n' >/dev/null
	grep -q 'suppressed [0-9]* message(s) like "closing connection' "$T/luod.1.log" ||
		fail "no line says how many were suppressed: $(tail -n 5 "$T/luod.1.log")"
	logged=$(grep -v suppressed "$T/luod.1.log" | grep -c 'closing connection of pid')
	suppressed=$(grep -o 'suppressed [0-9]* message(s) like "closing connection' "$T/luod.1.log" |
		awk '{n += $2} END {print n}')
	[ $((logged + suppressed)) = 301 ] || fail "logged $logged + suppressed $suppressed is not 301"
	note "logged $logged, suppressed $suppressed"
}

# A non-root peer can subscribe and leave at will: the lines that tell so
# are limited for it, never for root's clients.
test_subscribe_flood_log_is_limited() {
	local logged
	luod_start
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c 'import socket,sys
for i in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b"{\"cmd\":\"SUBSCRIBE\",\"id\":\"flood\"}\n")
    if b"\"ok\":true" not in s.recv(4096).replace(b" ", b""):
        sys.exit("SUBSCRIBE refused")
    s.close()' "$LUOD_SOCKET" || fail "the flood failed"
	luoctl status >/dev/null || fail "luod stopped serving"
	eventually '[ "$(client_state flood)" = absent ]' || fail "the flooder's last subscription stayed"
	logged=$(grep -v suppressed "$T/luod.1.log" | grep -c 'client flood \(subscribed\|unsubscribed\)')
	[ "$logged" -lt 100 ] || fail "$logged lines for 300 subscriptions of a non-root peer: the log is not limited"
	[ "$logged" -gt 0 ] || fail "nothing was logged of the subscriptions"
	# Root's clients are all logged, flood or not.
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		client "r$i" --size 8K preserve
	done
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do wait_state "r$i" subscribed; done
	[ "$(grep -c 'client r[0-9]* subscribed' "$T/luod.1.log")" = 12 ] ||
		fail "root's subscriptions were limited: $(grep -c 'client r[0-9]* subscribed' "$T/luod.1.log") of 12 logged"
	note "logged $logged of 600 lines of the flooder"
}
