#!/usr/bin/env bash
# make bench: installs what the benchmarks need (stress-ng, idempotently), builds the bench
# binary, runs it against the static release agent and writes out/bench.json (docs/bench.md).
# Usage: scripts/bench-run.sh AGENT_BIN
# Environment: BENCH_QUICK=1 shortens every run (the JSON says "quick": true);
#   BENCH_SKIP=detect,idle,failover,load,keepalived,trap skips sections; BENCH_RACK=0 leaves out
#   the virtual rack's power-cut failover (BENCH_RACK_TRIALS, default 10, 3 with BENCH_QUICK;
#   BENCH_RACK_TIMING, default fast: dead_ms 1000, or default: the rack's own 5000);
#   BENCH_PACEMAKER=0 leaves out the power cut in the rack with Debian nodes under Pacemaker and
#   under the agent (BENCH_PACEMAKER_TRIALS, default 5, 2 with BENCH_QUICK);
#   BENCH_BOOT=0 leaves out booting the QEMU test image (about 1.5 minutes) for
#   boot_to_ready_ms. Both need out/image (`make bench` builds it);
#   BENCH_IMAGE_DIR names another image directory for image_bytes (default out/image).
set -euo pipefail
cd "$(dirname "$0")/.."
agent_bin="${1:?usage: bench-run.sh AGENT_BIN}"
[ -x "$agent_bin" ] || { echo "bench: $agent_bin is not an executable (make agent)"; exit 1; }
agent_bin="$(realpath "$agent_bin")"

if ! command -v stress-ng >/dev/null; then
  echo "bench: installing stress-ng"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq stress-ng >/dev/null || echo "bench: stress-ng could not be installed; the load figures will be null"
fi

cargo build --release --locked -q -p ha-tests --bin bench
mkdir -p out
args=(--out out/bench.json --agent-bin "$agent_bin")
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
[ -n "${BENCH_SKIP:-}" ] && args+=(--skip "$BENCH_SKIP")
image_dir="${BENCH_IMAGE_DIR:-out/image}"
if [ -f "$image_dir/root.squashfs" ]; then args+=(--image-dir "$image_dir"); fi
if [ "${BENCH_BOOT:-1}" = 1 ] && [ -f out/image/root.squashfs ]; then
  echo "bench: booting the QEMU test image (tests/vm/boot-test.py)"
  python3 tests/vm/boot-test.py 2>&1 | tee out/bench-boot.log || echo "bench: the boot test failed; boot_to_ready_ms from what it printed"
  args+=(--boot-log out/bench-boot.log)
fi
# The floating-IP rig: keepalived and our agent in the same network namespaces, the same
# observer (needs root); its figures are merged.
rm -f out/bench-vip.json out/bench-trap.json
case ",${BENCH_SKIP:-}," in
  *,keepalived,*) ;;
  *)
    vt=10; vl=600; [ "${BENCH_QUICK:-0}" = 1 ] && { vt=3; vl=0; }
    BENCH_VIP_TRIALS=$vt BENCH_VIP_LOAD_S="${BENCH_VIP_LOAD_S:-$vl}" bash scripts/bench-vip.sh "$agent_bin" out/bench-vip.json ||
      echo "bench: the floating-IP rig failed; its keys stay null"
    ;;
esac
if [ -f out/bench-vip.json ]; then args+=(--fragment out/bench-vip.json); fi
# array_event_to_trap_ms: the process test with the array simulator and snmptrapd prints it.
case ",${BENCH_SKIP:-}," in
  *,trap,*) ;;
  *)
    ms="$(HA_AGENT_BIN="$agent_bin" cargo test --locked -q -p ha-tests --test process_notifications cluster_and_array -- --nocapture 2>/dev/null |
      sed -n 's/^array_event_to_trap_ms: \([0-9]*\).*/\1/p' | head -1)"
    if [ -n "$ms" ]; then
      printf '{"array_event_to_trap_ms": %s}\n' "$ms" >out/bench-trap.json
      args+=(--fragment out/bench-trap.json)
    else
      echo "bench: the notification test did not print array_event_to_trap_ms"
    fi
    ;;
esac
# failover_ms_*: the virtual rack's power-cut scenario repeated (unless BENCH_RACK=0; needs out/image,
# about 15 s per trial under TCG): the report's figures become a fragment.
if [ "${BENCH_RACK:-1}" = 1 ] && [ -f out/image/root.squashfs ]; then
  trials_default=10; [ "${BENCH_QUICK:-0}" = 1 ] && trials_default=3
  trials="${BENCH_RACK_TRIALS:-$trials_default}"
  echo "bench: virtual rack, power-cut x $trials (tests/vm/rack/rack.py)"
  rm -rf out/rack-bench
  python3 tests/vm/rack/rack.py --scenario power-cut --repeat "$trials" --timing "${BENCH_RACK_TIMING:-fast}" --work "$PWD/out/rack-bench" \
    > out/bench-rack.log 2>&1 || echo "bench: the rack run reported failures (out/bench-rack.log)"
  if [ -f out/rack-bench/report.json ]; then
    python3 - out/rack-bench/report.json out/bench-rack.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
