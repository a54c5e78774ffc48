# shellcheck shell=bash
# luoctl load/unload/check against the fake kernel: what luod checks before
# kexec_file_load, and what the operator is told.
MKIMG="python3 $(dirname "${BASH_SOURCE[0]}")/make-bzimage.py"

loaded() { fakectl status | sed -n 's/^loaded //p'; }

test_load_checks_the_image() {
	luod_start
	$MKIMG "$T/good"
	$MKIMG "$T/norel" --xloadflags 0x1
	$MKIMG "$T/old" --protocol 0x020b
	$MKIMG "$T/i386" --xloadflags 0x2
	head -c 8192 /dev/urandom >"$T/random"
	: >"$T/empty"
	luoctl load "$T/norel" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 && fail "non-relocatable image loaded"
	expect_out "$T/o" "CONFIG_RELOCATABLE"
	expect_out "$T/o" "ENOEXEC"
	luoctl load "$T/old" --cmdline "x" >"$T/o" 2>&1 && fail "old protocol loaded"
	expect_out "$T/o" "2.12"
	luoctl load "$T/i386" --cmdline "x" >"$T/o" 2>&1 && fail "32-bit image loaded"
	expect_out "$T/o" "64-bit"
	luoctl load "$T/random" --cmdline "x" >"$T/o" 2>&1 && fail "random bytes loaded"
	expect_out "$T/o" "not a bzImage"
	luoctl load "$T/empty" --cmdline "x" >"$T/o" 2>&1 && fail "empty file loaded"
	expect_out "$T/o" "empty"
	luoctl load "$T/missing" --cmdline "x" >"$T/o" 2>&1 && fail "missing file loaded"
	expect_out "$T/o" "$T/missing"
	luoctl load "$T" --cmdline "x" >"$T/o" 2>&1 && fail "a directory loaded"
	[ "$(loaded)" = 0 ] || fail "something was loaded"
	luoctl load "$T/good" --cmdline "$(head -c 2100 /dev/zero | tr '\0' a)" >"$T/o" 2>&1 &&
		fail "a command line longer than cmdline_size loaded"
	expect_out "$T/o" "at most 2016"
	[ "$(loaded)" = 0 ] || fail "something was loaded"
	luoctl load "$T/good" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 || fail "good image: $(cat "$T/o")"
	[ "$(loaded)" = 1 ] || fail "the good image was not loaded"
	expect_out "$T/o" "$(sha256sum "$T/good" | cut -c1-64)"
}

test_load_dry_run_loads_nothing() {
	luod_start
	$MKIMG "$T/good"
	luoctl load "$T/good" --cmdline "liveupdate=on kho=on" --dry-run >"$T/o" 2>&1 || fail "$(cat "$T/o")"
	expect_out "$T/o" "liveupdate=on kho=on"
	[ "$(loaded)" = 0 ] || fail "--dry-run loaded the kernel"
	luoctl --json status | grep -q '"loaded": *null' || fail "status shows a kernel after --dry-run"
}

test_load_cmdline_and_initrds() {
	luod_start
	$MKIMG "$T/good"
	printf 'one' >"$T/i1"
	printf 'two' >"$T/i2"
	luoctl load "$T/good" --initrd "$T/i1" --initrd "$T/i2" --cmdline "quiet foo=1 liveupdate=on kho=on" \
		--append "foo=2 bar" >"$T/o" 2>&1 || fail "$(cat "$T/o")"
	# A parameter given twice keeps its place and takes the last value.
	[ "$(luoctl --json status | json_get loaded.cmdline)" = "quiet foo=2 liveupdate=on kho=on bar" ] ||
		fail "command line: $(luoctl --json status | json_get loaded.cmdline)"
	[ "$(luoctl --json status | json_get loaded.initrd_size)" = 6 ] || fail "initrds not concatenated"
	luoctl load "$T/good" --cmdline "quiet" >"$T/o" 2>&1 || fail "$(cat "$T/o")"
	expect_out "$T/o" "liveupdate=on"
	luoctl unload >/dev/null || fail "unload failed"
	[ "$(loaded)" = 0 ] || fail "unload did not unload"
	fakectl fail-load EPERM >/dev/null
	luoctl load "$T/good" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 && fail "load succeeded with EPERM"
	expect_out "$T/o" "EPERM"
}

