#!/bin/sh
# Guest side of tests/vm/gpio-relay-test.sh, run with BusyBox sh inside the QEMU test image
# (copied to /data/test/ on the test's data disk). Nothing here is part of the appliance.
#   gpio-guest.sh setup               load configfs.ko and gpio-sim.ko (from /data/test), mount
#                                     configfs and debugfs, create one simulated chip of 4 lines,
#                                     print "GPIO-SIM chip=gpiochipN dev=gpio-sim.N"
#   gpio-guest.sh pull LINE up|down   set the simulated level of a line (an input reads it)
#   gpio-guest.sh value LINE          print the line's value as the chip sees it (an output's
#                                     driven level, or an unrequested line's pull)
#   gpio-guest.sh held LINE           print the line's debugfs entry (requested or not)
#   gpio-guest.sh mirror OUT SENSE    background: the relay's wiring, OUT's value copied to SENSE's
#                                     pull every ~50 ms; each change is logged to
#                                     /tmp/mirror-OUT.log as "T value V held|free"
#   gpio-guest.sh stop OUT            stop the mirror of OUT (a stuck relay)
set -eu

CONFIG=/sys/kernel/config/gpio-sim/relay
STATE=/tmp/gpio-sim.env

line_dir() {
    # shellcheck disable=SC1090 # written by setup
    . "$STATE"
    echo "/sys/devices/platform/${SIM_DEV:?}/${SIM_CHIP:?}/sim_gpio$1"
}

# The debugfs entry of line $1 on our chip, e.g. " gpio-0 (  |ha-agent node-a) out lo".
debug_line() {
    # shellcheck disable=SC1090 # written by setup
    . "$STATE"
    # Lines are listed by global number: the chip's header says "GPIOs BASE-LAST"; only
    # requested lines are listed.
    awk -v chip="${SIM_CHIP:?}:" -v offset="$1" '
        /^gpiochip/ {
            mine = (index($0, chip) == 1)
            if (mine) { split($0, a, "GPIOs "); split(a[2], b, "-"); want = "gpio-" (b[1] + offset) " " }
            next
        }
        mine && index($0, want) { print; exit }' /sys/kernel/debug/gpio
}

case "${1:-}" in
setup)
    grep -q ' configfs$' /proc/filesystems || insmod /data/test/configfs.ko
    grep -q '^gpio_sim ' /proc/modules || insmod /data/test/gpio-sim.ko
    grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs none /sys/kernel/config
    grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug
    mkdir -p "$CONFIG/gpio-bank0"
    echo 4 > "$CONFIG/gpio-bank0/num_lines"
    echo 1 > "$CONFIG/live"
    chip=$(cat "$CONFIG/gpio-bank0/chip_name")
    dev=$(cat "$CONFIG/dev_name")
    printf 'SIM_CHIP=%s\nSIM_DEV=%s\n' "$chip" "$dev" > "$STATE"
    i=0
    while [ ! -e "/dev/$chip" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "/dev/$chip" ] || { echo "no /dev/$chip"; exit 1; }
    echo "GPIO-SIM chip=$chip dev=$dev"
    ;;
pull)
    echo "pull-$3" > "$(line_dir "$2")/pull"
    ;;
value)
    cat "$(line_dir "$2")/value"
    ;;
held)
    debug_line "$2"
    ;;
mirror)
    out=$2 sense=$3
    out_dir=$(line_dir "$out")
    sense_dir=$(line_dir "$sense")
    log=/tmp/mirror-$out.log
    : > "$log"
    (
        last=""
        while :; do
            v=$(cat "$out_dir/value")
            if [ "$v" != "$last" ]; then
                if [ "$v" = 1 ]; then echo pull-up > "$sense_dir/pull"; else echo pull-down > "$sense_dir/pull"; fi
                case "$(debug_line "$out")" in *"|ha-agent"*) held=held ;; *) held=free ;; esac
                echo "$(cut -d' ' -f1 /proc/uptime) value $v $held" >> "$log"
                last=$v
            fi
            sleep 0.05
        done
    ) > /dev/null 2>&1 &
    echo $! > "/tmp/mirror-$out.pid"
    echo "MIRROR $out -> $sense pid $!"
    ;;
stop)
    kill "$(cat "/tmp/mirror-$2.pid")"
    rm -f "/tmp/mirror-$2.pid"
    echo "MIRROR $2 stopped"
    ;;
*)
    echo "usage: see the header of $0" >&2
    exit 2
    ;;
esac
