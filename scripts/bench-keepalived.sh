#!/usr/bin/env bash
# keepalived reference for make bench (docs/bench.md): two nodes and an observer in network
# namespaces on one bridge; keepalived (VRRPv3, real-time priority, no swap) holds a floating
# IP on node A; per trial A's link goes down and an observer pinging the floating IP every 2 ms
# times the gap until node B answers. Advert intervals 1 s, 0.05 s and 0.01 s.
# Writes out/bench-keepalived.json (merged into out/bench.json by scripts/bench-run.sh).
# Usage: scripts/bench-keepalived.sh [OUT]   BENCH_KEEPALIVED_TRIALS (default 10; 3 at 1 s).
# Needs root. Our agent is not in this rig yet: ratio_failover_vs_keepalived stays null.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/bench-keepalived.json}"
trials="${BENCH_KEEPALIVED_TRIALS:-10}"
mkdir -p "$(dirname "$out")"

fail() {
  printf '{"keepalived_failover_ms_p50": null, "not_measured": {"keepalived_failover_ms_p50": "%s"}}\n' "$1" >"$out"
  echo "bench-keepalived: $1"
  exit 0
}
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
need=()
command -v keepalived >/dev/null || need+=(keepalived)
command -v ping >/dev/null || need+=(iputils-ping)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || fail "could not install ${need[*]}"
fi
# The package's own service must not run in the root namespace during the bench.
systemctl stop keepalived 2>/dev/null || true

p="hbk$$"
work="$(mktemp -d)"
vip=10.77.0.100
cleanup() {
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for n in a b o sw; do ip netns del "$p$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for n in sw a b o; do ip netns add "$p$n"; ip -n "$p$n" link set lo up; done
ip -n "${p}sw" link add br0 type bridge
ip -n "${p}sw" link set br0 up
i=1
for n in a b o; do
  ip link add eth0 netns "$p$n" type veth peer name "v$n" netns "${p}sw"
  ip -n "${p}sw" link set "v$n" master br0 up
  ip -n "$p$n" addr add "10.77.0.$i/24" dev eth0
  ip -n "$p$n" link set eth0 up
  i=$((i + 1))
done

has_vip() { ip -n "$p$1" -4 addr show dev eth0 | grep -q "$vip/"; }
wait_vip() { # node, seconds
  local end=$((SECONDS + $2))
  until has_vip "$1"; do [ $SECONDS -lt $end ] || return 1; sleep 0.01; done
}

start_keepalived() { # node priority advert
  cat >"$work/$1.conf" <<CONF
global_defs {
  router_id $1
  vrrp_version 3
  vrrp_rt_priority 50
  vrrp_no_swap
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 1
}
vrrp_instance VI {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $2
  advert_int $3
  virtual_ipaddress {
    $vip/24
  }
}
CONF
  ip netns exec "$p$1" keepalived -P -n -l -f "$work/$1.conf" -p "$work/$1.main" -r "$work/$1.vrrp" \
    >"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
}

stop_keepalived() {
  for n in a b; do
    [ -f "$work/$n.pid" ] && kill "$(cat "$work/$n.pid")" 2>/dev/null
    rm -f "$work/$n.pid"
  done
  sleep 1
}

# One trial: A holds the VIP; ping it every 2 ms from the observer; cut A's link; the time from
# the cut to the answer that ends the longest silence after it is the failover time.
trial() { # advert -> prints ms or "miss"
  local deadline=$1
  wait_vip a 30 || { echo miss; return; }
  ip netns exec "${p}o" ping -D -n -i 0.002 -W 1 "$vip" >"$work/ping.txt" 2>/dev/null &
  local ping_pid=$!
  sleep 1
  local cut
  cut=$(date +%s.%N)
  ip -n "${p}a" link set eth0 down
  wait_vip b "$deadline" || true
  sleep 0.3
  kill "$ping_pid" 2>/dev/null; wait "$ping_pid" 2>/dev/null || true
  ip -n "${p}a" link set eth0 up
  python3 - "$work/ping.txt" "$cut" <<'PY'
import re, sys
cut = float(sys.argv[2])
ts = [float(m.group(1)) for m in (re.match(r"\[(\d+\.\d+)\] \d+ bytes from", l) for l in open(sys.argv[1])) if m]
# The answer that ends the longest silence after the cut is the first one from the new holder.
best = None
for prev, t in zip(ts, ts[1:]):
    if t > cut and (best is None or t - prev > best[0]):
        best = (t - prev, t)
print("miss" if best is None else "%.1f" % ((best[1] - cut) * 1000))
PY
}

results="$work/results.txt"
: >"$results"
for advert in 1 0.05 0.01; do
  n=$trials
  [ "$advert" = 1 ] && n=$(( trials < 3 ? trials : 3 ))
  start_keepalived a 200 "$advert"
  start_keepalived b 100 "$advert"
  for _ in $(seq "$n"); do
    ms=$(trial 15)
    echo "$advert $ms" >>"$results"
    echo "bench-keepalived: advert $advert s: $ms ms"
    # A preempts back once its link is up again; let it settle.
    wait_vip a 15 || true
    sleep 1
  done
  stop_keepalived
done

python3 - "$results" "$out" <<'PY'
import json, math, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def pct(xs, q):
    xs = sorted(xs)
    return xs[max(1, math.ceil(q * len(xs))) - 1] if xs else None
details = {}
for advert in ("1", "0.05", "0.01"):
    xs = [float(v) for a, v in rows if a == advert and v != "miss"]
    details["advert_%s_s" % advert] = {"n": len(xs), "missed": sum(1 for a, v in rows if a == advert and v == "miss"),
                                        "p50": pct(xs, 0.5), "max": max(xs) if xs else None}
best = details["advert_0.05_s"]["p50"]
out = {"keepalived_failover_ms_p50": best,
       "not_measured": {"ratio_failover_vs_keepalived":
           "our agent is not in the namespace rig yet (it cannot move a floating IP itself); compare by hand with failover_process_ms_p50, a different observer"},
       "details": {"keepalived": dict(details, setting="advert 0.05 s (VRRPv3, vrrp_rt_priority 50, vrrp_no_swap), the issue's shortest stable setting; its stability under load was not re-tested here",
                                      observer="ping -i 0.002 of the floating IP from a third namespace; failover = first answer after the gap minus the link cut")}}
if best is None:
    out["not_measured"]["keepalived_failover_ms_p50"] = "no successful trial at advert 0.05 s"
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(json.dumps(details))
PY
