#!/bin/sh
# Post-build steps shared by the boards (Buildroot runs the board's post-build.sh with
# TARGET_DIR as $1; the board's script calls this one with the data partition's location).
# Usage: post-build.sh TARGET_DIR DATA_DEV
set -e
target=$1
data_dev=$2

# Where S10data finds the data partition when the kernel command line has no ha.data=.
printf '# Written by board/common/post-build.sh.\nDATA_DEV=%s\n' "$data_dev" > "$target/etc/default/ha-data"
mkdir -p "$target/data"
# The root is read-only: what Buildroot's skeleton keeps under /var goes to tmpfs.
for d in log tmp; do
    [ -L "$target/var/$d" ] || { rm -rf "${target:?}/var/$d"; ln -s ../tmp "$target/var/$d"; }
done
[ -L "$target/var/run" ] || { rm -rf "${target:?}/var/run"; ln -s ../run "$target/var/run"; }
# One syslogd: the overlay's S01mount starts syslogd (RAM ring buffer, board/common/busybox.fragment)
# and klogd; Buildroot's busybox package installs its own init scripts for both when BusyBox
# has them, which would start a second of each.
rm -f "$target/etc/init.d/S01syslogd" "$target/etc/init.d/S02klogd"
# Root password policy: the serial console is the only way in (no SSH server), so root must log
# in there with a password: BR2_TARGET_GENERIC_ROOT_PASSWD in the defconfig (Buildroot writes
# its hash before the post-build scripts run). An empty or locked root is refused unless the
# build says it is a lab image (RACKHA_ALLOW_NO_ROOT_PASSWORD=1).
root_hash=$(sed -n 's/^root:\([^:]*\):.*/\1/p' "$target/etc/shadow" 2>/dev/null)
case "$root_hash" in
    '$'*) ;;
    *)
        if [ "${RACKHA_ALLOW_NO_ROOT_PASSWORD:-0}" != 1 ]; then
            echo "post-build: root has no password in $target/etc/shadow ('${root_hash}'): set BR2_TARGET_GENERIC_ROOT_PASSWD in the defconfig (or RACKHA_ALLOW_NO_ROOT_PASSWORD=1 for a lab image)" >&2
            exit 1
        fi
        echo "post-build: WARNING: root has no password (RACKHA_ALLOW_NO_ROOT_PASSWORD=1: lab image)" >&2 ;;
esac
# The agent and the overlay's pieces must all be there.
for f in usr/bin/ha-agent usr/sbin/ha-agent-supervise usr/sbin/ha-issue etc/init.d/S10data \
         usr/share/ha-agent/default/agent.toml; do
    [ -e "$target/$f" ] || { echo "post-build: $f missing from the target" >&2; exit 1; }
done
