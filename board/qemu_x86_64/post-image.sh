#!/bin/sh
# QEMU x86-64: disk.img = squashfs root + data partition, and start-qemu.sh to boot it on TCG
# with the same devices as tests/vm/run-member.sh (i6300esb, e1000, console on ttyS0).
set -e
"$(dirname "$0")/../common/post-image.sh" "$(dirname "$0")/genimage.cfg"
cat > "$BINARIES_DIR/start-qemu.sh" <<'SCRIPT'
#!/bin/sh
# Boot the Buildroot image of the rack HA appliance in QEMU (TCG); console on this terminal.
cd "$(dirname "$0")"
exec qemu-system-x86_64 -machine pc -accel tcg -m 256 -nographic \
    -kernel bzImage \
    -append "root=/dev/vda1 rootfstype=squashfs ro rootwait console=ttyS0,115200 ha.data=PARTNAME=data panic=5" \
    -drive file=disk.img,format=raw,if=virtio \
    -device i6300esb -watchdog-action reset \
    -netdev user,id=net0 -device e1000,netdev=net0 "$@"
SCRIPT
chmod 755 "$BINARIES_DIR/start-qemu.sh"
