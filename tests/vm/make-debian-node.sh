#!/usr/bin/env bash
# The virtual rack's Debian 12 node image (docs/rack.md, "The Debian nodes"), built from
# Debian's packages with mmdebstrap and the machine's apt sources, cached in
# out/debian-node/<key>/ where <key> hashes every input: the package list, the agent's .deb
# (make packages), this script, the files of tests/vm/debian-node/ and the apt sources. A
# cached image is reused; a changed input builds a new one (and the old ones are removed).
#   vmlinuz, initrd.img  Debian's kernel (the package make-image.sh unpacks for the appliance
#                        test image) and an initramfs (initramfs-tools, MODULES=list: virtio
#                        and ext4, for root=/dev/vda)
#   root.qcow2           the root file system (ext4 in qcow2; each run boots a copy-on-write
#                        overlay of it): systemd, ifupdown, iproute2, resource-agents,
#                        postgresql-15, arping; ha-agent installed with dpkg -i from the .deb,
#                        its unit enabled; tests/vm/debian-node/overlay (the seed, ready,
#                        probe and journal-copy units of the rack); root without a password
#   pgshared.ext4        the shared disk's template: ext4 labelled pgdata holding the
#                        PostgreSQL 15 cluster "main" that the package created (15/main), moved
#                        off the root; its configuration stays in /etc/postgresql/15/main
#   build.txt            what was built, when, how long it took, the sizes
# Prints the build time and the image sizes. Needs root (chroot), mmdebstrap, qemu-img,
# mkfs.ext4.
# Usage: tests/vm/make-debian-node.sh [DEB]   (default: out/packages/ha-agent_<version>_amd64.deb)
#        tests/vm/make-debian-node.sh --print-dir   (the directory of the current inputs' image)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
self="$here/$(basename "$0")"
overlay="$here/debian-node/overlay"
suite=bookworm
# Bound on the image's ext4 root; it holds about 700 MiB.
ROOT_MIB=2048
PGSHARED_MIB=256

fail() { echo "make-debian-node: $*" >&2; exit 1; }

version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$repo/agent/Cargo.toml" | head -n 1)
print_dir=no
if [ "${1:-}" = --print-dir ]; then print_dir=yes; shift; fi
deb=${1:-$repo/out/packages/ha-agent_${version}_amd64.deb}
[ -f "$deb" ] || fail "no package $deb (make packages)"

# The same kernel package as the appliance's test image (tests/vm/make-image.sh).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || fail "cannot resolve linux-image-amd64 (apt-get update)"
pkgs=(systemd systemd-sysv udev dbus ifupdown iproute2 iputils-arping iputils-ping kmod psmisc
      procps e2fsprogs util-linux initramfs-tools "$kpkg" resource-agents postgresql-15 less)

apt_sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -Eq "^[[:space:]]*Suites:(.*[[:space:]])?$suite([[:space:]]|\$)" "$f" ||
       grep -Eq "^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+${suite}[[:space:]]" "$f"; then
        apt_sources+=("$f")
    fi
