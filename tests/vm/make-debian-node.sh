#!/usr/bin/env bash
# The virtual rack's Debian 12 node image (docs/rack.md, "The Debian nodes"), built from
# Debian's packages with mmdebstrap and the machine's apt sources, in two cached steps:
#   out/debian-node/base-<base key>.tar  mmdebstrap's root (the package list below, and
#        tests/vm/debian-node/base.sh run in it); the key hashes the package list, base.sh,
#        mmdebstrap's version and the apt sources
#   out/debian-node/<key>/  the node image: that root, the agent's .deb (make packages)
#        installed with dpkg -i, tests/vm/debian-node/overlay; the key hashes the base key,
#        the .deb, this script and the overlay's files
# A cached step is reused; a changed input builds it again (and the old one is removed).
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
# VARIANT=pacemaker (docs/rack.md, "The Pacemaker nodes"): the same image plus Debian's
# pacemaker and corosync, cached apart in out/debian-node-pacemaker/ (its own base and key; the
# agent's image and its base keep theirs); ha-agent.service is disabled there (the package is
# installed for /usr/sbin/fence_rackha), and tests/vm/debian-node/overlay-pacemaker is copied
# over the overlay (its seed, ready units: Corosync's and Pacemaker's files from the seed disk).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
self="$here/$(basename "$0")"
overlay="$here/debian-node/overlay"
variant=${VARIANT:-agent}
case $variant in
    agent) overlays=("$overlay"); cache_name=debian-node ;;
    pacemaker) overlays=("$overlay" "$here/debian-node/overlay-pacemaker"); cache_name=debian-node-pacemaker ;;
    *) echo "make-debian-node: VARIANT=$variant: agent or pacemaker" >&2; exit 2 ;;
esac
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
# Pacemaker's variant: Debian's cluster stack and its tools (pacemaker-cli-utils: cibadmin, crm_mon,
# stonith_admin), without its other Recommends: fence-agents is not
# needed, the fence agent is the ha-agent package's fence_rackha).
if [ "$variant" = pacemaker ]; then pkgs+=(pacemaker pacemaker-cli-utils corosync); fi

mapfile -t apt_sources < <(bash "$repo/scripts/debian-apt-sources.sh" "$suite")
[ ${#apt_sources[@]} -gt 0 ] || fail "no apt source for Debian $suite on this machine"

base_key=$( {
    echo "$suite ${pkgs[*]} $(mmdebstrap --version)"
    sha256sum "$here/debian-node/base.sh" | cut -d' ' -f1
    cat "${apt_sources[@]}"
} | sha256sum | cut -c1-16)
key=$( {
    echo "$base_key $ROOT_MIB $PGSHARED_MIB"
    sha256sum "$deb" "$self" | cut -d' ' -f1
    for o in "${overlays[@]}"; do
        (cd "$o" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        (cd "$o" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n %a')
    done
} | sha256sum | cut -c1-16)
cache="$repo/out/$cache_name"
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

# 1. The base: Debian's packages and tests/vm/debian-node/base.sh, a tarball cached by its own
# key (a new agent or a changed overlay does not run mmdebstrap again).
base="$cache/base-$base_key.tar"
mkdir -p "$cache"
if [ -f "$base" ]; then
    echo "make-debian-node: base root cached: $(basename "$base")"
else
    echo "make-debian-node: mmdebstrap $suite with ${pkgs[*]} (${apt_sources[*]})"
    rm -f "$cache"/base-*.tar "$cache"/base-*.tar.part
    if ! timeout 3000 mmdebstrap --mode=root --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
            --customize-hook="sh $here/debian-node/base.sh \"\$1\"" --format=tar \
            "$suite" "$base.part" "${apt_sources[@]}" >"$tmp/mmdebstrap.log" 2>&1; then
        tail -n 40 "$tmp/mmdebstrap.log" >&2
        fail "mmdebstrap could not build the node's base root"
    fi
    mv "$base.part" "$base"
    echo "make-debian-node: base root built in $((SECONDS - started)) s ($(($(stat -c %s "$base") / 1048576)) MiB)"
fi

# 2. The node: the agent from its package, the rack's units, the PostgreSQL cluster's data
# moved to the shared disk's template.
mkdir "$R"
tar -xf "$base" -C "$R" --numeric-owner
cp "$deb" "$R/tmp/ha-agent.deb"
chroot "$R" dpkg -i /tmp/ha-agent.deb >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i $(basename "$deb") failed"; }
rm "$R/tmp/ha-agent.deb"
for o in "${overlays[@]}"; do cp -a "$o/." "$R/"; done
chroot "$R" systemctl enable rack-seed.service rack-ready.service rack-probe.service rack-syslog.service 2>/dev/null
if [ "$variant" = pacemaker ]; then
    # Pacemaker owns the group here; the agent's package only provides fence_rackha.
    chroot "$R" systemctl disable ha-agent.service 2>/dev/null
    chroot "$R" systemctl enable corosync.service pacemaker.service 2>/dev/null
fi
# cluster-glue's logging daemon (a dependency of resource-agents) is not used: the agents log
# to the journal through ha-agent.
chroot "$R" systemctl mask logd.service 2>/dev/null
mkdir -p "$tmp/pgshared/15"
mv "$R/var/lib/postgresql/15/main" "$tmp/pgshared/15/main"
[ -x "$R/usr/sbin/ha-agent" ] || fail "the agent is not installed in the root"
if [ "$variant" = pacemaker ]; then
    [ ! -e "$R/etc/systemd/system/multi-user.target.wants/ha-agent.service" ] || fail "ha-agent.service is enabled"
    [ -x "$R/usr/sbin/fence_rackha" ] || fail "no /usr/sbin/fence_rackha in the root"
    for tool in corosync pacemakerd cibadmin crm_mon stonith_admin; do
        [ -x "$R/usr/sbin/$tool" ] || fail "$tool is not installed in the root"
    done
    [ -L "$R/etc/systemd/system/multi-user.target.wants/pacemaker.service" ] || fail "pacemaker.service is not enabled"
else
    [ -L "$R/etc/systemd/system/multi-user.target.wants/ha-agent.service" ] || fail "ha-agent.service is not enabled"
fi
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
    echo "inputs: $key (variant $variant; base $base_key: $suite, $kpkg; $(basename "$deb"))"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started)) s"
    echo "root: ${used_mib} MiB of files; root.qcow2 $(($(stat -c %s "$out.part/root.qcow2") / 1048576)) MiB"
    echo "kernel: $(basename "$vmlinuz") $(($(stat -c %s "$out.part/vmlinuz") / 1024)) KiB; initrd.img $(($(stat -c %s "$out.part/initrd.img") / 1024)) KiB"
    echo "postgres: uid $(chroot "$R" id -u postgres); shared disk template pgshared.ext4 ${PGSHARED_MIB} MiB"
} >"$out.part/build.txt"
find "$cache" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9a-f]*' -exec rm -rf {} +
mv "$out.part" "$out"
echo "make-debian-node: built $out"
cat "$out/build.txt"
