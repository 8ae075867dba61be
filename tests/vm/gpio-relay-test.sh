#!/usr/bin/env bash
# The GPIO relay driver against a real kernel GPIO chip (issue 4): the QEMU test image, on TCG,
# with a gpio-sim chip (drivers/gpio/gpio-sim.c) whose lines stand for a relay board's output
# and sense input. Debian's kernel is built without CONFIG_GPIO_SIM, so this script builds
# gpio-sim.ko out of tree from Debian's own source of that kernel (linux-source-X.Y, the same
# version as the image's kernel) against its headers (linux-headers-VERSION), with the kernel's
# irq_sim.c (CONFIG_IRQ_SIM is off too) linked into the same module. The module, configfs.ko
# (a module in Debian's kernel), the guest helper tests/vm/gpio-guest.sh and the two agents'
# configurations go onto the test's data partition image; the image itself is unchanged.
# tests/vm/gpio-relay-test.py then writes it into the data partition of a copy of
# out/image/disk.img, boots that through OVMF and GRUB and runs the checks (see its header).
#
# Needs: make image (out/image), apt-get (Debian archive), gcc and make, debugfs (e2fsprogs);
# installs linux-headers-VERSION with apt-get when it is missing (as root).
# Usage: tests/vm/gpio-relay-test.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/vm-gpio
DEBS=$ROOT/out/debs
IMAGE=$ROOT/out/image

fail() { echo "gpio-relay-test: $*" >&2; exit 1; }
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 1; }
for tool in apt-get dpkg-deb debugfs make gcc python3 qemu-system-x86_64; do
    command -v "$tool" >/dev/null || fail "$tool missing"
done
{ [ -f "$IMAGE/MANIFEST" ] && [ -f "$IMAGE/disk.img" ]; } || fail "no test image: run 'make image'"
kpkg=$(sed -n 's/^KERNEL=//p' "$IMAGE/MANIFEST")
kver=${kpkg#linux-image-}
kdeb=$(first "$DEBS/${kpkg}"_*.deb) || fail "no $kpkg package in $DEBS (make image)"
kdeb_version=$(dpkg-deb -f "$kdeb" Version)
series=$(echo "$kver" | cut -d. -f1-2)
mkdir -p "$OUT"

# The module, built once per kernel package version.
module=$OUT/gpio-sim-$kdeb_version.ko
if [ ! -f "$module" ]; then
    headers=/usr/src/linux-headers-$kver
    if [ ! -d "$headers" ]; then
        echo "gpio-relay-test: installing linux-headers-$kver"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "linux-headers-$kver" >/dev/null ||
            fail "cannot install linux-headers-$kver"
    fi
    if ! first "$DEBS/linux-source-${series}_${kdeb_version}"_*.deb >/dev/null; then
        (cd "$DEBS" && apt-get download "linux-source-$series=$kdeb_version" 2>/dev/null) ||
            fail "cannot download linux-source-$series $kdeb_version"
    fi
    sdeb=$(first "$DEBS/linux-source-${series}_${kdeb_version}"_*.deb)
    B=$OUT/build
    rm -rf "$B"
    mkdir -p "$B"
    echo "gpio-relay-test: building gpio-sim.ko for $kver from $(basename "$sdeb")"
    dpkg-deb --fsys-tarfile "$sdeb" | tar -xO "./usr/src/linux-source-$series.tar.xz" |
        tar -xJ -C "$B" "linux-source-$series/drivers/gpio/gpio-sim.c" \
            "linux-source-$series/drivers/gpio/gpiolib.h" "linux-source-$series/kernel/irq/irq_sim.c"
    S=$B/linux-source-$series
    cp "$S/drivers/gpio/gpio-sim.c" "$B/gpio-sim-core.c"
    cp "$S/drivers/gpio/gpiolib.h" "$S/kernel/irq/irq_sim.c" "$B/"
    # irq_to_desc is not exported to modules; generic_handle_irq does the same lookup and runs
    # the handler irq_sim installed (handle_simple_irq).
    sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$B/irq_sim.c"
    grep -q 'generic_handle_irq(irqnum);' "$B/irq_sim.c" || fail "irq_sim.c changed: adapt the build"
    printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' > "$B/Kbuild"
    make -s -C "$headers" M="$B" modules 2>&1 | grep -v 'Skipping BTF' || true
    [ -f "$B/gpio-sim.ko" ] || fail "the module did not build"
    strip --strip-debug "$B/gpio-sim.ko"
    mv "$B/gpio-sim.ko" "$module"
    rm -rf "$B"
fi

# configfs.ko from the kernel package.
K=$OUT/kernel
rm -rf "$K"
dpkg-deb -x "$kdeb" "$K"
configfs=$(find "$K/lib/modules/$kver" -name configfs.ko | head -1)
[ -n "$configfs" ] || fail "configfs.ko not in $kpkg"

# The witness's configuration (the image runs it), node-b's (the test starts it by hand).
C=$OUT/config
rm -rf "$C"
mkdir -p "$C"
# Written by the one generator of the tests' configurations (ha_tests::topology, checked by
# tests/generated_configs.rs): witness.toml, witness-active-low.toml, node-b.toml.
(cd "$ROOT" && cargo run -q --locked -p ha-tests --bin configs -- gpio "$C") >/dev/null \
    || fail "the configs tool could not write the configurations"
cp "$ROOT/docs/examples/cluster.key" "$C/cluster.key"
chmod 600 "$C/cluster.key"
agent=$ROOT/target/x86_64-unknown-linux-musl/release/ha-agent
for f in witness witness-active-low node-b; do
    sed 's#/etc/ha-agent/cluster.key#cluster.key#' "$C/$f.toml" > "$C/check.toml"
    "$agent" check-config "$C/check.toml" >/dev/null || { "$agent" check-config "$C/check.toml"; fail "$f.toml is invalid"; }
done
rm -f "$C/check.toml"

# The data partition's image: the witness's configuration, and /test with the rest.
disk=$OUT/data.img
"$ROOT/tests/vm/make-data-disk.sh" "$disk" "$C/witness.toml" "$C/cluster.key" witness
{
    echo "mkdir /test"
    echo "write $module /test/gpio-sim.ko"
    echo "write $configfs /test/configfs.ko"
    echo "write $ROOT/tests/vm/gpio-guest.sh /test/gpio-guest.sh"
    echo "write $C/node-b.toml /test/node-b.toml"
    echo "write $C/witness-active-low.toml /test/witness-active-low.toml"
} | debugfs -w -f - "$disk" >/dev/null 2>&1
debugfs -R "ls -l /test" "$disk" 2>/dev/null | grep -q gpio-sim.ko || fail "could not write /test to $disk"
rm -rf "$K"
exec python3 "$ROOT/tests/vm/gpio-relay-test.py" "$disk"
