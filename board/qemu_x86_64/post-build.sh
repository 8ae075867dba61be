#!/bin/sh
# QEMU x86-64: the common steps; the kernel is given to QEMU directly (-kernel).
set -e
exec "$(dirname "$0")/../common/post-build.sh" "$1" PARTNAME=data
