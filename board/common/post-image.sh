#!/bin/sh
# Post-image steps shared by the boards: build the disk image with genimage and print the sizes.
# Buildroot runs post-image scripts from its top directory with BINARIES_DIR and BUILD_DIR set.
# Usage: post-image.sh GENIMAGE_CFG
set -e
support/scripts/genimage.sh -c "$1"
for f in "$BINARIES_DIR"/bzImage "$BINARIES_DIR"/rootfs.squashfs "$BINARIES_DIR"/disk.img; do
    [ -e "$f" ] && printf '%-20s %10d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"
done
exit 0
