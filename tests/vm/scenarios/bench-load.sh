# shellcheck shell=dash disable=SC1091,SC2086
# Benchmark, not a test (not in run.sh's default list; run by
# bench/load-vs-kexec.sh): in one boot, with the same image and initrd,
# time N loads (and unloads) with `luoctl load` and with kexec-tools'
# `kexec -s -l` (kexec_file_load too), interleaved, and print the medians:
#   LUO-VM: BENCH luoctl load: 41.0 ms, kexec -s -l: 38.0 ms, ratio 1.08 (median of 10)
# N: luo_bench_n= on the kernel command line (default 10).
. /lib/luo-vm/lib.sh
expect_boots 1
N=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^luo_bench_n=//p' | tail -n1)
N=${N:-10}
need_bins luo-vm-timeit kexec
start_luod
make_next_initrd
K=$KERNEL_IMAGE
X=$NEXT_INITRD
T=/run/bench
mkdir -p $T
rm -f $T/*

luoctl_load() { luoctl load "$K" --initrd "$X" --reuse-cmdline >/dev/null; }
kexec_load() { kexec -s -l "$K" --initrd="$X" --reuse-cmdline; }

# timed NAME CMD...: run CMD under luo-vm-timeit into $T/NAME; fail on error.
timed() {
	local name=$1 rc=0
	shift
	luo-vm-timeit "$T/$name" "$@" >$T/out 2>&1 || rc=$?
	[ "$rc" = 0 ] || { prefix <$T/out; fail check "bench: $* exited $rc"; }
}
expect_loaded() {
	[ "$(cat /sys/kernel/kexec_loaded)" = "$1" ] || fail check "bench: /sys/kernel/kexec_loaded is not $1 after $2"
}
one_luoctl() {
	timed luoctl-load luoctl load "$K" --initrd "$X" --reuse-cmdline
	expect_loaded 1 "luoctl load"
	timed luoctl-unload luoctl unload
	expect_loaded 0 "luoctl unload"
}
one_kexec() {
	timed kexec-load kexec -s -l "$K" --initrd="$X" --reuse-cmdline
	expect_loaded 1 "kexec -s -l"
	timed kexec-unload kexec -s -u
	expect_loaded 0 "kexec -s -u"
}

# Page cache and first-use costs out of the way: read both files, one
# untimed load and unload of each kind.
cat "$K" "$X" >/dev/null
luoctl_load || fail check "bench: warm-up luoctl load failed"
luoctl unload >/dev/null || fail check "bench: warm-up luoctl unload failed"
kexec_load || fail check "bench: warm-up kexec -s -l failed"
kexec -s -u || fail check "bench: warm-up kexec -s -u failed"
expect_loaded 0 "the warm-up"
say "bench: $N iterations, kernel $K ($(wc -c <"$K") bytes), initrd $X ($(wc -c <"$X") bytes)"

i=1
while [ $i -le "$N" ]; do
	# Interleaved, alternating which goes first.
	if [ $((i % 2)) = 1 ]; then one_luoctl; one_kexec; else one_kexec; one_luoctl; fi
	i=$((i + 1))
done

# median FILE: of the microsecond samples, in ms with one decimal.
median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f", m / 1000 }'
}
for f in luoctl-load kexec-load luoctl-unload kexec-unload; do
	echo "LUO-VM: BENCH samples $f (us): $(tr '\n' ' ' <$T/$f)"
done
ll=$(median $T/luoctl-load)
kl=$(median $T/kexec-load)
lu=$(median $T/luoctl-unload)
ku=$(median $T/kexec-unload)
ratio=$(awk -v a="$ll" -v b="$kl" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
uratio=$(awk -v a="$lu" -v b="$ku" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "LUO-VM: BENCH luoctl load: $ll ms, kexec -s -l: $kl ms, ratio $ratio (median of $N)"
echo "LUO-VM: BENCH luoctl unload: $lu ms, kexec -s -u: $ku ms, ratio $uratio (median of $N)"
pass "bench: $N iterations"
