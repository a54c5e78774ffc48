# shellcheck shell=dash disable=SC1091,SC2086
# A client written only from the upstream README's protocol (static C, no
# libluo-client, never says DONE) across two chained updates: it claims,
# retrieves and FINISHes its session, disconnects, subscribes again, and the
# next `luoctl kexec` (without --force) is not blocked by its session.
. /lib/luo-vm/lib.sh
expect_boots 3
RC="luo-readme-client --id readme --size 8388608"

start_rc() {
	say "starting $RC $*"
	$RC "$@" >>/run/rc.log 2>&1 &
	echo $! >/run/rc.pid
}
rc_log() { sed 's/^/LUO-VM: rc | /' /run/rc.log; }
wait_rc() {
	local i=0
	while [ $i -lt 600 ]; do
		grep -q "$1" /run/rc.log && return 0
		kill -0 "$(cat /run/rc.pid)" 2>/dev/null || { rc_log; fail "$2" "luo-readme-client exited before: $1"; }
		sleep 0.1
		i=$((i + 1))
	done
	rc_log
	fail "$2" "luo-readme-client never said: $1"
}

need_bins luo-readme-client
case $BOOT in
1)
	start_luod
	start_rc --gen 1
	wait_for_state readme subscribed
	luo_load
	luo_kexec_reboot --timeout 60
	;;
2)
	start_luod
	check_handover 1
	start_rc --gen 2 --claim
	wait_rc "verified generation 1" verify
	wait_for_state readme subscribed
	run luoctl list
	# Claimed and left without DONE: "left", not "unclaimed".
	luoctl list | grep -q unclaimed && fail check "the README client's finished session still counts as unclaimed"
	luo_load
	luo_kexec_reboot --timeout 60
	;;
3)
	start_luod
	check_handover 2
	expect_updates 2
	start_rc --gen 3 --claim
	wait_rc "verified generation 2" verify
	rc_log
	pass "README-only client across 2 chained updates"
	;;
esac
