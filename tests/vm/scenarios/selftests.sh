# shellcheck shell=dash disable=SC1091,SC2086
# The kernel's own LUO selftests (tools/testing/selftests/liveupdate), built
# static from the same source tree as the kernel:
#   boot 1: `liveupdate` (single-boot kselftest harness), then stage 1 of the
#           two-stage tests (each forks a child that keeps its sessions open),
#           then a kexec with kexec-tools (what their do_kexec.sh does, plus
#           our boot marker on the command line);
#   boot 2: stage 2 of the same tests, which retrieve and verify the data.
. /lib/luo-vm/lib.sh
expect_boots 2
ST=/opt/selftests
TWO_STAGE="luo_kexec_simple luo_multi_session luo_stress_sessions luo_stress_files"
[ -x $ST/liveupdate ] || fail setup "selftests are not in the initramfs"

case $BOOT in
1)
	run_capture $ST/liveupdate || fail check "selftest liveupdate failed"
	totals=$(echo "$RUN_OUT" | grep '# Totals:')
	echo "$totals" | grep -q 'fail:0 .*skip:0 error:0' || fail check "selftest liveupdate: $totals"
	say "selftest liveupdate: ${totals#*# }"
	for t in $TWO_STAGE; do
		run $ST/$t --stage 1 || fail check "selftest $t --stage 1 failed"
	done
	kexec_tools_reboot
	;;
2)
	check_handover 1
	failed=
	for t in $TWO_STAGE; do
		if run_capture $ST/$t --stage 2 && echo "$RUN_OUT" | grep -q 'TEST PASSED'; then
			say "selftest $t: stage 2 passed"
		else
			failed="$failed $t"
		fi
	done
	[ -z "$failed" ] || fail verify "stage 2 failed:$failed"
	pass
	;;
esac
