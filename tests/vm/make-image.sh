#!/usr/bin/env bash
# Assemble the QEMU TEST IMAGE of the appliance into out/image/ (see docs/image.md: this is not
# the Buildroot image, which needs its sources from the internet):
#   vmlinuz            Debian's kernel (linux-image package, unpacked with dpkg-deb, not installed)
#   initramfs.cpio.gz  stage 1 (tests/vm/stage1-init, BusyBox, loop.ko, squashfs.ko) and
#                      root.squashfs: BusyBox from busybox-static, rootfs-overlay/, the static
#                      agent, the kernel modules the appliance's kernel has built in, and the
#                      test-only files of tests/vm/image-extra/ (passwd, shadow: root, no password)
#   data.ext4          a data partition seeded with docs/examples/witness.toml and its example key
#   root.squashfs      the same root, kept for inspection
# Prints the sizes. Needs: apt-get (Debian archive), dpkg-deb, mksquashfs, mkfs.ext4, cpio, gzip.
# Usage: tests/vm/make-image.sh        (HA_AGENT_BIN overrides the agent binary)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/image
DEBS=$ROOT/out/debs
AGENT=${HA_AGENT_BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/ha-agent}
# Drivers that the appliance's kernel has built in (board/*/linux.fragment) and Debian's has as
# modules, in load order: the watchdog first.
MODULES=(i6300esb softdog e1000 virtio_pci virtio_blk crc32c_generic ext4)

fail() { echo "make-image: $*" >&2; exit 1; }
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 1; }
for tool in apt-get dpkg-deb mksquashfs mkfs.ext4 cpio gzip; do
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
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,data,root,var,lib/modules}
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
KERNEL=$kpkg
BUSYBOX=$(basename "$bdeb")
WATCHDOG_CONFIGURED=$watchdog_configured
INFO

# Modules and their dependencies, with a modules.dep for BusyBox modprobe.
: > "$R/etc/modules"
mkdir -p "$R/lib/modules/$kver"
add_module() {
    local rel
    rel=$(grep -E "(^|/)$1\.ko:" "$kmods/modules.dep" | head -1 | cut -d: -f1)
    [ -n "$rel" ] || fail "module $1 not in $kpkg"
    for dep in $rel $(grep -E "^$rel:" "$kmods/modules.dep" | cut -d: -f2); do
        mkdir -p "$R/lib/modules/$kver/$(dirname "$dep")"
        cp "$kmods/$dep" "$R/lib/modules/$kver/$dep"
    done
}
for m in "${MODULES[@]}"; do
    add_module "$m"
    echo "$m" >> "$R/etc/modules"
done
cp "$kmods/modules.builtin" "$kmods/modules.order" "$R/lib/modules/$kver/"
"$busybox" depmod -b "$R" "$kver"

mksquashfs "$R" "$OUT/root.squashfs" -comp xz -all-root -noappend -quiet >/dev/null
# The root squashfs keeps file modes; -all-root makes every file owned by root.

# The initramfs: stage 1.
I=$W/initramfs
mkdir -p "$I"/{bin,dev,proc,lib,newroot}
cp "$busybox" "$I/bin/busybox"
cp "$ROOT/tests/vm/stage1-init" "$I/init"
chmod 755 "$I/init"
cp "$kmods/$(grep -E '/loop\.ko:' "$kmods/modules.dep" | cut -d: -f1)" "$I/lib/loop.ko"
cp "$kmods/$(grep -E '/squashfs\.ko:' "$kmods/modules.dep" | cut -d: -f1)" "$I/lib/squashfs.ko"
cp "$OUT/root.squashfs" "$I/root.squashfs"
[ -e "$I/dev/console" ] || mknod -m 600 "$I/dev/console" c 5 1
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -9) > "$OUT/initramfs.cpio.gz"
cp "$vmlinuz" "$OUT/vmlinuz"

# The seeded data partition (the witness of the examples).
wd_config=$W/witness.toml
cp "$ROOT/docs/examples/witness.toml" "$wd_config"
if [ "$watchdog_configured" = yes ]; then printf '\n' >> "$wd_config"; cat "$probe/wd" >> "$wd_config"; fi
"$ROOT/tests/vm/make-data-disk.sh" "$OUT/data.ext4" "$wd_config" "$ROOT/docs/examples/cluster.key" \
    witness "$ROOT/rootfs-overlay/usr/share/ha-agent/default/interfaces"

cp "$R/etc/ha-image" "$OUT/MANIFEST"
rm -rf "$W"
size() { printf '%-22s %9d bytes (%s)\n' "$1" "$(stat -c %s "$OUT/$1")" "$(du -h --apparent-size "$OUT/$1" | cut -f1)"; }
echo "make-image: QEMU test image in $OUT ($kpkg, watchdog configured: $watchdog_configured)"
size vmlinuz
size initramfs.cpio.gz
size root.squashfs
size data.ext4
