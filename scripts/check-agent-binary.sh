#!/usr/bin/env bash
# Check that the release agent is static, stripped and within its size budget; print figures.
set -euo pipefail
bin="$1"; budget="$2"
[ -f "$bin" ] || { echo "missing $bin"; exit 1; }
bytes=$(stat -c %s "$bin")
info=$(file -b "$bin" 2>/dev/null || true)
echo "agent binary: $bin"
echo "agent_binary_bytes: $bytes (budget $budget, $(( bytes * 100 / budget ))% used)"
echo "file: $info"
# Which compiler built it: the nightly size build or the stable fallback (docs/design.md).
built_by=$(readelf -p .comment "$bin" 2>/dev/null | grep -o 'rustc version [^)]*)' | head -n 1 || true)
echo "built by: ${built_by:-unknown}"
if ldd "$bin" 2>&1 | grep -q "=>"; then
  echo "FAIL: $bin is dynamically linked"; ldd "$bin"; exit 1
fi
case "$info" in
  *"dynamically linked"*) echo "FAIL: dynamically linked"; exit 1 ;;
esac
case "$info" in
  *"not stripped"*) echo "FAIL: not stripped"; exit 1 ;;
esac
if [ "$bytes" -gt "$budget" ]; then
  echo "OVER BUDGET by $(( bytes - budget )) bytes (see docs/design.md, Binary size)"
  if [ "${ENFORCE_BUDGET:-0}" = "1" ]; then exit 1; fi
fi
"$bin" version
