#!/bin/bash
# Install the bookworm packages the systemd tier needs on top of
# scripts/deps.sh: mmdebstrap builds the sid root file system, e2fsprogs packs
# it into an ext4 image (mkfs.ext4 -d), debian-archive-keyring checks sid's
# signatures. Nothing from sid is installed on the host.
set -euo pipefail
pkgs=(mmdebstrap e2fsprogs debian-archive-keyring)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "systemd/deps.sh: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "systemd/deps.sh: need root to install packages" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
	{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
