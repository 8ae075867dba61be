#!/usr/bin/env bash
# Validate agent/mib/RACK-HA-MIB.txt with smilint at level 6 (Debian package smitools),
# against the IETF base MIBs fetched by scripts/fetch-base-mibs.sh. Fails on any message.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v smilint >/dev/null || { echo "check-mib: smilint missing: run make setup (package smitools)" >&2; exit 1; }
bash "$root/scripts/fetch-base-mibs.sh"
out="$(SMIPATH="$root/out/mibs" smilint -l 6 "$root/agent/mib/RACK-HA-MIB.txt" 2>&1 || true)"
if [ -n "$out" ]; then
  echo "$out"
  echo "check-mib: smilint -l 6 reported problems in RACK-HA-MIB" >&2
  exit 1
fi
echo "check-mib: RACK-HA-MIB passes smilint -l 6"
