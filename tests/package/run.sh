#!/bin/bash
# The package tier: what an operator gets from `apt install ./luo-agent_*.deb`.
#   1. dpkg-buildpackage -us -uc -b on a copy of the tree (the files git
#      tracks) builds luo-agent, libluo-client0, libluo-client-dev, luo-demo;
#   2. lintian: no error and no warning;
#   3. each package holds what it should, and nothing lands elsewhere
#      (luod in /usr/sbin, luoctl in /usr/bin, the unit where systemd.pc says);
#      apt could install them here (apt-get -s);
#   4. the unit's ExecStart is the packaged luod, systemd-analyze verify
#      passes in the unpacked root, the postinst enables the unit, and its
#      [Install] section enables it offline;
#   5. in a throwaway root (dpkg -x: no maintainer script runs here) the
#      packaged luod, luoctl and luo-demo run a live update against the host
#      tier's /dev/liveupdate test double, a program built with
#      libluo-client-dev's pkg-config file talks to that luod, and the
#      packaged bash completion completes.
# Prints TAP. BUILD names the build with the test double (default build/);
# KEEP=1 keeps the scratch directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export BUILD=${BUILD:-$repo/build}
n=0 failed=0
work=$(mktemp -d /tmp/luo-package.XXXXXX)
cleanup() { if [ -n "${KEEP:-}" ]; then echo "# kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

result() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - package: $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - package: $2"
	fi
}

# check DESCRIPTION CMD...: one TAP line; the output of CMD as comments if it
# fails.
check() {
	local what=$1 rc
	shift
	"$@" >"$work/check.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] || sed 's/^/# /' "$work/check.log" | tail -n 40
	result $rc "$what"
	return $rc
}

bail() {
	result 1 "$1"
	echo "1..$n"
	exit 1
}

"$here/deps.sh" >"$work/deps.log" 2>&1 || { sed 's/^/# /' "$work/deps.log"; bail "tests/package/deps.sh failed"; }
ver=$(cd "$repo" && dpkg-parsechangelog -S Version) || bail "no version in debian/changelog"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
src=$work/luo-agent-$ver
root=$work/root

# --- 1. build -----------------------------------------------------------------
build() {
	mkdir -p "$src" || return 1
	(cd "$repo" && git ls-files -z | tar --null -T - -cf -) | tar -C "$src" -xf - || return 1
	(cd "$src" && nice -n 10 dpkg-buildpackage -us -uc -b) || return 1
	for p in luo-agent libluo-client0 libluo-client-dev luo-demo; do
		[ -f "$work/${p}_${ver}_$arch.deb" ] || { echo "no ${p}_${ver}_$arch.deb"; return 1; }
	done
	ls "$work"
}
check "dpkg-buildpackage -us -uc -b builds luo-agent, libluo-client0, libluo-client-dev, luo-demo $ver" build ||
	bail "no packages to check"

# --- 2. lintian ---------------------------------------------------------------
lintian_clean() {
	local rc
	lintian -I --fail-on error,warning "$work/luo-agent_${ver}_$arch.changes" 2>&1 |
		grep -v '^running with root privileges is not recommended!$'
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || return 1
	! lintian "$work/luo-agent_${ver}_$arch.changes" 2>/dev/null | grep -q '^[EW]:'
}
if lintian_clean >"$work/lintian.log"; then
	sed 's/^/# /' "$work/lintian.log"
	result 0 "lintian: no errors or warnings"
else
	sed 's/^/# /' "$work/lintian.log"
	result 1 "lintian: no errors or warnings"
fi

