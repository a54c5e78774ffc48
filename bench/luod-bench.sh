#!/bin/bash
# Benchmarks: how much of a live update's blackout is luod's (issue 12), on
# the real LUO kernel in the test VM, each against a baseline measured in
# the same run.
#
#   bench/luod-bench.sh [--keep-logs DIR] [barrier] [compose] [memory]   (default: all three)
#   bench/luod-bench.sh --from-logs DIR [...]   print the figures of an earlier run's logs again
#
#   barrier  KEXEC -> REBOOTING through luod with N = 1, 16, 64, 256
#            clients (one 1 MiB memfd each), against one process creating N
#            sessions and preserving N memfds itself in the same boot; then,
#            with 256 sessions carried over, luod's start (exec -> its first
#            reply, so serving CLAIM: it restores before it listens) against
#            fork+exec of a program that does nothing, and luod's peak RSS
#            (VmHWM) during an update of 256 clients and after the reboot.
#            Scenario bench-barrier, 6 boots, 2 GiB guest.
#   compose  one update of 8 clients x 64 MiB cut into its parts: clients
#            preserving, luod's barrier and state save, reboot() to the new
#            kernel's /init, /init to luod's exec, luod's start, claims and
#            verification. Scenario bench-compose, 2 boots, 2 GiB guest.
#   memory   one memfd of 64 MiB, 256 MiB, 1 GiB: the blackout through luod
#            (KEXEC -> claimed and retrieved in the next boot) against one
#            process that preserves it and calls reboot() itself (-> retrieved
#            in the next boot). Scenario bench-memory, 7 boots, 3 GiB guest.
#   diag     (not in the default set) the barrier of `barrier` again
#            without a reboot (KEXEC forced with no kernel loaded: reboot()
#            fails, luod aborts), 3 samples per N in one boot, with luod's
#            CPU time; then luod under `strace -c -f` for one update of 256
#            clients. Scenario bench-diag, 1 boot, 2 GiB guest.
#
# In-guest parts are timed on the guest's CLOCK_MONOTONIC (luo-bench,
# tests/vm/guest/luo-bench.c); what spans the reboot on the host's clock as
# the console lines arrive (tests/vm/run.sh --stamps). QEMU runs without KVM
# here: absolute numbers are slow, the ratios are what to look at. One
# sample per figure (an update is one reboot). Exit 0 when every asked
# benchmark printed its figures, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
keep=
reparse=0
subs=()
while [ $# -gt 0 ]; do
	case $1 in
	--keep-logs) keep=$2; shift 2 ;;
	--from-logs) keep=$2; reparse=1; shift 2 ;;
	barrier | compose | memory | diag) subs+=("$1"); shift ;;
	all) subs+=(barrier compose memory); shift ;;
	-h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2 ;;
	*) echo "luod-bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ ${#subs[@]} -gt 0 ] || subs=(barrier compose memory)

cd "$repo"
if [ "$reparse" = 0 ]; then
	scripts/build.sh >&2 || { echo "luod-bench.sh: scripts/build.sh failed" >&2; exit 1; }
fi
logs=${keep:-$(mktemp -d /tmp/luod-bench.XXXXXX)}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)

# vm SCENARIO MEM: one VM run; console in $logs/SCENARIO.console.log, host
# stamps in $logs/SCENARIO.stamps.
vm() {
	[ "$reparse" = 0 ] || return 0
	rm -f "$logs/$1.stamps"
	tests/vm/run.sh --keep-logs "$logs" --bin-dir "$repo/build-static" --timeout 600 --mem "$2" \
		--stamps "$logs/$1.stamps" "$1" >&2
}
# bench SCENARIO [BOOT]: the BENCH lines (without the prefix), each
# preceded by "boot=N ", from the console log.
bench() {
	awk '/^LUO-VM: BOOT boot=/ { sub(/.*boot=/, ""); b = $1 + 0 }
		/^LUO-VM: BENCH / { sub(/^LUO-VM: BENCH /, ""); print "boot=" b " " $0 }' "$logs/$1.console.log"
}
# field KEY: the value of KEY=VALUE in the words of stdin's first line.
field() { head -n1 | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }
# stamp SCENARIO TEXT: the host's time of the first console line starting with TEXT.
stamp() { awk -v t="$2" 'index(substr($0, index($0, " ") + 1), t) == 1 { print $1; exit }' "$logs/$1.stamps"; }
ms() { awk -v u="$1" 'BEGIN { if (u == "") print "?"; else printf "%.1f", u / 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "?"; else printf "%.2f", a / b }'; }

# median: of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

