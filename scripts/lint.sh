#!/bin/bash
# The shape rules the style tier checks besides clang-format, as TAP: no
# function in src/ (unit tests aside) over 80 lines, no .c file of luod over
# 600. A function runs from its opening to its closing brace, both in
# column 0 (kernel style).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
max_func=80 max_file=600 n=0 rc=0

# "LINES FILE:LINE NAME()" for every function of the files given.
func_lengths() {
	awk '
	FNR == 1 { sig = ""; start = 0 }
	/^[A-Za-z_].*\(/ && !/;[[:space:]]*$/ { sig = $0; sigline = FNR }
	/^\{/ && sig != "" { start = FNR; next }
	/^\}/ && start {
		name = sig; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
		printf "%d %s:%d %s()\n", FNR - start + 1, FILENAME, sigline, name
		start = 0; sig = ""
	}' "$@"
}

for f in $(git ls-files 'src/*.c' | grep -v '/test-'); do
	n=$((n + 1))
	long=$(func_lengths "$f" | awk -v max=$max_func '$1 > max { printf " %s (%d lines)", $3, $1 }')
	top=$(func_lengths "$f" | sort -rn | head -1)
	if [ -z "$long" ]; then
		echo "ok $n - function length: $f (longest: ${top:-none})"
	else
		echo "not ok $n - function length: $f:$long; at most $max_func"
		rc=1
	fi
done

for f in $(git ls-files 'src/daemon/*.c'); do
	n=$((n + 1))
	len=$(wc -l <"$f")
	if [ "$len" -le $max_file ]; then
		echo "ok $n - file size: $f: $len lines"
	else
		echo "not ok $n - file size: $f: $len lines (at most $max_file)"
		rc=1
	fi
done
echo "1..$n"
exit $rc
