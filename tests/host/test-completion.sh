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

# Commands and options luoctl may grow: the completion reads them from the
# help, so a luoctl whose help has them gets them completed.
test_completion_follows_the_help() {
	cat >"$T/luoctl" <<'STUB'
#!/bin/bash
case "$*" in
"--help")
	printf 'Usage: luoctl [--socket PATH] [--json] COMMAND [ARGS]\n\nCommands:\n'
	printf '  status    Show the state\n  help      Show help\n  wait      Wait for clients\n'
	printf '  kexec     Run a live update\n\nOptions:\n  --socket PATH  the socket\n  --json         JSON\n'
	;;
"help --help") printf 'Usage: luoctl help [CMD]\n\nOptions:\n  -h, --help        show this help\n' ;;
"wait --help")
	printf 'Usage: luoctl [--socket PATH] [--json] wait [--subscribed ID]... [--claimed] [--timeout SECONDS]\n\n'
	printf 'Options:\n  --subscribed ID   until ID subscribed\n  --claimed         until claimed\n'
	printf '  --timeout SECONDS at most\n  -h, --help        show this help\n'
	;;
"kexec --help") printf 'Usage: luoctl kexec [--require ID...]\n\nOptions:\n  --require ID...   refuse unless subscribed\n' ;;
"list") printf 'ID     PID  UID  STATE       SESSION\nvm-7   1    0    subscribed  -\n' ;;
*) exit 2 ;;
esac
STUB
	chmod +x "$T/luoctl"
	LUOCTL=$T/luoctl
	expect_completion "help kexec status wait" ""
	expect_completion "help kexec status wait" help ""
	expect_completion "--claimed --help --subscribed --timeout" wait --
	expect_completion "vm-7" wait --subscribed ""
	expect_completion "vm-7" wait --subscribed vm-7 --subscribed v
	expect_completion "" wait --timeout ""
	expect_completion "--claimed" wait --timeout 30 --cl
	expect_completion "vm-7" kexec --require ""
}
