#!/usr/bin/env bash
# Fetch the IETF base MIB modules (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF, SNMPv2-MIB, ...) that
# Debian does not ship, from the npm package net-snmp (lib/mibs/*.mib), into out/mibs/ with
# the .mib suffix removed, as smilint (SMIPATH) and net-snmp's tools (-M) expect.
# Idempotent: does nothing when out/mibs/ already holds SNMPv2-SMI. Usage:
#   scripts/fetch-base-mibs.sh            # into <repo>/out/mibs
#   SMIPATH=out/mibs smilint -l 6 agent/mib/RACK-HA-MIB.txt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/out/mibs}"
if [ -s "$dest/SNMPv2-SMI" ] && [ -s "$dest/SNMPv2-TC" ] && [ -s "$dest/SNMPv2-CONF" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-base-mibs: npm is needed (apt-get install npm)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent net-snmp >/dev/null)
tarball="$(ls "$work"/net-snmp-*.tgz)"
tar -xzf "$tarball" -C "$work"
mkdir -p "$dest.tmp"
count=0
for f in "$work"/package/lib/mibs/*.mib; do
  cp "$f" "$dest.tmp/$(basename "$f" .mib)"
  count=$((count + 1))
done
[ -s "$dest.tmp/SNMPv2-SMI" ] || { echo "fetch-base-mibs: SNMPv2-SMI not in $(basename "$tarball")" >&2; exit 1; }
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "fetch-base-mibs: $count modules from $(basename "$tarball") in $dest"
