# shellcheck shell=dash disable=SC1091,SC2086,SC2046
# Eight clients, three memfds each, distinct seeds; all verified after the update.
. /lib/luo-vm/lib.sh
expect_boots 2
N="1 2 3 4 5 6 7 8"
args() { echo "--files 3 --size 2M --seed $((1000 + $1))"; }
case $BOOT in
1)
	start_luod
	for i in $N; do start_demo "client-$i" $(args "$i") preserve; done
	for i in $N; do wait_for_state "client-$i" subscribed; done
	luo_load
	luo_kexec_reboot
	;;
2)
	start_luod
	run luoctl list
	for i in $N; do demo_verify "client-$i" $(args "$i"); done
	check_handover 1
	pass "8 clients x 3 files verified"
	;;
esac
