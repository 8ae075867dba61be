#!/usr/bin/env bash
# Run every fuzz target briefly (a smoke test: the parsers must not panic on what libFuzzer
# finds in this time). Long runs: cd fuzz && cargo +nightly fuzz run TARGET.
set -euo pipefail
seconds="${1:-20}"
cd "$(dirname "$0")/../fuzz"
mkdir -p ../out
for target in $(cargo +nightly fuzz list); do
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  mkdir -p "corpus/$target"
  log="../out/fuzz-$target.log"
  echo "fuzz: $target for ${seconds}s (log $log)"
  if ! cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$seconds" >"$log" 2>&1; then
    tail -40 "$log"; echo "fuzz: $target FAILED"; exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$log" || tail -2 "$log"
done
