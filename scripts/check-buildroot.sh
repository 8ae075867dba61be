#!/usr/bin/env bash
# Run Buildroot's configuration step for each of our defconfigs in a Buildroot checkout the
# caller provides (this script downloads nothing), and check that every symbol the defconfig
# sets survived into the resulting .config (Kconfig silently drops unknown symbols).
# Usage: scripts/check-buildroot.sh /path/to/buildroot
set -euo pipefail
br="${1:?usage: $0 BUILDROOT_CHECKOUT}"
root="$(cd "$(dirname "$0")/.." && pwd)"
status=0
for defconfig in "$root"/buildroot/configs/*_defconfig; do
  name="$(basename "$defconfig")"
  out="$(mktemp -d)"
  if ! make -s -C "$br" BR2_EXTERNAL="$root/buildroot" O="$out" "$name" >"$out/log" 2>&1; then
    echo "FAIL: $name: configuration step failed"; tail -20 "$out/log"; status=1; continue
  fi
  dropped=0
  while IFS= read -r sym; do
    if ! grep -q "^$sym=" "$out/.config"; then echo "FAIL: $name: $sym was dropped"; dropped=1; fi
  done < <(grep -oE '^BR2_[A-Z0-9_]+' "$defconfig")
  grep -q '^BR2_PACKAGE_HA_AGENT=y' "$out/.config" || { echo "FAIL: $name: the agent package is not selected"; dropped=1; }
  if [ "$dropped" -eq 0 ]; then echo "ok: $name configures with the agent package and every symbol kept"; else status=1; fi
  rm -rf "$out"
done
exit "$status"
