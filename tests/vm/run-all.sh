#!/bin/bash
# The whole VM tier, as CI runs it:
#   deps (scripts/deps.sh) -> kernels (tests/vm/kernel.sh: the LUO kernel,
#   7.2 from sid, and the one to upgrade to, 7.3 from trixie-backports) -> builds
#   (scripts/build.sh, plus build-broken/ with a fault-injected luod for the
#   mutation check) -> every scenario (tests/vm/run.sh), TAP on stdout.
# Exit status non-zero on any failure.
#
#   tests/vm/run-all.sh [--keep-logs DIR] [run.sh options] [SCENARIO...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
step() { echo "# run-all: $*"; }
die() { echo "run-all.sh: error: $*" >&2; echo "Bail out! $*"; exit 1; }
elapsed() { echo "$((SECONDS - $1))s"; }

cd "$repo"
t=$SECONDS
step "dependencies (scripts/deps.sh)"
scripts/deps.sh >&2 || die "scripts/deps.sh failed"

t=$SECONDS
step "LUO kernel (tests/vm/kernel.sh; ~10 min if not cached)"
bzimage=$(tests/vm/kernel.sh) || die "tests/vm/kernel.sh failed: no LUO kernel"
step "kernel $bzimage ($(elapsed $t))"
t=$SECONDS
step "kernel to upgrade to (tests/vm/kernel.sh --suite trixie-backports; ~10 min if not cached)"
next=${LUO_BZIMAGE_NEXT:-}
[ -n "$next" ] || next=$(tests/vm/kernel.sh --suite trixie-backports --package linux-source-7.3) ||
	die "tests/vm/kernel.sh --suite trixie-backports failed: no kernel to upgrade to"
step "kernel $next ($(elapsed $t))"

t=$SECONDS
step "build (scripts/build.sh)"
scripts/build.sh >&2 || die "scripts/build.sh failed"
step "built ($(elapsed $t))"

# The mutant: luod with a fault injected (closes the sessions before the
# reboot). Without it the broken-luod check reports not ok.
broken=()
t=$SECONDS
step "build-broken (luod with -Dfault_injection=close-sessions-before-reboot)"
if { [ -f build-broken/build.ninja ] ||
	meson setup build-broken -Dstatic_binaries=true -Dtests=false -Dbuildtype=release \
		-Dfault_injection=close-sessions-before-reboot >&2; } &&
	ninja -C build-broken src/daemon/luod src/ctl/luoctl src/demo/luo-demo >&2; then
	broken=(--broken-bin-dir "$repo/build-broken")
	step "build-broken done ($(elapsed $t))"
else
	step "WARNING: building build-broken failed: broken-luod will fail"
fi

t=$SECONDS
rc=0
tests/vm/run.sh --bzimage "$bzimage" --next-bzimage "$next" --bin-dir "$repo/build-static" "${broken[@]}" "$@" || rc=$?
step "VM scenarios took $(elapsed $t); exit $rc"
exit "$rc"