barrier() {
	local n k l c
	vm bench-barrier 2G || true
	bench bench-barrier >"$logs/barrier.lines"
	grep -q '^boot=4 kexec n=256 ' "$logs/barrier.lines" ||
		{ echo "luod-bench.sh: barrier: no numbers; console log $logs/bench-barrier.console.log" >&2; return 1; }
	echo "barrier: KEXEC -> REBOOTING through luod vs the same kernel work by one process (N sessions, N x 1 MiB memfds preserved; median of 3), same boot"
	printf '  %4s %10s %10s %6s %12s %14s %14s\n' N luod_ms kernel_ms ratio luod_cpu_ms luod_ms/client extra_ms/client
	for n in 1 16 64 256; do
		k=$(grep "^boot=[0-9]* kernel n=$n " "$logs/barrier.lines" | while read -r line; do echo "$line" | field us; done | median)
		l=$(grep "^boot=[0-9]* kexec n=$n " "$logs/barrier.lines" | field us)
		c=$(grep "^boot=[0-9]* cpu n=$n " "$logs/barrier.lines" | field luod_cpu_us)
		printf '  %4s %10s %10s %6s %12s %14s %14s\n' "$n" "$(ms "$l")" "$(ms "$k")" "$(div "$l" "$k")" "$(ms "$c")" \
			"$(ms "$(div "$l" "$n")")" "$(ms "$(awk -v a="$l" -v b="$k" -v n="$n" 'BEGIN { printf "%.0f", (a - b) / n }')")"
	done
	echo "luod start (exec -> first reply) vs fork+exec+exit of a no-op program, same boot"
	printf '  %8s %10s %10s %6s\n' sessions luod_ms noop_ms ratio
	for b in 1 2 3 4 5 6; do
		l=$(grep "^boot=$b start-luod " "$logs/barrier.lines" | field us)
		k=$(grep "^boot=$b start-noop " "$logs/barrier.lines" | field us)
		n=$(echo "0 1 16 64 256 256" | cut -d' ' -f"$b")
		printf '  %8s %10s %10s %6s\n' "$n" "$(ms "$l")" "$(ms "$k")" "$(div "$l" "$k")"
	done
	echo "luod memory (KiB; goal < 4096)"
	grep -E '^boot=[0-9]+ rss ' "$logs/barrier.lines" | sed 's/^boot=\([0-9]*\) rss /  boot \1: /'
}