# --- 3. contents --------------------------------------------------------------
# holds PACKAGE PATH...: the package has each path, and no file outside
# the paths given (directories aside).
holds() {
	local p=$1 f bad=0
	shift
	dpkg-deb -c "$work/${p}_${ver}_$arch.deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort >"$work/$p.files"
	for f in "$@"; do
		grep -qx -- "$f" "$work/$p.files" || { echo "$p lacks $f"; bad=1; }
	done
	while read -r f; do
		case " $* " in
		*" $f "*) ;;
		*) echo "$p holds an unexpected $f"; bad=1 ;;
		esac
	done <"$work/$p.files"
	return $bad
}
doc() { echo "usr/share/doc/$1/copyright usr/share/doc/$1/changelog.gz"; }
# Every unit of systemd/*.service.in.
units=$(cd "$repo/systemd" && for u in *.service.in; do echo "lib/systemd/system/${u%.in}"; done)
# shellcheck disable=SC2046,SC2086
check "luo-agent: luod in /usr/sbin, luoctl in /usr/bin, the units, man pages, completion" \
	holds luo-agent usr/sbin/luod usr/bin/luoctl $units \
	usr/share/man/man8/luod.8.gz usr/share/man/man8/luoctl.8.gz \
	usr/share/bash-completion/completions/luoctl usr/share/doc/luo-agent/protocol.md $(doc luo-agent)
# shellcheck disable=SC2046
check "libluo-client0: the shared library" \
	holds libluo-client0 "usr/lib/$ma/libluo-client.so.0" "usr/lib/$ma/libluo-client.so.0.1.0" $(doc libluo-client0)
# shellcheck disable=SC2046
check "libluo-client-dev: header, static library, .so link, pkg-config file, luo-client(3)" \
	holds libluo-client-dev usr/include/luo-client.h "usr/lib/$ma/libluo-client.a" "usr/lib/$ma/libluo-client.so" \
	"usr/lib/$ma/pkgconfig/libluo-client.pc" usr/share/man/man3/luo-client.3.gz $(doc libluo-client-dev)
# shellcheck disable=SC2046
check "luo-demo: luo-demo and luo-demo(1)" \
	holds luo-demo usr/bin/luo-demo usr/share/man/man1/luo-demo.1.gz $(doc luo-demo)

# What `apt install ./luo-agent_*.deb ...` would do here, simulated: every
# dependency resolves from the archive and the packages themselves.
apt_install() {
	local p
	apt-get install -s "$work/luo-agent_${ver}_$arch.deb" "$work/libluo-client0_${ver}_$arch.deb" \
		"$work/libluo-client-dev_${ver}_$arch.deb" "$work/luo-demo_${ver}_$arch.deb" >"$work/apt.log" 2>&1 || {
		cat "$work/apt.log"
		return 1
	}
	for p in luo-agent libluo-client0 libluo-client-dev luo-demo; do
		grep -q "^Conf $p ($ver " "$work/apt.log" || { cat "$work/apt.log"; return 1; }
	done
}
check "apt install ./*.deb resolves every dependency (apt-get -s)" apt_install

for p in luo-agent libluo-client0 libluo-client-dev luo-demo; do
	dpkg -x "$work/${p}_${ver}_$arch.deb" "$root" || bail "dpkg -x $p failed"
done
dpkg -e "$work/luo-agent_${ver}_$arch.deb" "$work/control" || bail "dpkg -e luo-agent failed"

# --- 4. the unit --------------------------------------------------------------
unit_execstart() {
	local exec
	exec=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/luod.service")
	echo "ExecStart=$exec"
	[ "$exec" = /usr/sbin/luod ] && [ -x "$root$exec" ]
}
check "luod.service: ExecStart=/usr/sbin/luod, and the package has it" unit_execstart

