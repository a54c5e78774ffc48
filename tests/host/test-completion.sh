# shellcheck shell=bash
# luoctl's bash completion (shell-completion/bash/luoctl), driven the way
# bash drives it: COMP_WORDS and COMP_CWORD in, COMPREPLY out.
COMPLETION="$(dirname "${BASH_SOURCE[0]}")/../../shell-completion/bash/luoctl"

# complete_words WORD...: the candidates bash would offer for the last word
# of "luoctl WORD...", sorted, one line, in $T/comp.out.
complete_words() {
	(
		# shellcheck disable=SC1090
		. "$COMPLETION" || exit 1
		COMP_WORDS=("$LUOCTL" "$@")
		COMP_CWORD=$#
		COMPREPLY=()
		_luoctl || exit 1
		printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
	) >"$T/comp.out" 2>&1 || fail "the completion failed: $(cat "$T/comp.out")"
}

# expect_completion WANT WORD...: the candidates are exactly WANT.
expect_completion() {
	local want=$1
	shift
	complete_words "$@"
	[ "$(cat "$T/comp.out")" = "$want" ] ||
		fail "luoctl $* <TAB>: want '$want', got '$(cat "$T/comp.out")'"
}

test_completion_commands_and_options() {
	complete_words ""
	for c in status list load unload kexec abort release reserve unreserve check version; do
		grep -qw -- "$c" "$T/comp.out" || fail "command $c not offered: $(cat "$T/comp.out")"
	done
	grep -q -- "-" "$T/comp.out" && fail "an option offered for a command: $(cat "$T/comp.out")"
	expect_completion "release reserve" re
	expect_completion "status" --json st
	expect_completion "--help --json --socket --version" --socket /x --
	complete_words load --
	for o in --initrd --cmdline --reuse-cmdline --append --dry-run --force --json --socket --help; do
		grep -qw -- "$o" "$T/comp.out" || fail "load's option $o not offered: $(cat "$T/comp.out")"
	done
	grep -qw -- "--timeout" "$T/comp.out" && fail "kexec's --timeout offered for load: $(cat "$T/comp.out")"
	expect_completion "--initrd" load --ini
	expect_completion "--reason" abort --r
	# An option's value that is no file or id: nothing to offer.
	expect_completion "" kexec --timeout ""
}

test_completion_files() {
	mkdir "$T/boot"
	touch "$T/boot/vmlinuz-7.2" "$T/boot/vmlinuz-7.3" "$T/boot/initrd.img-7.3"
	expect_completion "$T/boot/vmlinuz-7.2 $T/boot/vmlinuz-7.3" load "$T/boot/vm"
	expect_completion "$T/boot/initrd.img-7.3" load "$T/boot/vmlinuz-7.3" --initrd "$T/boot/i"
	# load takes one kernel: no second one offered.
	expect_completion "" load "$T/boot/vmlinuz-7.3" "$T/boot/vm"
	expect_completion "$T/kernel.sock" --socket "$T/kernel.s"
}

test_completion_client_ids() {
	luod_start
	client web-1 --size 1M preserve
	client web-2 --size 1M preserve
	client db-1 --size 1M preserve
	wait_state web-1 subscribed
	wait_state web-2 subscribed
	wait_state db-1 subscribed
	expect_completion "db-1 web-1 web-2" release ""
	expect_completion "web-1 web-2" unreserve web
	# Only ids for the command's first argument.
	expect_completion "" release web-1 ""
	# The socket given on the command line is the one asked.
	local sock=$LUOD_SOCKET
	(
		unset LUOD_SOCKET
		expect_completion "" --socket "$T/nothing.sock" release web
		expect_completion "web-1 web-2" --socket "$sock" release web
	) || exit 1
	# After an update: the carried-over sessions' ids.
	load_kernel
	kexec || fail "kexec failed: $(cat "$T/kexec.out")"
	reboot_done
	expect_completion "db-1 web-1 web-2" release ""
	on "$DEMO" --id web-2 --size 1M verify >"$T/verify.out" 2>&1 || fail "verify failed: $(cat "$T/verify.out")"
	expect_completion "db-1 web-1" release ""
}
