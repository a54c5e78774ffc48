#!/bin/bash
# Build luo-agent twice: build/ (dynamic, with tests and the test double) and
# build-static/ (static luod, luoctl and demo for the VM initramfs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >&2
ninja -C build >&2
[ -f build-static/build.ninja ] || meson setup build-static -Dstatic_binaries=true -Dtests=false -Dbuildtype=release >&2
ninja -C build-static src/daemon/luod src/ctl/luoctl src/demo/luo-demo >&2
