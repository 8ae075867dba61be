#!/bin/sh
# Generic x86-64 box: the ESP's tree for genimage.cfg (GRUB's script and its environment block:
# slot A boots, nothing on trial), the release name the update command shows, then the common
# steps. The kernel is in the root (/boot/bzImage, BR2_LINUX_KERNEL_INSTALL_TARGET): each root
# slot carries its own.
set -e
board_dir=$(dirname "$0")
target=$1
version=${HA_IMAGE_VERSION:-$(date -u +%Y%m%d%H%M)}
editenv=grub-editenv
[ -x "$HOST_DIR/bin/grub-editenv" ] && editenv=$HOST_DIR/bin/grub-editenv
mkdir -p "$BINARIES_DIR/efi-part/EFI/BOOT"
cp "$board_dir/grub.cfg" "$BINARIES_DIR/efi-part/EFI/BOOT/grub.cfg"
rm -f "$BINARIES_DIR/efi-part/EFI/BOOT/grubenv"
"$editenv" "$BINARIES_DIR/efi-part/EFI/BOOT/grubenv" create
"$editenv" "$BINARIES_DIR/efi-part/EFI/BOOT/grubenv" set ha_env_seq=1 ha_boot=A "ha_A_version=$version" ha_env_end=1
# Its second copy (grub.cfg reads it when the first is torn).
cp "$BINARIES_DIR/efi-part/EFI/BOOT/grubenv" "$BINARIES_DIR/efi-part/EFI/BOOT/grubenv.bak"
printf 'IMAGE=buildroot-x86_64\nVERSION=%s\n' "$version" > "$target/etc/ha-image"
mkdir -p "$target/efi"
[ -e "$target/boot/bzImage" ] || { echo "post-build: $target/boot/bzImage missing (BR2_LINUX_KERNEL_INSTALL_TARGET)" >&2; exit 1; }
exec "$board_dir/../common/post-build.sh" "$target" PARTNAME=data
