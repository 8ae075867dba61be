#!/usr/bin/env bash
# Build a data partition image (ext4, mkfs.ext4 -d) holding one member's configuration, for
# the QEMU test image (tests/vm/run-member.sh --data). The layout is what S10data seeds on a
# first boot: etc/ha-agent/{agent.toml,cluster.key}, etc/hostname, etc/network/interfaces,
# ha-agent/state. In agent.toml, state_dir and control_socket are rewritten to the image's
# paths (the root is read-only): the first key_file only (the cluster's; a [fence_service]
# key_file stays as written).
# Usage: make-data-disk.sh OUT.ext4 CONFIG.toml KEYFILE HOSTNAME [INTERFACES] [SIZE_MIB]
set -euo pipefail

fail() { echo "make-data-disk: $*" >&2; exit 1; }
[ $# -ge 4 ] || fail "usage: $0 OUT.ext4 CONFIG.toml KEYFILE HOSTNAME [INTERFACES] [SIZE_MIB]"
out=$1 config=$2 key=$3 name=$4
interfaces=${5:-}
size_mib=${6:-64}
command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 missing (apt-get install e2fsprogs)"
[ -r "$config" ] || fail "no configuration $config"
[ -r "$key" ] || fail "no key file $key"

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/etc/ha-agent" "$tree/etc/network" "$tree/ha-agent/state"
sed -e 's#^state_dir *=.*#state_dir = "/data/ha-agent/state"#' \
    -e 's#^control_socket *=.*#control_socket = "/run/ha-agent/control.sock"#' \
    -e '0,/^key_file *=/s#^key_file *=.*#key_file = "/etc/ha-agent/cluster.key"#' \
    "$config" > "$tree/etc/ha-agent/agent.toml"
grep -q '^state_dir' "$tree/etc/ha-agent/agent.toml" ||
    sed -i '1i state_dir = "/data/ha-agent/state"' "$tree/etc/ha-agent/agent.toml"
cp "$key" "$tree/etc/ha-agent/cluster.key"
chmod 600 "$tree/etc/ha-agent/agent.toml" "$tree/etc/ha-agent/cluster.key"
echo "$name" > "$tree/etc/hostname"
if [ -n "$interfaces" ]; then
    cp "$interfaces" "$tree/etc/network/interfaces"
else
    printf 'auto lo\niface lo inet loopback\n' > "$tree/etc/network/interfaces"
fi
rm -f "$out"
truncate -s "${size_mib}M" "$out"
mkfs.ext4 -q -F -L hadata -d "$tree" "$out" "${size_mib}M"