done
[ ${#apt_sources[@]} -gt 0 ] || fail "no apt source for Debian $suite on this machine"

key=$( {
    echo "$suite ${pkgs[*]} $ROOT_MIB $PGSHARED_MIB"
    sha256sum "$deb" "$self" | cut -d' ' -f1
    (cd "$overlay" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$overlay" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n %a')
    cat "${apt_sources[@]}"
} | sha256sum | cut -c1-16)
cache="$repo/out/debian-node"
out="$cache/$key"
if [ "$print_dir" = yes ]; then echo "$out"; exit 0; fi
if [ -f "$out/build.txt" ]; then
    echo "make-debian-node: cached $out"
    cat "$out/build.txt"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "needs root (mmdebstrap's hooks chroot into the new root)"
for tool in mmdebstrap qemu-img mkfs.ext4 dpkg-deb; do
    command -v "$tool" >/dev/null || fail "$tool missing (make setup)"
done
started=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/make-debian-node.XXXXXX")
cleanup() {
    local m
    for m in "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev"; do
        if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
    done
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
R="$tmp/root"
cp "$deb" "$tmp/ha-agent.deb"

# In the new root, after the packages: the agent from its package, the rack's units, the
# PostgreSQL cluster's data moved to the shared disk's template, a small initramfs.
cat >"$tmp/customize.sh" <<'HOOK'
#!/bin/sh
set -eu
R=$1 overlay=$2 deb=$3 pgout=$4
cp "$deb" "$R/tmp/ha-agent.deb"
chroot "$R" dpkg -i /tmp/ha-agent.deb
rm "$R/tmp/ha-agent.deb"
cp -a "$overlay/." "$R/"
chroot "$R" systemctl enable rack-seed.service rack-ready.service rack-probe.service rack-syslog.service
# Nothing the rack does not use runs: no timers, no getty on the (absent) VGA console.
chroot "$R" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer getty@tty1.service
chroot "$R" passwd -d root
printf 'set enable-bracketed-paste off\n' >>"$R/etc/inputrc"
echo node >"$R/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\nLABEL=hadata /data ext4 defaults 0 2\n' >"$R/etc/fstab"
mkdir -p "$R/data" "$R/srv/pgsql"
chroot "$R" chown postgres:postgres /srv/pgsql
printf 'auto lo\niface lo inet loopback\n' >"$R/etc/network/interfaces"
# The agent owns PostgreSQL now (ocf:heartbeat:pgsql): systemd must never start the cluster.
echo manual >"$R/etc/postgresql/15/main/start.conf"
# Clients come over the LAN (10.10.0.0/24) through the floating address.
echo 'host all all 10.10.0.0/24 trust' >>"$R/etc/postgresql/15/main/pg_hba.conf"
mkdir -p "$pgout/15"
mv "$R/var/lib/postgresql/15/main" "$pgout/15/main"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$R/etc/initramfs-tools/modules"
chroot "$R" update-initramfs -u -k all
HOOK

echo "make-debian-node: mmdebstrap $suite with ${pkgs[*]} and $(basename "$deb") (${apt_sources[*]})"
mkdir -p "$tmp/pgshared"
if ! timeout 3000 mmdebstrap --mode=root --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
        --customize-hook="sh $tmp/customize.sh \"\$1\" $overlay $tmp/ha-agent.deb $tmp/pgshared" \
        "$suite" "$R" "${apt_sources[@]}" >"$tmp/mmdebstrap.log" 2>&1; then
    tail -n 40 "$tmp/mmdebstrap.log" >&2
    fail "mmdebstrap could not build the node's root"
fi
[ -x "$R/usr/sbin/ha-agent" ] || fail "the agent is not installed in the root"
[ -L "$R/etc/systemd/system/multi-user.target.wants/ha-agent.service" ] || fail "ha-agent.service is not enabled"
[ -f "$tmp/pgshared/15/main/PG_VERSION" ] || fail "no PostgreSQL cluster was moved to the shared disk's template"

rm -rf "$out.part"
mkdir -p "$out.part"
vmlinuz=$(find "$R/boot" -name 'vmlinuz-*' | head -n 1)
initrd=$(find "$R/boot" -name 'initrd.img-*' | head -n 1)
{ [ -n "$vmlinuz" ] && [ -n "$initrd" ]; } || fail "no kernel or initramfs in the root's /boot"
cp "$vmlinuz" "$out.part/vmlinuz"
cp "$initrd" "$out.part/initrd.img"
truncate -s "${ROOT_MIB}M" "$tmp/root.ext4"
mkfs.ext4 -q -F -L noderoot -d "$R" "$tmp/root.ext4"
qemu-img convert -f raw -O qcow2 "$tmp/root.ext4" "$out.part/root.qcow2"
truncate -s "${PGSHARED_MIB}M" "$out.part/pgshared.ext4"
mkfs.ext4 -q -F -L pgdata -d "$tmp/pgshared" "$out.part/pgshared.ext4"
used_mib=$(du -sm "$R" | cut -f1)
{
    echo "inputs: $key ($suite; $(basename "$deb"); $kpkg)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started)) s"
    echo "root: ${used_mib} MiB of files; root.qcow2 $(($(stat -c %s "$out.part/root.qcow2") / 1048576)) MiB"
    echo "kernel: $(basename "$vmlinuz") $(($(stat -c %s "$out.part/vmlinuz") / 1024)) KiB; initrd.img $(($(stat -c %s "$out.part/initrd.img") / 1024)) KiB"
    echo "postgres: uid $(chroot "$R" id -u postgres); shared disk template pgshared.ext4 ${PGSHARED_MIB} MiB"
} >"$out.part/build.txt"
rm -rf "$cache"/[0-9a-f]*[0-9a-f]
mv "$out.part" "$out"
echo "make-debian-node: built $out"
cat "$out/build.txt"
