#!/bin/bash
# Provide a Debian sid root file system with sid's systemd as PID 1, as a
# tarball, and print its path on stdout.
#
#   LUO_SYSTEMD_ROOTFS=/path/root.tar   use this tarball as it is
#   LUO_DEBIAN_MIRROR=URL               the Debian archive (default: the one
#                                       /etc/apt already uses)
#
# Built with bookworm's mmdebstrap (--variant=minbase) from the sid archive;
# mmdebstrap keeps its own apt configuration inside the new root, so the
# system's apt sources are never touched. Cached in
# $LUO_CACHE_DIR/systemd-rootfs (default /var/cache/luo-agent), keyed by the
# package list and the customize step; the archive moves on daily, so a
# cached root is reused until LUO_SYSTEMD_ROOTFS_REFRESH=1 asks for a new one.
# Needs root (mmdebstrap's root mode; the tarball keeps owners and modes).
# Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

cache=${LUO_CACHE_DIR:-/var/cache/luo-agent}
log() { echo "systemd/rootfs.sh: $*" >&2; }
die() { echo "systemd/rootfs.sh: error: $*" >&2; exit 1; }

# PID 1 and its companions (logind needs dbus and libpam-systemd; with logind
# running `systemctl reboot` turns into a kexec when a kernel is loaded),
# kexec-tools, and what luod, luoctl and luo-demo need at run time.
PACKAGES=(systemd systemd-sysv udev dbus libpam-systemd util-linux kexec-tools
	libjson-c5 procps)

if [ -n "${LUO_SYSTEMD_ROOTFS:-}" ]; then
	[ -r "$LUO_SYSTEMD_ROOTFS" ] || die "LUO_SYSTEMD_ROOTFS=$LUO_SYSTEMD_ROOTFS is not readable"
	echo "$LUO_SYSTEMD_ROOTFS"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap root mode, file owners in the image)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (tests/systemd/deps.sh installs it)"

debian_mirror() {
	[ -n "${LUO_DEBIAN_MIRROR:-}" ] && { echo "${LUO_DEBIAN_MIRROR%/}"; return; }
	local m
	m=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		grep -v security | head -n1 | tr -d ' ')
	[ -n "$m" ] || die "cannot find the Debian archive URL in /etc/apt; set LUO_DEBIAN_MIRROR"
	echo "${m%/}"
}

# Settings baked into the cached root (the per-run image adds the project).
customize() {
	local root=$1
	echo luo-vm >"$root/etc/hostname"
	# Root without a password: the console is the test's only door.
	chroot "$root" passwd -d root >/dev/null
	printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
	# A persistent journal, so a boot can read the previous boot's log.
	mkdir -p "$root/var/log/journal"
	# Only the test driver talks on the serial console.
	ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
	ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
	# No network in the VM: nothing waits for it.
	ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
	rm -f "$root/etc/machine-id"
	: >"$root/etc/machine-id"
}

key=$( (printf '%s\n' "${PACKAGES[@]}"; sed -n '/^customize()/,/^}/p' "$0") | sha256sum | cut -c1-16)
dir=$cache/systemd-rootfs
out=$dir/sid-$key.tar
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -f "$out" ] && [ -z "${LUO_SYSTEMD_ROOTFS_REFRESH:-}" ]; then
	echo "$out"
	exit 0
fi

mirror=$(debian_mirror)
log "building a sid root with ${PACKAGES[*]} from $mirror (about a minute)"
tmp=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
inc=$(IFS=,; echo "${PACKAGES[*]}")
nice -n 19 mmdebstrap --mode=root --variant=minbase --include="$inc" \
	--aptopt='Acquire::Check-Valid-Until "false"' \
	--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
	--customize-hook='rm -f "$1"/var/cache/apt/*.bin' \
	sid "$tmp/root" "deb $mirror sid main" >&2 || die "mmdebstrap failed"
customize "$tmp/root"
chroot "$tmp/root" dpkg-query -W -f='${Package} ${Version}\n' systemd linux-libc-dev libc6 2>/dev/null | sed 's/^/systemd\/rootfs.sh: sid has /' >&2 || true
tar -C "$tmp/root" --numeric-owner --xattrs -cf "$out.tmp" . || die "packing the root failed"
mv "$out.tmp" "$out"
log "built $out"
echo "$out"
