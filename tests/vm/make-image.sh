#!/usr/bin/env bash
# Assemble the QEMU TEST IMAGE of the appliance into out/image/ (see docs/image.md: Debian's
# kernel and BusyBox, not Buildroot's, which needs its sources from the internet):
#   disk.img           the flashable disk, board/x86_64/genimage.cfg built with Debian's genimage:
#                      GPT, an EFI system partition (GRUB from grub-efi-amd64-bin, its script
#                      board/x86_64/grub.cfg, its environment block grubenv and its copy grubenv.bak), root slot A (the
#                      slot squashfs below), root slot B (empty), the data partition (empty)
#   slot.squashfs      what a root slot holds: the root below plus /boot/bzImage (Debian's
#                      kernel) and /boot/initramfs.cpio.gz (stage 1 finding the slot by name)
#   vmlinuz            Debian's kernel (linux-image package, unpacked with dpkg-deb, not installed)
#   initramfs.cpio.gz  for -kernel boots: stage 1 (tests/vm/stage1-init, BusyBox, the modules)
#                      and root.squashfs: BusyBox from busybox-static, rootfs-overlay/, the static
#                      agent, the kernel modules the appliance's kernel has built in, and the
#                      test-only files of tests/vm/image-extra/ (passwd, shadow: root, no password)
#   data.ext4          a data partition seeded with docs/examples/witness.toml and its example key
#   root.squashfs      the same root, kept for inspection
# Prints the sizes. Needs: apt-get (Debian archive), dpkg-deb, mksquashfs, mkfs.ext4, cpio, gzip,
# genimage, grub-mkimage, grub-editenv, mkfs.vfat, mcopy.
# Usage: tests/vm/make-image.sh        (HA_AGENT_BIN overrides the agent binary, IMAGE_VERSION
#                                       the release name written into the slot, default from git)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/image
DEBS=$ROOT/out/debs
AGENT=${HA_AGENT_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/ha-agent}
# Drivers that the appliance's kernel has built in (board/*/linux.fragment) and Debian's has as
# modules, in load order: the watchdog first.
MODULES=(i6300esb softdog e1000 virtio_pci virtio_blk crc32c_generic ext4 vfat nls_cp437 nls_ascii)
# What stage 1 loads to find and mount the root: in a slot, the disks (virtio in QEMU, AHCI and
# NVMe on a box) and squashfs; in the -kernel image, squashfs and loop for its root.squashfs.
SLOT_INITRD_MODULES=(virtio_pci virtio_blk ahci sd_mod nvme squashfs)
KERNEL_INITRD_MODULES=(squashfs loop)
VERSION=${IMAGE_VERSION:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)}

fail() { echo "make-image: $*" >&2; exit 1; }
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 1; }
for tool in apt-get dpkg-deb mksquashfs mkfs.ext4 cpio gzip genimage grub-mkimage grub-editenv mkfs.vfat mcopy; do
    command -v "$tool" >/dev/null || fail "$tool missing (make setup)"
done
[ -x "$AGENT" ] || fail "$AGENT missing: run 'make agent' first"
if file -b "$AGENT" | grep -q 'dynamically linked'; then fail "$AGENT is not statically linked"; fi

# Debian packages, downloaded once into out/debs and unpacked, never installed.
mkdir -p "$DEBS"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || fail "cannot resolve linux-image-amd64 (apt-get update?)"
for pkg in "$kpkg" busybox-static; do
    if ! first "$DEBS/${pkg}"_*.deb >/dev/null; then
        (cd "$DEBS" && apt-get download "$pkg" 2>/dev/null) || fail "cannot download $pkg"
    fi
