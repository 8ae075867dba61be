#!/bin/sh
# Generic x86-64 box: disk.img = EFI boot partition, squashfs root, data partition.
set -e
exec "$(dirname "$0")/../common/post-image.sh" "$(dirname "$0")/genimage.cfg"
