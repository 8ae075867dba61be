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
# The agent and the overlay's pieces must all be there.
for f in usr/bin/ha-agent usr/sbin/ha-agent-supervise usr/sbin/ha-issue etc/init.d/S10data \
         usr/share/ha-agent/default/agent.toml; do
    [ -e "$target/$f" ] || { echo "post-build: $f missing from the target" >&2; exit 1; }
done
