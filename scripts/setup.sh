#!/usr/bin/env bash
# Idempotent setup for `make test` and `make demo` on a fresh Debian machine.
set -euo pipefail
need_pkgs=()
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v file >/dev/null || need_pkgs+=(file)
# The appliance's test image (make image, make test-image) and the shell script check.
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v qemu-img >/dev/null || need_pkgs+=(qemu-utils)
command -v shellcheck >/dev/null || need_pkgs+=(shellcheck)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v mkfs.ext4 >/dev/null || need_pkgs+=(e2fsprogs)
command -v mksquashfs >/dev/null || need_pkgs+=(squashfs-tools)
command -v dpkg-deb >/dev/null || need_pkgs+=(dpkg)
# The static agent is linked against musl (make agent, docs/design.md "Binary size").
command -v musl-gcc >/dev/null || need_pkgs+=(musl-tools)
# The flashable disk (make image: disk.img) and its boot as hardware does (make test-image):
# genimage, GRUB for EFI, the ESP's vfat, UEFI firmware for QEMU.
command -v genimage >/dev/null || need_pkgs+=(genimage)
[ -d /usr/lib/grub/x86_64-efi ] || need_pkgs+=(grub-efi-amd64-bin)
command -v grub-editenv >/dev/null || need_pkgs+=(grub-common)
command -v mkfs.vfat >/dev/null || need_pkgs+=(dosfstools)
command -v mcopy >/dev/null || need_pkgs+=(mtools)
[ -f /usr/share/OVMF/OVMF_CODE.fd ] || need_pkgs+=(ovmf)
# The servers' packages (make packages, make test-packages): rpmbuild, and mmdebstrap for the
# Debian root file system they are installed in (its own systemd-analyze verifies the unit).
command -v rpmbuild >/dev/null || need_pkgs+=(rpm)
command -v mmdebstrap >/dev/null || need_pkgs+=(mmdebstrap)
# SNMP: the real receiver for the notification tests, the tools for golden vectors, smilint
# for the MIB, npm to fetch the IETF base MIBs Debian does not ship.
command -v snmptrapd >/dev/null || need_pkgs+=(snmptrapd)
command -v tmux >/dev/null || need_pkgs+=(tmux)
command -v snmptrap >/dev/null || need_pkgs+=(snmp)
command -v smilint >/dev/null || need_pkgs+=(smitools)
command -v npm >/dev/null || need_pkgs+=(npm)
command -v python3 >/dev/null || need_pkgs+=(python3)
# Debian's unmodified OCF resource agents: the node examples (check-config runs their
# meta-data), the OCF runner's tests and the PostgreSQL process test (make test-pgsql), with
# PostgreSQL 15 and what the Filesystem agent insists on finding (modprobe, fuser).
[ -x /usr/lib/ocf/resource.d/heartbeat/pgsql ] || need_pkgs+=(resource-agents)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_pkgs+=(postgresql-15)
[ -x /usr/sbin/modprobe ] || need_pkgs+=(kmod)
command -v fuser >/dev/null || need_pkgs+=(psmisc)
command -v xmllint >/dev/null || need_pkgs+=(libxml2-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# The fence agent's tests (docs/fence-agent.md): fence-agents' metadata schema, and Pacemaker
# (its CLI pulls in pacemaker and corosync), which make test-fence-pacemaker runs in private
# namespaces only. Their packages would start corosync and pacemaker on a host with systemd:
# a policy-rc.d that refuses every start keeps them stopped while they are installed.
fence_pkgs=()
[ -f /usr/share/cluster/relaxng/metadata.rng ] || fence_pkgs+=(fence-agents)
command -v stonith_admin >/dev/null || fence_pkgs+=(pacemaker-cli-utils)
command -v pacemakerd >/dev/null || fence_pkgs+=(pacemaker)
command -v corosync >/dev/null || fence_pkgs+=(corosync)
if [ ${#fence_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${fence_pkgs[*]} (services not started)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${fence_pkgs[@]}" >/dev/null || rc=$?
  if [ "$made_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
  [ "$rc" = 0 ] || { echo "setup: installing ${fence_pkgs[*]} failed"; exit 1; }
fi
# The test image downloads Debian's kernel and busybox-static with apt-get download, which
# needs the package lists.
if ! apt-cache policy linux-image-amd64 2>/dev/null | grep -q "Candidate: [0-9]"; then
  echo "setup: apt-get update (package lists for the test image)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked --quiet
fi
if ! rustup toolchain list | grep -q nightly; then
  echo "setup: the nightly toolchain is needed for cargo fuzz"; exit 1
fi
# make agent rebuilds std with nightly for size (docs/design.md, "Binary size"); without
# rust-src it falls back to the larger stable build.
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || echo "setup: rust-src for nightly unavailable; make agent will use the stable build"
bash "$(dirname "$0")/fetch-base-mibs.sh" >/dev/null
echo "setup: ok"
