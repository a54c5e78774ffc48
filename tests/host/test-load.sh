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