test_check_and_changes_behind_luods_back() {
	luod_start
	luoctl check >"$T/o" 2>&1 && fail "check passed with nothing loaded: $(cat "$T/o")"
	expect_out "$T/o" "no kernel is loaded"
	fakectl load >/dev/null
	luoctl check >"$T/o" 2>&1
	expect_out "$T/o" "not the one luod loaded"
	luoctl status >"$T/o" 2>&1
	expect_out "$T/o" "behind luod's back"
	fakectl unload >/dev/null
	load_kernel
	luoctl check >"$T/o" 2>&1 || fail "check failed: $(cat "$T/o")"
	expect_out "$T/o" "no client is subscribed"
	client a --size 64K preserve
	wait_state a subscribed
	luoctl check >"$T/o" 2>&1 || fail "check failed: $(cat "$T/o")"
	expect_out "$T/o" "1 client subscribed"
	[ "$(luoctl --json check | json_get ready)" = True ] || fail "--json check is not ready"
	$MKIMG "$T/k2"
	luoctl load "$T/k2" --cmdline "quiet" >/dev/null 2>&1 || fail "load"
	luoctl check >"$T/o" 2>&1 && fail "check passed with liveupdate=on missing"
	expect_out "$T/o" "lacks liveupdate=on and kho=on"
	fakectl unload >/dev/null
	luoctl status >"$T/o" 2>&1
	expect_out "$T/o" "behind luod's back"
	luoctl check >"$T/o" 2>&1 && fail "check passed after the kernel was unloaded"
	expect_out "$T/o" "no kernel is loaded"
}

# send_load PATH OPEN_FLAGS [EXTRA_LINE]: LOAD with an fd opened by python
# with OPEN_FLAGS (e.g. os.O_PATH), then EXTRA_LINE on the same connection
# without waiting; print every reply line in the order received.
send_load() {
	python3 - "$@" <<'PY'
import json, os, socket, sys
path, flags = sys.argv[1], eval(sys.argv[2], {"os": os})
extra = sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["LUOD_SOCKET"])
s.settimeout(60)
fd = os.open(path, flags)
msg = {"cmd": "LOAD", "kernel": path, "cmdline": "liveupdate=on kho=on", "fds": 1}
socket.send_fds(s, [json.dumps(msg).encode() + b"\n"], [fd])
for l in extra:
    s.sendall(l.encode() + b"\n")
buf, want = b"", 1 + len(extra)
while want:
    d = s.recv(65536)
    if not d:
        break
    buf += d
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        if b'"event"' not in line:
            print(line.decode())
            want -= 1
PY
}

# luod whose running kernel is a synthetic image with the LUO ABI $1.
luod_start_abi() {
	$MKIMG "$T/running" --running --abi "$1"
	LUOD_KERNEL_IMAGE=$T/running luod_start
}

