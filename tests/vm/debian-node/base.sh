#!/bin/sh
# mmdebstrap's customize hook for the Debian node image's base (tests/vm/make-debian-node.sh):
# what the node needs beyond its packages and does not change with the agent. $1: the root.
set -eu
R=$1
# Nothing the rack does not use runs: no timers, no getty on the (absent) VGA console.
chroot "$R" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer getty@tty1.service
# The harness logs in as root on the serial console, without a password (a test image).
chroot "$R" passwd -d root
printf 'set enable-bracketed-paste off\n' >>"$R/etc/inputrc"
echo node >"$R/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\nLABEL=hadata /data ext4 defaults 0 2\n' >"$R/etc/fstab"
mkdir -p "$R/data" "$R/srv/pgsql"
chroot "$R" chown postgres:postgres /srv/pgsql
printf 'auto lo\niface lo inet loopback\n' >"$R/etc/network/interfaces"
# The agent owns PostgreSQL (ocf:heartbeat:pgsql): systemd must never start the cluster.
echo manual >"$R/etc/postgresql/15/main/start.conf"
# Clients come over the LAN (10.10.0.0/24) through the floating address.
echo 'host all all 10.10.0.0/24 trust' >>"$R/etc/postgresql/15/main/pg_hba.conf"
# A small initramfs: what root=/dev/vda needs.
printf '# Virtual rack: the modules the root needs are listed in ../modules.\nMODULES=list\n' \
    >"$R/etc/initramfs-tools/conf.d/rack"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$R/etc/initramfs-tools/modules"
chroot "$R" update-initramfs -u -k all
