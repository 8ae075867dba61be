#!/usr/bin/env bash
# Check that every option of the kernel configuration fragments reached the final kernel
# configuration: `CONFIG_X=v` must be there with the same value, `# CONFIG_X is not set` must
# not be set. Prints each option that did not make it and exits 1; exits 0 when all did.
# With --allow-module, CONFIG_X=y is also satisfied by CONFIG_X=m (a kernel that loads its
# drivers as modules, such as Debian's, used by the QEMU test image).
# Usage: check-kernel-config.sh [--allow-module] KERNEL_CONFIG FRAGMENT...
set -euo pipefail

allow_module=no
if [ "${1:-}" = --allow-module ]; then allow_module=yes; shift; fi
[ $# -ge 2 ] || { echo "usage: $0 [--allow-module] KERNEL_CONFIG FRAGMENT..." >&2; exit 2; }
config=$1; shift
[ -r "$config" ] || { echo "check-kernel-config: cannot read $config" >&2; exit 2; }

missing=0 checked=0
while IFS= read -r line; do
    case "$line" in
    CONFIG_*=*)
        option=${line%%=*} want=${line#*=}
        have=$(grep -E "^$option=" "$config" | tail -n 1 | cut -d= -f2- || true)
        checked=$((checked + 1))
        if [ "$have" = "$want" ]; then continue; fi
        if [ "$allow_module" = yes ] && [ "$want" = y ] && [ "$have" = m ]; then continue; fi
        echo "check-kernel-config: $option: wanted $want, final config has ${have:-it unset}"
        missing=$((missing + 1))
        ;;
    "# CONFIG_"*" is not set")
        option=${line#\# }; option=${option%% *}
        checked=$((checked + 1))
        if grep -qE "^$option=" "$config"; then
            echo "check-kernel-config: $option: wanted unset, final config has $(grep -E "^$option=" "$config")"
            missing=$((missing + 1))
        fi
        ;;
    esac
done < <(cat "$@")

if [ "$missing" -gt 0 ]; then
    echo "check-kernel-config: $missing of $checked fragment options did not reach $config"
    exit 1
fi
echo "check-kernel-config: all $checked fragment options are in $config"
