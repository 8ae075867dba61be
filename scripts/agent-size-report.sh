#!/usr/bin/env bash
# Where the static agent's bytes go (docs/design.md, "Binary size"): reads the `symbols`
# profile build of the agent (the release build with its symbols kept, made by
# `make agent-size-report` with the size build's flags) and prints the largest functions and
# tables, then the bytes of code and read-only data per crate (per module for ha_agent).
# C symbols (glibc, libgcc) are counted as "(C)". Inlined code counts in its caller.
set -euo pipefail
bin="$1"; top="${2:-40}"
[ -f "$bin" ] || { echo "missing $bin"; exit 1; }
echo "sections (bytes):"
size -A "$bin" | awk '$1 ~ /^\.(text|rodata|eh_frame|data|data\.rel\.ro)$/ {printf "  %-14s %9d\n", $1, $2}'
echo "largest symbols (bytes):"
nm --size-sort --radix=d -r -C "$bin" | awk -v top="$top" 'tolower($2) ~ /^[tr]$/ && n < top {n++; size=$1 + 0; $1=""; $2=""; printf "  %8d %s\n", size, substr($0, 3, 150)}'
echo "per crate (ha_agent per module), code and read-only data (bytes):"
nm --size-sort --radix=d -C "$bin" | awk '
  tolower($2) ~ /^[tr]$/ {
    size = $1 + 0; $1 = ""; $2 = ""; name = substr($0, 3); sub(/^<+/, "", name)
    if (match(name, /^ha_agent::[a-z_]+/)) key = substr(name, 1, RLENGTH)
    else if (match(name, /^[A-Za-z_][A-Za-z0-9_]*::/)) key = substr(name, 1, RLENGTH - 2)
    else key = "(C)"
    sum[key] += size
  }
  END { for (k in sum) printf "  %8d %s\n", sum[k], k }' | sort -rn | head -n "$top"
