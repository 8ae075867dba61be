#!/usr/bin/env bash
# Test of board/common/check-kernel-config.sh, on Debian's kernel configuration (from the
# linux-image package in out/debs, see tests/vm/make-image.sh) and on small made-up ones.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHECK=$ROOT/board/common/check-kernel-config.sh
DEBS=$ROOT/out/debs
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Made-up configurations: each kind of miss is reported, and only it.
printf 'CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=8\n' > "$work/config"
printf 'CONFIG_A=y\n# CONFIG_C is not set\nCONFIG_D=8\n' > "$work/ok.fragment"
printf 'CONFIG_A=y\nCONFIG_B=y\nCONFIG_D=4\nCONFIG_E=y\n# CONFIG_A is not set\n' > "$work/bad.fragment"
if out=$("$CHECK" "$work/config" "$work/ok.fragment"); then pass "a fragment that made it passes"; else fail "ok fragment: $out"; fi
if out=$("$CHECK" "$work/config" "$work/bad.fragment"); then
    fail "a fragment that did not make it passed"
else
    for want in "CONFIG_B: wanted y, final config has m" "CONFIG_D: wanted 4, final config has 8" \
                "CONFIG_E: wanted y, final config has it unset" "CONFIG_A: wanted unset" "4 of 5"; do
        if grep -qF "$want" <<<"$out"; then pass "reported: $want"; else fail "not reported: $want"; fi
    done
    if grep -q "CONFIG_A: wanted y" <<<"$out"; then fail "CONFIG_A=y reported though present"; fi
fi
if "$CHECK" --allow-module "$work/config" <(echo CONFIG_B=y) >/dev/null; then
    pass "--allow-module accepts =m for =y"
else
    fail "--allow-module refused =m for =y"
fi

# Debian's configuration.
kdeb=$(find "$DEBS" -maxdepth 1 -name 'linux-image-[0-9]*.deb' 2>/dev/null | head -n 1)
if [ -z "$kdeb" ]; then
    fail "no linux-image .deb in $DEBS (run make image first)"
else
    dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work" --wildcards './boot/config-*'
    dconfig=$(find "$work/boot" -name 'config-*' | head -n 1)
    echo "Debian kernel configuration: $(basename "$dconfig")"
    if out=$("$CHECK" --allow-module "$dconfig" "$ROOT/tests/vm/debian-kernel.fragment"); then
        pass "Debian's kernel has what the test image needs ($out)"
    else
        fail "Debian's kernel lacks what the test image needs: $out"
    fi
    if out=$("$CHECK" "$dconfig" "$ROOT/board/common/linux.fragment"); then
        fail "the appliance fragment passed strictly against Debian's modular kernel"
    elif grep -qF "CONFIG_I6300ESB_WDT: wanted y, final config has m" <<<"$out"; then
        pass "strictly, Debian's modular watchdog driver is reported (CONFIG_I6300ESB_WDT=m)"
    else
        fail "CONFIG_I6300ESB_WDT=m not reported: $out"
    fi
    echo "For information, the appliance fragments against Debian's kernel, modules allowed:"
    "$CHECK" --allow-module "$dconfig" "$ROOT"/board/common/linux.fragment \
        "$ROOT"/board/x86_64/linux.fragment "$ROOT"/board/qemu_x86_64/linux.fragment | sed 's/^/    /' || true
fi
if [ "$fails" -ne 0 ]; then echo "check-kernel-config-test: $fails failed"; exit 1; fi
echo "check-kernel-config-test: all passed"