done
rm -rf "$OUT"
mkdir -p "$OUT/work"
W=$OUT/work
kdeb=$(first "$DEBS/${kpkg}"_*.deb)
bdeb=$(first "$DEBS"/busybox-static_*.deb)
dpkg-deb -x "$kdeb" "$W/kernel"
dpkg-deb -x "$bdeb" "$W/busybox"
vmlinuz=$(first "$W"/kernel/boot/vmlinuz-*)
kver=${vmlinuz##*/vmlinuz-}
busybox=$W/busybox/bin/busybox
kmods=$W/kernel/lib/modules/$kver
"$busybox" depmod -b "$W/kernel" "$kver"

# Does this agent know the [watchdog] section? (The lead wires it into the main configuration;
# until then the section would make the agent refuse its configuration.)
probe=$W/probe
mkdir -p "$probe"
printf '00112233445566778899aabbccddeeff\n' > "$probe/k"
chmod 600 "$probe/k"
sed -n '/^\[watchdog\]/,/^$/p' "$ROOT/rootfs-overlay/usr/share/ha-agent/default/agent.toml" > "$probe/wd"
[ -s "$probe/wd" ] || fail "the default agent.toml has no [watchdog] section"
{ sed -e 's#^key_file *=.*#key_file = "k"#' -e 's#^state_dir *=.*#state_dir = "s"#' \
      -e 's#^control_socket *=.*#control_socket = "c"#' "$ROOT/docs/examples/witness.toml"
  echo; cat "$probe/wd"; } > "$probe/a.toml"
if "$AGENT" check-config "$probe/a.toml" > "$probe/out" 2>&1; then
    watchdog_configured=yes
elif grep -qF "unknown key \`watchdog\`" "$probe/out"; then
    watchdog_configured=no
    echo "make-image: WARNING: this agent does not know [watchdog] yet: the test image's" \
         "configurations leave it out, so the agent does not arm the watchdog" >&2
else
    cat "$probe/out" >&2
    fail "the agent rejects the default configuration"
fi

# The root filesystem.
R=$W/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,data,root,var,lib/modules,efi}
cp "$busybox" "$R/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done
cp -a "$ROOT/rootfs-overlay/." "$R/"
cp -a "$ROOT/tests/vm/image-extra/." "$R/"
chmod 600 "$R/etc/shadow"
ln -sfn ../tmp/log "$R/var/log"
ln -sfn ../run "$R/var/run"
ln -sfn ../tmp "$R/var/tmp"
install -m 0755 "$AGENT" "$R/usr/bin/ha-agent"
# The operator's man page and completion, generated from the agent's command table (as the
# packages and the Buildroot package install them).
install -D -m 0644 "$ROOT/packaging/ha-agent.8" "$R/usr/share/man/man8/ha-agent.8"
install -D -m 0644 "$ROOT/packaging/ha-agent.bash-completion" "$R/usr/share/bash-completion/completions/ha-agent"
echo "DATA_DEV=/dev/vda" > "$R/etc/default/ha-data"
if [ "$watchdog_configured" = no ]; then
    sed -i -e '/^# The hardware watchdog/d' -e '/^\[watchdog\]/,/^$/d' \
        "$R/usr/share/ha-agent/default/agent.toml"
fi
cat > "$R/etc/ha-image" <<INFO
IMAGE=qemu-test
VERSION=$VERSION
KERNEL=$kpkg
BUSYBOX=$(basename "$bdeb")
WATCHDOG_CONFIGURED=$watchdog_configured
INFO

# Modules and their dependencies, with a modules.dep for BusyBox modprobe.
add_module() { # DEST_ROOT MODULE
    local rel
    rel=$(grep -E "(^|/)$2\.ko:" "$kmods/modules.dep" | head -1 | cut -d: -f1)
    [ -n "$rel" ] || fail "module $2 not in $kpkg"
    for dep in $rel $(grep -E "^$rel:" "$kmods/modules.dep" | cut -d: -f2); do
        mkdir -p "$1/lib/modules/$kver/$(dirname "$dep")"
        cp "$kmods/$dep" "$1/lib/modules/$kver/$dep"
    done
}
module_tree() { # DEST_ROOT LIST_FILE MODULE...
    local dest=$1 list=$2
    shift 2
    mkdir -p "$dest/lib/modules/$kver" "$(dirname "$list")"
    : > "$list"
    for m in "$@"; do
        add_module "$dest" "$m"
        echo "$m" >> "$list"
    done
    cp "$kmods/modules.builtin" "$kmods/modules.order" "$dest/lib/modules/$kver/"
    "$busybox" depmod -b "$dest" "$kver"
}
module_tree "$R" "$R/etc/modules" "${MODULES[@]}"

mksquashfs "$R" "$OUT/root.squashfs" -comp xz -all-root -noappend -quiet >/dev/null
# The root squashfs keeps file modes; -all-root makes every file owned by root.

# Stage 1 (tests/vm/stage1-init) with the modules it needs; the -kernel image's also holds the
# root as /root.squashfs, disk.img's finds the slot's partition.
initramfs() { # OUT_FILE ROOT_SQUASHFS|- MODULE...
    local I=$W/initramfs out=$1 root=$2
    shift 2
    rm -rf "$I"
    mkdir -p "$I"/{bin,dev,proc,sys,etc,newroot}
    cp "$busybox" "$I/bin/busybox"
    cp "$ROOT/tests/vm/stage1-init" "$I/init"
    chmod 755 "$I/init"
    module_tree "$I" "$I/etc/initrd-modules" "$@"
    mknod -m 600 "$I/dev/console" c 5 1
    [ "$root" = - ] || cp "$root" "$I/root.squashfs"
    (cd "$I" && find . | cpio -o -H newc --quiet -R 0:0 | gzip -9) > "$out"
}
initramfs "$OUT/initramfs.cpio.gz" "$OUT/root.squashfs" "${KERNEL_INITRD_MODULES[@]}"
cp "$vmlinuz" "$OUT/vmlinuz"

