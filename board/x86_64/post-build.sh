#!/bin/sh
# Generic x86-64 box: GRUB (EFI) configuration, then the common steps.
set -e
board_dir=$(dirname "$0")
mkdir -p "$BINARIES_DIR/efi-part/EFI/BOOT"
cp "$board_dir/grub.cfg" "$BINARIES_DIR/efi-part/EFI/BOOT/grub.cfg"
exec "$board_dir/../common/post-build.sh" "$1" PARTNAME=data
