#!/usr/bin/env bash
# The Buildroot image's post-build policy, without Buildroot (docs/image.md, "The Buildroot
# image"): board/common/post-build.sh run on a fake target tree as Buildroot would run it.
#   - one syslogd: the init scripts Buildroot's busybox package installs for syslogd and klogd
#     are removed (rootfs-overlay's S01mount starts both), the overlay's are kept;
#   - root password: a target whose root has an empty or locked password is refused with a
#     message naming BR2_TARGET_GENERIC_ROOT_PASSWD; a hashed one passes; the lab override
#     passes with a warning;
#   - board/common/busybox.fragment enables what the overlay uses: `syslogd -C` needs
#     FEATURE_IPC_SYSLOG, `logread` needs LOGREAD; both defconfigs merge the fragment.
# Usage: tests/buildroot/post-build-test.sh   (make test-buildroot-policy)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# A target tree with what the post-build script requires, Buildroot's two init scripts, and
# root's shadow entry as given.
make_target() {
    local t=$work/target-$1
    mkdir -p "$t"/{etc/init.d,etc/default,usr/bin,usr/sbin,usr/share/ha-agent/default,var}
    for f in usr/bin/ha-agent usr/sbin/ha-agent-supervise usr/sbin/ha-issue etc/init.d/S10data \
             usr/share/ha-agent/default/agent.toml etc/init.d/S01mount etc/init.d/S01syslogd etc/init.d/S02klogd; do
        : > "$t/$f"
    done
    printf 'root:%s:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n' "$2" > "$t/etc/shadow"
    echo "$t"
}
run() { # TARGET [ENV...] -> output, status in $rc
    local t=$1; shift
    rc=0
    out=$(env "$@" sh "$root/board/common/post-build.sh" "$t" PARTNAME=data 2>&1) || rc=$?
}

# check WHAT COMMAND...: PASS or FAIL by the command's status.
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
no_buildroot_syslogd() { [ ! -e "$1/etc/init.d/S01syslogd" ] && [ ! -e "$1/etc/init.d/S02klogd" ]; }
refused_naming_the_option() { [ "$rc" -ne 0 ] && grep -q 'BR2_TARGET_GENERIC_ROOT_PASSWD' <<<"$out"; }
passed_with_warning() { [ "$rc" -eq 0 ] && grep -q WARNING <<<"$out"; }

# shellcheck disable=SC2016 # a literal hash
t=$(make_target hashed '$6$salt$0123456789abcdef')
run "$t"
check "a hashed root password passes ($out)" test "$rc" -eq 0
check "Buildroot's S01syslogd and S02klogd are removed (one syslogd)" no_buildroot_syslogd "$t"
check "the overlay's S01mount is kept" test -e "$t/etc/init.d/S01mount"

for case in empty:'' locked:'*' disabled:'!'; do
    name=${case%%:*}; hash=${case#*:}
    t=$(make_target "$name" "$hash")
    run "$t"
    check "a root password '$hash' ($name) is refused, naming the option (exit $rc: $out)" refused_naming_the_option
done
t=$(make_target lab '')
run "$t" RACKHA_ALLOW_NO_ROOT_PASSWORD=1
check "the lab override passes with a warning (exit $rc: $out)" passed_with_warning

frag=$root/board/common/busybox.fragment
check "S01mount starts syslogd -C (what the fragment is for)" grep -q 'syslogd -C' "$root/rootfs-overlay/etc/init.d/S01mount"
check "the fragment enables FEATURE_IPC_SYSLOG (syslogd -C)" grep -qx 'CONFIG_FEATURE_IPC_SYSLOG=y' "$frag"
check "the fragment enables LOGREAD" grep -qx 'CONFIG_LOGREAD=y' "$frag"
for d in "$root"/buildroot/configs/*_defconfig; do
    check "$(basename "$d") merges the BusyBox fragment" \
        grep -q '^BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES=.*board/common/busybox.fragment' "$d"
done
if [ "$fails" -eq 0 ]; then echo "post-build-test: all checks passed"; else echo "post-build-test: $fails failed"; exit 1; fi