compose() {
	local line t0 a b t1 hk hr hb he hv p1 p2 p3 p4 p5 p6 total other
	vm bench-compose 2G || true
	bench bench-compose >"$logs/compose.lines"
	line=$(grep '^boot=1 kexec compose ' "$logs/compose.lines" || true)
	t0=$(echo "$line" | field kexec)
	a=$(echo "$line" | field first_sp)
	b=$(echo "$line" | field last_ready)
	t1=$(echo "$line" | field rebooting)
	p5=$(grep '^boot=2 start-luod ' "$logs/compose.lines" | field us)
	line=$(grep '^boot=2 claim compose ' "$logs/compose.lines" || true)
	p6=$(awk -v a="$(echo "$line" | field claim_us)" -v b="$(echo "$line" | field verify_us)" 'BEGIN { print a + b }')
	hk=$(stamp bench-compose "LUO-VM: MARK kexec compose")
	hr=$(stamp bench-compose "LUO-VM: MARK rebooting compose")
	hb=$(stamp bench-compose "LUO-VM: BOOT boot=2")
	he=$(awk -v t="$hb" '$1 > t && index($0, "LUO-VM: MARK luod-exec") { print $1; exit }' "$logs/bench-compose.stamps")
	hv=$(stamp bench-compose "LUO-VM: MARK verified compose")
	if [ -z "$t0" ] || [ -z "$p5" ] || [ -z "$hk" ] || [ -z "$hr" ] || [ -z "$hb" ] || [ -z "$he" ] || [ -z "$hv" ]; then
		echo "luod-bench.sh: compose: figures missing; logs in $logs" >&2
		return 1
	fi
	p1=$((b - a))
	p2=$((a - t0 + t1 - b))
	p3=$(awk -v a="$hr" -v b="$hb" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
	p4=$(awk -v a="$hb" -v b="$he" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
	total=$(awk -v a="$hk" -v b="$hv" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
	other=$((total - p1 - p2 - p3 - p4 - p5 - p6))
	echo "compose: one update of 8 clients x 64 MiB, KEXEC -> all data verified in the new boot"
	printf '  %-52s %10s %7s\n' part ms share
	row() { printf '  %-52s %10s %6s%%\n' "$1" "$(ms "$2")" "$(awk -v a="$2" -v t="$total" 'BEGIN { printf "%.1f", 100 * a / t }')"; }
	row "clients preserving (1st START_PRES. -> last READY)" "$p1"
	row "luod: sessions, barrier, state save (luod's)" "$p2"
	row "reboot() -> the new kernel's /init (host)" "$p3"
	row "/init -> luod exec'd (scenario script, host)" "$p4"
	row "luod: exec -> serving CLAIM (luod's)" "$p5"
	row "claims, retrieval, verification, DONE" "$p6"
	row "other (console lines, process starts)" "$other"
	row "total (host clock)" "$total"
	echo "  luod's own parts: $(ms $((p2 + p5))) ms, $(awk -v a=$((p2 + p5)) -v t="$total" 'BEGIN { printf "%.2f", 100 * a / t }')% of the whole (goal < 5%)"
}

memory() {
	local s d l gd gl
	vm bench-memory 3G || true
	bench bench-memory >"$logs/memory.lines"
	echo "memory: one memfd carried over: through luod (KEXEC -> claimed in the next boot) vs one process preserving it and calling reboot() itself (-> retrieved in the next boot), host clock"
	printf '  %6s %10s %10s %6s %10s   %s\n' size luod_ms direct_ms ratio diff_ms "in-guest: KEXEC->REBOOTING vs preserve"
	for s in 67108864 268435456 1073741824; do
		d=$(awk -v a="$(stamp bench-memory "LUO-VM: MARK direct direct size=$s")" \
			-v b="$(stamp bench-memory "LUO-VM: MARK retrieved direct size=$s")" \
			'BEGIN { if (a == "" || b == "") print ""; else printf "%.0f", (b - a) * 1e6 }')
		l=$(awk -v a="$(stamp bench-memory "LUO-VM: MARK kexec luod size=$s")" \
			-v b="$(stamp bench-memory "LUO-VM: MARK claimed luod size=$s")" \
			'BEGIN { if (a == "" || b == "") print ""; else printf "%.0f", (b - a) * 1e6 }')
		gl=$(grep "kexec luod size=$s " "$logs/memory.lines" | field us)
		gd=$(grep "direct direct size=$s " "$logs/memory.lines" | field preserve_us)
		printf '  %5sM %10s %10s %6s %10s   %s ms vs %s ms\n' $((s >> 20)) "$(ms "$l")" "$(ms "$d")" "$(div "$l" "$d")" \
			"$(ms "$(awk -v a="$l" -v b="$d" 'BEGIN { if (a == "" || b == "") print ""; else print a - b }')")" \
			"$(ms "$gl")" "$(ms "$gd")"
	done
	[ -n "$l" ] || { echo "luod-bench.sh: memory: figures missing; logs in $logs" >&2; return 1; }
}


diag() {
	local n k l c
	LUO_VM_EXTRA_BINS=strace vm bench-diag 2G || true
	bench bench-diag >"$logs/diag.lines"
	grep -q '^boot=1 kexec n=' "$logs/diag.lines" ||
		{ echo "luod-bench.sh: diag: no numbers; console log $logs/bench-diag.console.log" >&2; return 1; }
	echo "diag: the barrier without a reboot (KEXEC forced, no kernel loaded), median of the samples per N, same boot"
	printf '  %4s %10s %10s %6s %12s %14s\n' N luod_ms kernel_ms ratio luod_cpu_ms extra_ms/client
	for n in $(sed -n 's/^boot=1 kexec n=\([0-9]*\) .*/\1/p' "$logs/diag.lines" | sort -n | uniq); do
		k=$(grep "^boot=1 kernel n=$n " "$logs/diag.lines" | while read -r line; do echo "$line" | field us; done | median)
		l=$(grep "^boot=1 kexec n=$n r=" "$logs/diag.lines" | while read -r line; do echo "$line" | field us; done | median)
		c=$(grep "^boot=1 cpu n=$n r=" "$logs/diag.lines" | while read -r line; do echo "$line" | field luod_cpu_us; done | median)
		printf '  %4s %10s %10s %6s %12s %14s\n' "$n" "$(ms "$l")" "$(ms "$k")" "$(div "$l" "$k")" "$(ms "$c")" \
			"$(ms "$(awk -v a="$l" -v b="$k" -v n="$n" 'BEGIN { printf "%.0f", (a - b) / n }')")"
	done
	grep -a '^LUO-VM: STRACE ' "$logs/bench-diag.console.log" | sed 's/^LUO-VM: STRACE /  /' || true
}

rc=0
for s in "${subs[@]}"; do
	case $s in
	barrier) barrier || rc=1 ;;
	compose) compose || rc=1 ;;
	memory) memory || rc=1 ;;
	diag) diag || rc=1 ;;
	esac
done
echo "(logs in $logs)"
exit $rc