test_load_refuses_another_luo_abi() {
	luod_start_abi "kho-v4 luo-v5 memfd-v2"
	$MKIMG "$T/v6" --abi "kho-v4 luo-v6 memfd-v2"
	$MKIMG "$T/same" --abi "kho-v4 luo-v5 memfd-v2" --compression xz
	$MKIMG "$T/noluo" --abi ""
	$MKIMG "$T/nomemfd" --abi "kho-v4 luo-v5"
	luoctl load "$T/v6" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 && fail "a luo-v6 kernel was loaded"
	expect_out "$T/o" "target kernel speaks luo-v6, this kernel luo-v5: the sessions cannot be handed over"
	expect_out "$T/o" "EPROTONOSUPPORT"
	expect_out "$T/o" "--force"
	[ "$(loaded)" = 0 ] || fail "the luo-v6 kernel is loaded"
	luoctl load "$T/v6" --cmdline "liveupdate=on kho=on" --dry-run >"$T/o" 2>&1 && fail "--dry-run passed luo-v6"
	luoctl load "$T/noluo" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 && fail "a kernel without LUO was loaded"
	expect_out "$T/o" "has no LUO"
	luoctl load "$T/nomemfd" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 &&
		fail "a kernel without memfd preservation was loaded"
	expect_out "$T/o" "no memfd preservation (this kernel speaks memfd-v2)"
	[ "$(loaded)" = 0 ] || fail "something was loaded"

	luoctl load "$T/same" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 || fail "same ABI refused: $(cat "$T/o")"
	expect_out "$T/o" "compatible: both kernels speak kho-v4 luo-v5 memfd-v2"
	grep -q warning "$T/o" && fail "a compatible load warns: $(cat "$T/o")"
	[ "$(luoctl --json status | json_get loaded.abi_check.result)" = compatible ] || fail "status: not compatible"
	[ "$(luoctl --json status | json_get loaded.abi.luo)" = luo-v5 ] || fail "status: no loaded.abi.luo"
	[ "$(luoctl --json status | json_get loaded.abi_check.running_source)" = "image $T/running" ] ||
		fail "running source: $(luoctl --json status | json_get loaded.abi_check.running_source)"
	luoctl check >"$T/o" 2>&1 || fail "check: $(cat "$T/o")"
	expect_out "$T/o" "LUO ABI compatible"

	luoctl load "$T/v6" --cmdline "liveupdate=on kho=on" --force >"$T/o" 2>&1 || fail "--force: $(cat "$T/o")"
	expect_out "$T/o" "loaded anyway (--force): target kernel speaks luo-v6, this kernel luo-v5"
	[ "$(luoctl --json status | json_get loaded.abi_check.forced)" = True ] || fail "status: not forced"
	luoctl check >"$T/o" 2>&1 && fail "check passed with a luo-v6 kernel loaded"
	expect_out "$T/o" "LUO ABI incompatible: target kernel speaks luo-v6, this kernel luo-v5"
	client a --size 64K preserve
	wait_state a subscribed
	kexec && fail "kexec into luo-v6 started"
	expect_out "$T/kexec.out" "refusing the live update: target kernel speaks luo-v6, this kernel luo-v5"
	[ "$(luoctl --json status | json_get state)" = idle ] || fail "an update started"
	[ "$(client_state a)" = subscribed ] || fail "the client was asked to preserve"
	kernel_rebooted && fail "the kernel rebooted"
	kexec --force || fail "kexec --force: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "luo-v6"
	reboot_done
}

test_load_unknown_abi_warns() {
	luod_start
	$MKIMG "$T/k" --abi "kho-v4 luo-v5 memfd-v2"
	luoctl load "$T/k" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 || fail "load: $(cat "$T/o")"
	expect_out "$T/o" "warning: cannot tell whether this kernel can take the sessions over"
	expect_out "$T/o" "running kernel's LUO ABI is unknown"
	[ "$(luoctl --json status | json_get loaded.abi_check.result)" = unknown ] || fail "not unknown"
	luoctl check >"$T/o" 2>&1
	expect_out "$T/o" "warn  abi       LUO ABI not checked"
	# An image without a payload: the target's ABI is unknown.
	$MKIMG "$T/bare"
	$MKIMG "$T/running" --running --abi "kho-v4 luo-v5 memfd-v2"
	kill "$LUOD_PID"
	wait "$LUOD_PID" 2>/dev/null
	LUOD_KERNEL_IMAGE=$T/running luod_start
	luoctl load "$T/bare" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 || fail "bare: $(cat "$T/o")"
	expect_out "$T/o" "the target kernel's LUO ABI is unknown"
	client a --size 64K preserve
	wait_state a subscribed
	kexec || fail "kexec: $(cat "$T/kexec.out")"
	expect_out "$T/kexec.out" "warning: cannot tell whether the loaded kernel can take the sessions over"
	reboot_done
}

test_running_image_must_be_the_running_kernel() {
	# An image of another kernel (its version is not uname's) is not taken.
	$MKIMG "$T/running" --abi "kho-v4 luo-v5 memfd-v2" --version "1.0 (x@y) #1"
	LUOD_KERNEL_IMAGE=$T/running luod_start
	$MKIMG "$T/k" --abi "kho-v4 luo-v6 memfd-v2"
	luoctl load "$T/k" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 || fail "load: $(cat "$T/o")"
	[ "$(luoctl --json status | json_get loaded.abi_check.result)" = unknown ] ||
		fail "another kernel's image was taken for the running one"
}