out = {"failover_ms_p50": r.get("failover_ms_p50"), "failover_ms_max": r.get("failover_ms_max"),
       "failover_to_ledger_start_ms_p50": r.get("to_ledger_start_ms_p50"),
       "failover_to_ledger_start_ms_max": r.get("to_ledger_start_ms_max"),
       "ledger_start_ms_p50": r.get("ledger_start_ms_p50"),
       "details": {"rack": {"trials": r.get("power_cut_trials"), "definition": r.get("failover_ms_definition"),
                            "timing": r.get("timing"), "failed_checks": r.get("failed")}}}
if out["failover_ms_p50"] is None:
    out["not_measured"] = {"failover_ms_p50": "no power-cut trial restored the service (out/bench-rack.log)",
                           "failover_ms_max": "no power-cut trial restored the service (out/bench-rack.log)"}
    del out["failover_ms_p50"], out["failover_ms_max"]
json.dump(out, open(sys.argv[2], "w"))
PY
    args+=(--fragment out/bench-rack.json)
  fi
fi
# pacemaker_failover_ms_*, agent_debian_failover_ms_*, ratio_failover_vs_pacemaker: the same power
# cut in the virtual rack with Debian 12 nodes running PostgreSQL, once under Pacemaker + Corosync
# fenced through the box (tests/vm/rack/rack.py --nodes pacemaker, Corosync's default and tuned
# timing) and under the agent (--nodes debian, its default and fast timing with Debian's scripts,
# and its fast timing with its built-in types, --resources builtin), each
# BENCH_PACEMAKER_TRIALS times (default 5, 2 with BENCH_QUICK) after its own cold start (unless
# BENCH_PACEMAKER=0; needs out/image and both Debian node images, make debian-node and
# VARIANT=pacemaker make debian-node; about 12 minutes per setting under TCG).
if [ "${BENCH_PACEMAKER:-1}" = 1 ] && [ -f out/image/root.squashfs ]; then
  ptrials_default=5; [ "${BENCH_QUICK:-0}" = 1 ] && ptrials_default=2
  ptrials="${BENCH_PACEMAKER_TRIALS:-$ptrials_default}"
  VARIANT=agent bash tests/vm/make-debian-node.sh >/dev/null
  VARIANT=pacemaker bash tests/vm/make-debian-node.sh >/dev/null
  for setting in pacemaker:default pacemaker:tuned debian:default debian:fast debian:fast:builtin; do
    IFS=: read -r nodes timing resources <<< "$setting"
    if [ "$nodes" = pacemaker ]; then topt=(--pcmk-timing "$timing"); else topt=(--timing "$timing"); fi
    tag="$nodes-$timing" ropt=()
    if [ -n "$resources" ]; then tag="$tag-$resources" ropt=(--resources "$resources"); fi
    echo "bench: virtual rack, $nodes nodes ($timing timing${resources:+, $resources resources}), power-cut x $ptrials"
    rm -rf "out/rack-bench-$tag"
    python3 tests/vm/rack/rack.py --nodes "$nodes" "${topt[@]}" "${ropt[@]}" --scenario power-cut --repeat "$ptrials" \
      --work "$PWD/out/rack-bench-$tag" > "out/bench-rack-$tag.log" 2>&1 ||
      echo "bench: the rack run reported failures (out/bench-rack-$tag.log)"
  done
  python3 scripts/bench-pacemaker.py out out/bench-pacemaker.json
  args+=(--fragment out/bench-pacemaker.json)
fi
# The observer (it reads the agents' logs every millisecond and times what it sees) runs at a
# real-time priority below the agents' (50), so that the load does not delay its clock reads.
# With reset-on-fork: what it starts (the agents, which set their own priority, and stress-ng,
# whose load must be ordinary work) starts with normal scheduling. Without -R stress-ng ran at
# SCHED_FIFO 40, and real-time throttling stalled the agents for up to a second.
observer=()
if [ "$(id -u)" -eq 0 ] && command -v chrt >/dev/null; then observer=(chrt -f -R 40); fi
HA_AGENT_BIN="$agent_bin" "${observer[@]}" target/release/bench "${args[@]}"
