#!/usr/bin/env bash
# Boot one member VM of the virtual rack from the QEMU test image (tests/vm/make-image.sh), on
# TCG. Runs QEMU in the foreground (the caller backgrounds it); everything the outside talks to
# is a Unix socket or a file in --dir:
#   console.sock   serial console ttyS0 (login, ha-agent status), server: connect any time
#   console.log    everything the console printed, from power-on
#   qmp.sock       QMP, for power control (system_reset, system_powerdown, quit) and events
#   qemu.pid       QEMU's pid
# Each --serial adds the next port (ttyS1, ttyS2, ...): "listen:PATH" makes QEMU serve a Unix
# socket at PATH, "connect:PATH" connects to one (a harness between two members serves both ends).
# Each --nic adds an e1000 NIC (eth0, eth1, ...) on a QEMU socket netdev: "mcast:ADDR:PORT" (a
# shared segment on 127.0.0.1), "listen:PORT" or "connect:PORT" (a point-to-point TCP cable).
# The hardware watchdog is an i6300esb with -watchdog-action reset (see --watchdog-action).
# --cache sets the data disk's QEMU cache mode (default: QEMU's, writeback).
# --disk boots the flashable disk (out/image/disk.img or a copy: GRUB, root slots, data
# partition) as hardware does: UEFI firmware (OVMF, its variables in DIR/OVMF_VARS.fd), the
# disk on virtio, no -kernel; then --data is not used (the data partition is on the disk).
#
# --drive FILE adds one more virtio disk (after the others), e.g. a file system holding an
# update file.
#
# Usage: run-member.sh --dir DIR (--data DATA.img | --disk DISK.img) [--drive FILE]... [--name NAME] [--image DIR] [--serial SPEC]...
#          [--nic SPEC]... [--mem MIB] [--append ARGS] [--watchdog-action reset|poweroff|pause|none]
#          [--cache none|writeback|writethrough|directsync|unsafe] [--kvm]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
image=$ROOT/out/image
dir="" data="" disk="" name=member mem="" append="" wd_action=reset accel=tcg cache=""
serials=() nics=() drives=()

fail() { echo "run-member: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --dir) dir=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --drive) drives+=("$2"); shift 2 ;;
    --name) name=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --serial) serials+=("$2"); shift 2 ;;
    --nic) nics+=("$2"); shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --append) append=$2; shift 2 ;;
    --watchdog-action) wd_action=$2; shift 2 ;;
    --cache) cache=",cache=$2"; shift 2 ;;
    --kvm) accel=kvm; shift ;;
    *) fail "unknown argument $1 (see the header of $0)" ;;
    esac
done
[ -n "$dir" ] || fail "--dir is required"
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 missing (make setup)"
mkdir -p "$dir"
rm -f "$dir/console.sock" "$dir/qmp.sock" "$dir/console.log"
# GRUB (EFI) runs out of memory loading the kernel from the slot with 256 MiB.
[ -n "$mem" ] || if [ -n "$disk" ]; then mem=512; else mem=256; fi
args=(
    -name "$name" -machine pc -accel "$accel" -m "$mem" -smp 1
    -nodefaults -no-user-config -display none -monitor none
)
if [ -n "$disk" ]; then
    [ -f "$disk" ] || fail "no disk $disk"
    [ -z "$append" ] || fail "--append: the kernel command line of --disk is GRUB's (board/x86_64/grub.cfg)"
    [ -f "$OVMF_CODE" ] || fail "$OVMF_CODE missing (make setup: ovmf)"
    # The firmware's variables persist across reboots of this VM, as a box's NVRAM does.
    [ -f "$dir/OVMF_VARS.fd" ] || cp "$OVMF_VARS" "$dir/OVMF_VARS.fd"
    args+=(
        -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
        -drive "if=pflash,format=raw,unit=1,file=$dir/OVMF_VARS.fd"
        -drive "file=$disk,format=raw,if=none,id=disk0$cache"
        -device "virtio-blk-pci,drive=disk0,bootindex=0"
    )
else
    [ -n "$data" ] || fail "--data or --disk is required"
    [ -f "$data" ] || fail "no data disk $data"
    for f in vmlinuz initramfs.cpio.gz; do
        [ -f "$image/$f" ] || fail "$image/$f missing: run 'make image'"
    done
    args+=(
        -kernel "$image/vmlinuz" -initrd "$image/initramfs.cpio.gz"
        -append "console=ttyS0,115200 quiet panic=5 ha.data=/dev/vda $append"
        -drive "file=$data,format=raw,if=virtio$cache"
    )
fi
for f in "${drives[@]}"; do
    [ -f "$f" ] || fail "no drive $f"
    args+=(-drive "file=$f,format=raw,if=virtio")
done
args+=(
    -chardev "socket,id=console,path=$dir/console.sock,server=on,wait=off,logfile=$dir/console.log"
    -serial chardev:console
    -device i6300esb -watchdog-action "$wd_action"
    -qmp "unix:$dir/qmp.sock,server=on,wait=off"
    -pidfile "$dir/qemu.pid"
)
i=1
for spec in "${serials[@]}"; do
    case "$spec" in
    listen:*) args+=(-chardev "socket,id=serial$i,path=${spec#listen:},server=on,wait=off") ;;
    connect:*) args+=(-chardev "socket,id=serial$i,path=${spec#connect:},reconnect=1") ;;
    *) fail "--serial $spec: expected listen:PATH or connect:PATH" ;;
    esac
    args+=(-serial "chardev:serial$i")
    i=$((i + 1))
done
# Locally administered MAC addresses, stable per member name and NIC index.
mac_base=$(printf '%s' "$name" | cksum | awk '{printf "52:54:%02x:%02x:%02x", $1 % 256, int($1 / 256) % 256, int($1 / 65536) % 256}')
i=0
for spec in "${nics[@]}"; do
    case "$spec" in
    mcast:*) netdev="socket,id=net$i,mcast=${spec#mcast:},localaddr=127.0.0.1" ;;
    listen:*) netdev="socket,id=net$i,listen=127.0.0.1:${spec#listen:}" ;;
    connect:*) netdev="socket,id=net$i,connect=127.0.0.1:${spec#connect:}" ;;
    *) fail "--nic $spec: expected mcast:ADDR:PORT, listen:PORT or connect:PORT" ;;
    esac
    args+=(-netdev "$netdev" -device "e1000,netdev=net$i,mac=$mac_base:$(printf '%02x' "$i")")
    i=$((i + 1))
done
exec qemu-system-x86_64 "${args[@]}"
