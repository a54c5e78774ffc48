#!/bin/bash
# Install the bookworm packages the package tier needs on top of
# scripts/deps.sh: dpkg-buildpackage and debhelper build the packages (with
# fakeroot; build-essential, systemd's and bash-completion's pkg-config files
# are build dependencies), lintian checks them.
set -euo pipefail
pkgs=(dpkg-dev debhelper fakeroot build-essential lintian systemd bash-completion)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "package/deps.sh: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "package/deps.sh: need root to install packages" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
	{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