test_load_does_not_block_the_loop() {
	# The fake kexec_file_load waits at a gate until the test opens it: the
	# LOAD is surely still in progress while the test looks.
	export LUO_FAKE_LOAD_GATE=$T/load-gate
	touch "$T/load-gate"
	luod_start_abi "kho-v4 luo-v5 memfd-v2"
	# 16 MiB of zeros to decompress: work for luod's worker, within its time
	# limit even under valgrind.
	$MKIMG "$T/slow" --abi "kho-v4 luo-v5 memfd-v2" --zeros 16
	luoctl load "$T/slow" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 &
	local lpid=$! seen=
	for _ in $(seq 2000); do
		luoctl --json status >"$T/st" 2>&1 || fail "status failed while loading: $(cat "$T/st")"
		if [ "$(json_get loading.kernel <"$T/st")" = "$T/slow" ]; then
			seen=1
			break
		fi
		kill -0 "$lpid" 2>/dev/null || break
	done
	[ -n "$seen" ] || fail "luod never answered STATUS while a LOAD was in progress"
	# A second LOAD meanwhile is refused, not queued; so is UNLOAD.
	luoctl load "$T/slow" --cmdline "x" >"$T/o2" 2>&1 && fail "a second LOAD ran: $(cat "$T/o2")"
	expect_out "$T/o2" "EBUSY"
	luoctl unload >"$T/o2" 2>&1 && fail "UNLOAD during LOAD"
	expect_out "$T/o2" "LOAD is in progress"
	rm "$T/load-gate"
	wait "$lpid" || fail "the slow load failed: $(cat "$T/o")"
	expect_out "$T/o" "compatible"
	[ "$(loaded)" = 1 ] || fail "not loaded"
	[ "$(luoctl --json status | json_get loading)" = null ] || fail "still loading"
}

test_load_replies_stay_in_order() {
	luod_start_abi "kho-v4 luo-v5 memfd-v2"
	$MKIMG "$T/slow" --abi "kho-v4 luo-v5 memfd-v2" --zeros 200
	# STATUS pipelined behind LOAD on one connection is answered after it.
	send_load "$T/slow" os.O_RDONLY '{"cmd":"STATUS"}' >"$T/o" || fail "send_load"
	head -n1 "$T/o" | grep -q '"sha256"' || fail "first reply is not LOAD's: $(cat "$T/o")"
	sed -n 2p "$T/o" | grep -q '"state"' || fail "second reply is not STATUS's: $(cat "$T/o")"
	sed -n 2p "$T/o" | grep -q '"loading": *null' || fail "STATUS ran before LOAD ended: $(cat "$T/o")"
}

test_load_client_gone_while_loading() {
	luod_start_abi "kho-v4 luo-v5 memfd-v2"
	$MKIMG "$T/slow" --abi "kho-v4 luo-v5 memfd-v2" --zeros 480
	luoctl load "$T/slow" --cmdline "liveupdate=on kho=on" >/dev/null 2>&1 &
	local lpid=$!
	for _ in $(seq 2000); do
		[ "$(luoctl --json status | json_get loading.kernel)" = "$T/slow" ] && break
	done
	kill -9 "$lpid"
	wait "$lpid" 2>/dev/null
	for _ in $(seq 400); do
		[ "$(luoctl --json status | json_get loading)" = null ] && break
		sleep 0.05
	done
	[ "$(loaded)" = 1 ] || fail "the load of a client that left is lost"
	[ "$(luoctl --json status | json_get loaded.kernel)" = "$T/slow" ] || fail "not remembered"
	kill -0 "$LUOD_PID" || fail "luod died"
}