# A root slot: the same root with its kernel and initramfs under /boot, so that an update
# replaces all three together (GRUB reads them with its squash4 module).
mkdir -p "$R/boot"
cp "$vmlinuz" "$R/boot/bzImage"
initramfs "$R/boot/initramfs.cpio.gz" - "${SLOT_INITRD_MODULES[@]}"
mksquashfs "$R" "$OUT/slot.squashfs" -comp xz -all-root -noappend -quiet >/dev/null

# The ESP's tree, where Buildroot's grub2 package and board/x86_64/post-build.sh put it:
# efi-part/EFI/BOOT/{BOOTX64.EFI,grub.cfg,grubenv}. GRUB from Debian's grub-efi-amd64-bin with
# only the modules the script needs built in; no shim (no Secure Boot), no network.
G=$W/genimage
mkdir -p "$G/input/efi-part/EFI/BOOT" "$G/root" "$G/tmp"
# The module list is the Buildroot defconfig's (one list for both builds).
grub_modules=$(sed -n 's/^BR2_TARGET_GRUB2_BUILTIN_MODULES_EFI="\(.*\)"$/\1/p' \
    "$ROOT/buildroot/configs/rackha_x86_64_defconfig")
[ -n "$grub_modules" ] || fail "no BR2_TARGET_GRUB2_BUILTIN_MODULES_EFI in rackha_x86_64_defconfig"
# shellcheck disable=SC2086 # one word per module
grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$G/input/efi-part/EFI/BOOT/BOOTX64.EFI" $grub_modules
cp "$ROOT/board/x86_64/grub.cfg" "$G/input/efi-part/EFI/BOOT/grub.cfg"
# The environment block and its second copy, sealed (ha_env_seq first, ha_env_end last: see
# grub.cfg).
env=$G/input/efi-part/EFI/BOOT/grubenv
grub-editenv "$env" create
grub-editenv "$env" set ha_env_seq=1 ha_boot=A "ha_A_version=$VERSION" ha_env_end=1
cp "$env" "$env.bak"
cp "$OUT/slot.squashfs" "$G/input/rootfs.squashfs"
genimage --config "$ROOT/board/x86_64/genimage.cfg" --inputpath "$G/input" \
    --outputpath "$G/output" --rootpath "$G/root" --tmppath "$G/tmp" > "$G/log" 2>&1 \
    || { cat "$G/log" >&2; fail "genimage failed"; }
# cp keeps disk.img sparse (the empty slot and data partition hold no blocks).
cp --sparse=always "$G/output/disk.img" "$OUT/disk.img"

# The seeded data partition (the witness of the examples).
wd_config=$W/witness.toml
cp "$ROOT/docs/examples/witness.toml" "$wd_config"
if [ "$watchdog_configured" = yes ]; then printf '\n' >> "$wd_config"; cat "$probe/wd" >> "$wd_config"; fi
"$ROOT/tests/vm/make-data-disk.sh" "$OUT/data.ext4" "$wd_config" "$ROOT/docs/examples/cluster.key" \
    witness "$ROOT/rootfs-overlay/usr/share/ha-agent/default/interfaces"

cp "$R/etc/ha-image" "$OUT/MANIFEST"
size() { printf '%-22s %10d bytes (%s)\n' "$1" "$(stat -c %s "$OUT/$1")" "$(du -h --apparent-size "$OUT/$1" | cut -f1)"; }
echo "make-image: QEMU test image in $OUT ($kpkg, version $VERSION, watchdog configured: $watchdog_configured)"
size disk.img
# Each partition of disk.img: its size and what it holds.
sector_b=512
while read -r nr start sectors name; do
    case "$name" in
    esp) what="vfat: GRUB $(stat -c %s "$G/input/efi-part/EFI/BOOT/BOOTX64.EFI") bytes, grub.cfg, grubenv, grubenv.bak" ;;
    rootA) what="slot.squashfs, $(stat -c %s "$OUT/slot.squashfs") bytes" ;;
    rootB) what="empty (the first update writes it)" ;;
    data) what="empty (the first boot formats it)" ;;
    *) what="" ;;
    esac
    printf '  partition %s %-6s %10d bytes (%3d MiB) at %d MiB: %s\n' "$nr" "$name" \
        $((sectors * sector_b)) $((sectors * sector_b / 1048576)) $((start * sector_b / 1048576)) "$what"
done < <(partx -g -o NR,START,SECTORS,NAME "$OUT/disk.img")
size slot.squashfs
size vmlinuz
size initramfs.cpio.gz
size root.squashfs
size data.ext4
rm -rf "$W"
