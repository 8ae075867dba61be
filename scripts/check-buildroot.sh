#!/usr/bin/env bash
# Run Buildroot's configuration step for each of our defconfigs in a Buildroot checkout the
# caller provides (this script downloads nothing), and check that every symbol the defconfig
# sets survived into the resulting .config (Kconfig silently drops unknown symbols), and that
# BusyBox's configuration with our fragment has what the overlay uses.
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
  # BusyBox as the overlay needs it: Buildroot's default BusyBox configuration with the
  # fragment merged over it (what busybox's configure step does) has syslogd's ring buffer and
  # logread (rootfs-overlay's S01mount starts `syslogd -C256`).
  bb_default="$br/$(sed -n 's/^BR2_PACKAGE_BUSYBOX_CONFIG="\(.*\)"$/\1/p' "$out/.config")"
  frags=$(sed -n 's/^BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES="\(.*\)"$/\1/p' "$out/.config")
  # Kconfig keeps make's variable as written; Buildroot expands it when it merges.
  # shellcheck disable=SC2016 # the variable's literal name
  frags=${frags//'$(BR2_EXTERNAL_RACKHA_PATH)'/$root/buildroot}
  for opt in CONFIG_SYSLOGD CONFIG_FEATURE_IPC_SYSLOG CONFIG_LOGREAD CONFIG_KLOGD; do
    # shellcheck disable=SC2086 # the fragment list is space-separated, as Buildroot reads it
    value=$(grep -hE "^($opt=|# $opt is not set)" "$bb_default" $frags | tail -n 1 || true)
    [ "$value" = "$opt=y" ] || { echo "FAIL: $name: BusyBox $opt is '${value:-absent}' after the fragment (board/common/busybox.fragment)"; dropped=1; }
  done
  if [ "$dropped" -eq 0 ]; then echo "ok: $name configures with the agent package and every symbol kept; BusyBox has syslogd -C, klogd and logread"; else status=1; fi
  rm -rf "$out"
done
exit "$status"