# systemd's own check of every packaged unit against the unpacked root (its
# commands exist there, the syntax is right); bookworm's systemd 252 warns
# about the keys it predates, which is no failure.
units_verify() {
	local u rc=0 vroot=$work/verify-root
	# The unpacked root has only our units; the targets they are ordered
	# against (sysinit.target, multi-user.target, ...) are systemd's, from
	# this host.
	mkdir -p "$vroot"
	cp -a "$root/." "$vroot/"
	cp -n /lib/systemd/system/*.target "$vroot/lib/systemd/system/" 2>/dev/null || true
	for u in "$vroot"/lib/systemd/system/luo*.service; do
		echo "== $u"
		systemd-analyze verify --man=no --root="$vroot" "$u" || rc=1
	done
	rm -rf "$vroot"
	return $rc
}
check "systemd-analyze verify: every packaged unit, in the unpacked root" units_verify

unit_enabled() {
	grep -q "deb-systemd-helper enable 'luod.service'" "$work/control/postinst" || {
		echo "the postinst does not enable luod.service:"
		cat "$work/control/postinst"
		return 1
	}
	systemctl --root="$root" enable luod.service || return 1
	[ -L "$root/etc/systemd/system/sysinit.target.wants/luod.service" ] || {
		echo "systemctl --root enable made no link:"
		find "$root/etc/systemd" -ls
		return 1
	}
}
check "luod.service: the postinst enables it, and its [Install] section works" unit_enabled

# --- 5. running it ------------------------------------------------------------
luod_version() {
	local out
	out=$("$root/usr/sbin/luod" --version) || return 1
	echo "$out"
	[ "${out%% *}" = luod ] && [ "$(echo "$out" | awk '{ print $2 }')" = "${ver%%-*}" ]
}
check "the packaged luod --version says $ver" luod_version

# A program built with libluo-client-dev's pkg-config file, against the
# unpacked root: it connects to the luod named and says so.
cat >"$work/client.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <luo-client.h>

int main(int argc, char **argv)
{
	struct luo_client *c;
	int r = luo_client_connect(argc > 1 ? argv[1] : NULL, &c);

	if (r < 0) {
		printf("luo_client_connect: %s\n", strerror(-r));
		return 1;
	}
	printf("connected\n");
	luo_client_free(c);
	return 0;
}
EOF
dev_build() {
	local flags
	flags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/lib/$ma/pkgconfig \
		pkg-config --cflags --libs libluo-client) || return 1
	echo "pkg-config: $flags"
	case $flags in *"-I$root/usr/include"*"-L$root/usr/lib/$ma"*) ;; *) return 1 ;; esac
	# shellcheck disable=SC2086
	gcc -Wall -Werror -o "$work/client" "$work/client.c" $flags
}
check "a program builds with libluo-client-dev (pkg-config libluo-client)" dev_build

live_update() {
	# shellcheck source=tests/host/lib.sh
	. "$repo/tests/host/lib.sh"
	# shellcheck disable=SC2034 # lib.sh's luod_start and luoctl run them
	LUOD=$root/usr/sbin/luod LUOCTL=$root/usr/bin/luoctl
	DEMO=$root/usr/bin/luo-demo
	export LD_LIBRARY_PATH=$root/usr/lib/$ma
	if [ ! -x "$FAKE" ] || [ ! -f "$PRELOAD" ]; then
		echo "no test double in $BUILD (build first)"
		return 1
	fi
	(
		machine_start
		trap machine_stop EXIT
		luod_start
		"$work/client" "$LUOD_SOCKET" || fail "the program built with libluo-client-dev cannot talk to luod"
		"$work/client" "$T/none.sock" && fail "the program connected to a socket nobody listens on"
		client a --size 1M --seed 7 preserve
		wait_state a subscribed
		load_kernel
		kexec || fail "kexec failed: $(cat "$T/kexec.out")"
		reboot_done
		luoctl list | grep -q unclaimed || fail "no unclaimed session after the reboot: $(luoctl list)"
		on "$DEMO" --id a --size 1M --seed 7 verify >"$T/verify.out" 2>&1 ||
			fail "verify failed: $(cat "$T/verify.out")"
		expect_out "$T/verify.out" "verified"
		cat "$T/verify.out"
	)
}
check "the packaged luod, luoctl and luo-demo run a live update (test double)" live_update

completion() {
	local out
	out=$(
		# shellcheck disable=SC1091
		. "$root/usr/share/bash-completion/completions/luoctl"
		COMP_WORDS=("$root/usr/bin/luoctl" --json st)
		COMP_CWORD=2
		_luoctl
		echo "${COMPREPLY[*]}"
	)
	echo "luoctl --json st<TAB>: $out"
	[ "$out" = status ]
}
check "the packaged bash completion completes luoctl's commands" completion

echo "1..$n"
[ $failed -eq 0 ]