test_load_refuses_o_path_and_non_files() {
	luod_start
	$MKIMG "$T/good"
	send_load "$T/good" os.O_PATH >"$T/o"
	expect_out "$T/o" "O_PATH"
	expect_out "$T/o" '"ok": *false'
	send_load "$T/good" "os.O_WRONLY" >"$T/o"
	expect_out "$T/o" "not open for reading"
	[ "$(loaded)" = 0 ] || fail "loaded through a bad fd"
	mkfifo "$T/fifo"
	timeout 20 "$LUOCTL" load "$T/fifo" --cmdline "x" >"$T/o" 2>&1
	local rc=$?
	[ "$rc" = 124 ] && fail "luoctl load of a FIFO hangs"
	[ "$rc" = 0 ] && fail "a FIFO was loaded"
	expect_out "$T/o" "not a regular file"
	timeout 20 "$LUOCTL" load "$T/good" --initrd "$T/fifo" --cmdline "x" >"$T/o" 2>&1
	rc=$?
	[ "$rc" = 124 ] && fail "luoctl load of a FIFO initrd hangs"
	expect_out "$T/o" "not a regular file"
	# Larger than any kernel image: refused before it is read.
	$MKIMG "$T/huge"
	truncate -s 200M "$T/huge"
	luoctl load "$T/huge" --cmdline "x" >"$T/o" 2>&1 && fail "a 200 MiB image was loaded"
	expect_out "$T/o" "EFBIG"
	# Initrds beyond what the kernel reads (INT_MAX): refused before copying.
	truncate -s 1500M "$T/rd1"
	truncate -s 1500M "$T/rd2"
	luoctl load "$T/good" --initrd "$T/rd1" --initrd "$T/rd2" --cmdline "x" >"$T/o" 2>&1 &&
		fail "3 GB of initrds were loaded"
	expect_out "$T/o" "EFBIG"
	[ "$(loaded)" = 0 ] || fail "something was loaded"
}

# A LOAD and an update exclude each other: luod neither starts an update
# while a kernel is being loaded, nor loads or unloads one while an update
# needs it. The fake kexec_file_load waits at a gate, so this is no race.
test_load_and_update_exclude_each_other() {
	export LUO_FAKE_LOAD_GATE=$T/load-gate
	touch "$T/load-gate"
	luod_start
	$MKIMG "$T/k"
	luoctl load "$T/k" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 &
	local lpid=$!
	eventually '[ -e "$T/load-gate.waiting" ]' || fail "luod never reached kexec_file_load"
	[ "$(luoctl --json status | json_get loading.kernel)" = "$T/k" ] || fail "STATUS does not show the LOAD"
	luoctl kexec --force >"$T/x" 2>&1 && fail "an update started during a LOAD"
	expect_out "$T/x" "EBUSY"
	expect_out "$T/x" "LOAD in progress"
	luoctl load "$T/k" --cmdline "x" >"$T/o2" 2>&1 && fail "a second LOAD ran: $(cat "$T/o2")"
	expect_out "$T/o2" "EBUSY"
	luoctl unload >"$T/o2" 2>&1 && fail "UNLOAD during LOAD"
	expect_out "$T/o2" "LOAD is in progress"
	rm "$T/load-gate"
	wait "$lpid" || fail "the load failed: $(cat "$T/o")"
	[ "$(loaded)" = 1 ] || fail "not loaded"

	# Now an update waits for a client that is stuck preserving.
	touch "$T/gate"
	LUO_FAKE_PRESERVE_GATE=$T/gate client a --size 64K preserve
	wait_state a subscribed
	kexec --timeout 60 &
	local kpid=$!
	wait_state a preparing
	luoctl load "$T/k" --cmdline "liveupdate=on kho=on" >"$T/o" 2>&1 && fail "LOAD during an update"
	expect_out "$T/o" "EBUSY"
	expect_out "$T/o" "live update is in progress"
	luoctl unload >"$T/o" 2>&1 && fail "UNLOAD during an update"
	expect_out "$T/o" "live update is in progress"
	[ "$(loaded)" = 1 ] || fail "the loaded kernel went away during the update"
	rm "$T/gate"
	wait "$kpid" || fail "the update failed: $(cat "$T/kexec.out")"
	reboot_done
	on "$DEMO" --id a --size 64K verify >"$T/v.out" 2>&1 || fail "verify: $(cat "$T/v.out")"
}
