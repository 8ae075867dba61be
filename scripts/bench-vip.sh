#!/usr/bin/env bash
# Floating-IP failover for make bench (docs/bench.md): keepalived and our agent in the same
# network-namespace rig, timed by the same observer in the same run.
#
# Rig: namespaces for node A, node B, the witness W (agent only), an observer O and a bridge.
# Per trial the holder of the floating IP 10.77.0.100 loses its link (eth0 down) while the
# observer pings the floating IP every 2 ms; the failover time is from the cut to the answer
# that ends the longest silence after it (the new holder answering).
#
# keepalived: VRRPv3, vrrp_rt_priority 50, vrrp_no_swap, advert 1 s / 0.05 s / 0.01 s.
# Our agent: three agents (mlockall, SCHED_FIFO 50) with UDP heartbeat links over the bridge;
# the nodes' resource group is one OCF agent that adds the floating IP and sends a gratuitous
# ARP; the witness's relay channel is a fence-agents style command that "powers off" a node
# (kills its agent, removes the address). Timing profiles: default (200/500/1000 ms), fast
# (25/50/75 ms) and lan (10/20/40 ms). The cut node gets its link back and its agent restarted
# (a power-on) between trials; the next trial cuts the new holder.
#
# Optional load check (BENCH_VIP_LOAD_S > 0): each setting idles that long under stress-ng
# (the load of the false-failover bench) without a fault; any move of the floating IP is a
# false failover. The compared figures are each side's best setting with zero false failovers.
#
# Writes OUT (default out/bench-vip.json), merged into out/bench.json by scripts/bench-run.sh.
# Usage: scripts/bench-vip.sh AGENT_BIN [OUT]   BENCH_VIP_TRIALS (default 10), BENCH_VIP_LOAD_S.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
agent_bin="$(realpath "${1:?usage: bench-vip.sh AGENT_BIN [OUT]}")"
out="${2:-out/bench-vip.json}"
trials="${BENCH_VIP_TRIALS:-10}"
load_s="${BENCH_VIP_LOAD_S:-0}"
mkdir -p "$(dirname "$out")"

fail() {
  printf '{"keepalived_failover_ms_p50": null, "ratio_failover_vs_keepalived": null, "not_measured": {"keepalived_failover_ms_p50": "%s", "ratio_failover_vs_keepalived": "%s"}}\n' "$1" "$1" >"$out"
  echo "bench-vip: $1"
  exit 0
}
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
need=()
command -v keepalived >/dev/null || need+=(keepalived)
command -v ping >/dev/null || need+=(iputils-ping)
command -v arping >/dev/null || need+=(iputils-arping)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || fail "could not install ${need[*]}"
fi
# The package's own service must not run in the root namespace during the bench.
systemctl stop keepalived 2>/dev/null || true

p="hbv$$"
work="$(mktemp -d)"
vip=10.77.0.100
results="$work/results.txt"
: >"$results"
cleanup() {
  for f in "$work"/*.pid; do if [ -f "$f" ]; then kill -9 "$(cat "$f")" 2>/dev/null || true; fi; done
  pkill -f "$work/" 2>/dev/null || true
  for n in a b w o sw; do ip netns del "$p$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for n in sw a b w o; do ip netns add "$p$n"; ip -n "$p$n" link set lo up; done
ip -n "${p}sw" link add br0 type bridge
ip -n "${p}sw" link set br0 up
declare -A addr=([a]=10.77.0.1 [b]=10.77.0.2 [o]=10.77.0.3 [w]=10.77.0.4)
for n in a b w o; do
  ip link add eth0 netns "$p$n" type veth peer name "v$n" netns "${p}sw"
  ip -n "${p}sw" link set "v$n" master br0 up
  ip -n "$p$n" addr add "${addr[$n]}/24" dev eth0
  ip -n "$p$n" link set eth0 up
done

has_vip() { ip -n "$p$1" -4 addr show dev eth0 2>/dev/null | grep -q "$vip/"; }
wait_vip() { # node, seconds
  local end=$((SECONDS + $2))
  until has_vip "$1"; do [ $SECONDS -lt $end ] || return 1; sleep 0.01; done
}
holder() { if has_vip a; then echo a; elif has_vip b; then echo b; else echo -; fi; }
other() { if [ "$1" = a ]; then echo b; else echo a; fi; }

# One trial: cut node $1's link while the observer pings the floating IP; print the failover
# time in ms (or "miss") once $2 holds the address (or after $3 s).
trial() { # cut-node new-holder deadline_s
  ip netns exec "${p}o" ping -D -n -i 0.002 -W 1 "$vip" >"$work/ping.txt" 2>/dev/null &
  local ping_pid=$!
  sleep 1
  local cut
  cut=$(date +%s.%N)
  ip -n "$p$1" link set eth0 down
  wait_vip "$2" "$3" || true
  sleep 0.3
  kill "$ping_pid" 2>/dev/null; wait "$ping_pid" 2>/dev/null || true
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

# Idle under load: count moves of the floating IP (false failovers) for $1 seconds.
load_check() { # label seconds
  local moves=0 last now end=$((SECONDS + $2))
  last=$(holder)
  stress-ng --cpu 2 --vm 1 --vm-bytes 512M --io 1 --hdd 1 --hdd-bytes 128M --timeout "${2}s" >/dev/null 2>&1 &
  local stress=$!
  while [ $SECONDS -lt $end ]; do
    now=$(holder)
    if [ "$now" != "$last" ]; then moves=$((moves + 1)); last=$now; fi
    sleep 0.005
  done
  wait "$stress" 2>/dev/null || true
  echo "$1 load $moves" >>"$results"
  echo "bench-vip: $1: $moves false failovers in $2 s under stress-ng"
}

# ---- keepalived ---------------------------------------------------------------------------

start_keepalived() { # node priority advert
  cat >"$work/k$1.conf" <<CONF
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
  ip netns exec "$p$1" keepalived -P -n -l -f "$work/k$1.conf" -p "$work/k$1.main" -r "$work/k$1.vrrp" \
    >"$work/k$1.log" 2>&1 &
  echo $! >"$work/k$1.pid"
}

stop_keepalived() {
  for n in a b; do
    if [ -f "$work/k$n.pid" ]; then kill "$(cat "$work/k$n.pid")" 2>/dev/null || true; fi
    rm -f "$work/k$n.pid"
  done
  sleep 1
}

for advert in 1 0.05 0.01; do
  n=$trials
  [ "$advert" = 1 ] && n=$(( trials < 3 ? trials : 3 ))
  label="keepalived_$advert"
  start_keepalived a 200 "$advert"
  start_keepalived b 100 "$advert"
  wait_vip a 30 || true
  if [ "$load_s" -gt 0 ] && [ "$advert" != 1 ]; then load_check "$label" "$load_s"; fi
  for _ in $(seq "$n"); do
    wait_vip a 30 || { echo "$label miss" >>"$results"; continue; }
    ms=$(trial a b 15)
    ip -n "${p}a" link set eth0 up
    echo "$label $ms" >>"$results"
    echo "bench-vip: $label: $ms ms"
    # A preempts back once its link is up again; let it settle.
    wait_vip a 15 || true
    sleep 1
  done
  stop_keepalived
done
ip -n "${p}a" link set eth0 up

# ---- our agent ----------------------------------------------------------------------------

od -An -tx1 -N32 /dev/urandom | tr -d " \n" >"$work/cluster.key"
chmod 600 "$work/cluster.key"
cat >"$work/vip-resource" <<SCRIPT
#!/bin/sh
# OCF resource: the floating IP on eth0, announced with a gratuitous ARP.
case "\$1" in
start)
    ip -4 addr show dev eth0 | grep -q "$vip/" || ip addr add $vip/24 dev eth0 || exit 1
    arping -q -U -c 1 -I eth0 $vip >/dev/null 2>&1 &
    exit 0 ;;
stop)
    ip addr del $vip/24 dev eth0 2>/dev/null
    exit 0 ;;
monitor)
    ip -4 addr show dev eth0 | grep -q "$vip/" && exit 0
    exit 7 ;;
*) exit 3 ;;
esac
SCRIPT
cat >"$work/fence" <<SCRIPT
#!/bin/sh
# Power switch stand-in (fence-agents convention): off kills the node's agent and drops the
# floating IP in its namespace, as a power cut would.
action=""; plug=""
while IFS='=' read -r k v; do
    case "\$k" in action) action="\$v" ;; plug|port) plug="\$v" ;; esac
done
case "\$action" in
off)
    [ -f "$work/agent-\$plug.pid" ] && kill -9 "\$(cat "$work/agent-\$plug.pid")" 2>/dev/null
    ip -n "$p\$plug" addr del $vip/24 dev eth0 2>/dev/null
    touch "$work/off-\$plug"
    exit 0 ;;
on) rm -f "$work/off-\$plug"; exit 0 ;;
status|monitor) [ -f "$work/off-\$plug" ] && exit 2; exit 0 ;;
esac
exit 1
SCRIPT
chmod 755 "$work/vip-resource" "$work/fence"

# write_config member interval warn dead
write_config() {
  local m=$1 f="$work/$1.toml"
  local name
  case $m in a) name=node-a ;; b) name=node-b ;; w) name=witness ;; esac
  mkdir -p "$work/state-$m"
  cat >"$f" <<TOML
cluster = "bench"
member = "$name"
key_file = "$work/cluster.key"
state_dir = "$work/state-$m"
control_socket = "$work/$m.sock"

[timing]
interval_ms = $2
warn_ms = $3
dead_ms = $4
initdead_ms = 2000

[shell]
mlockall = true
realtime_priority = 50

[authority]
self_fence_ms = $4
stop_timeout_ms = 2000
margin_ms = $2
preferred = "node-a"
power_on_after_fence = false

[[members]]
name = "witness"
id = 1
role = "witness"
[[members]]
name = "node-a"
id = 2
role = "node"
[[members]]
name = "node-b"
id = 3
role = "node"
TOML
  if [ "$m" = w ]; then
    cat >>"$f" <<TOML

[relay]
health_interval_ms = 60000

[[relay.channels]]
node = "node-a"
board = "command"
command = "$work/fence"
plug = "a"
settle_ms = 0
poll_interval_ms = 5

[[relay.channels]]
node = "node-b"
board = "command"
command = "$work/fence"
plug = "b"
settle_ms = 0
poll_interval_ms = 5
TOML
  else
    cat >>"$f" <<TOML

[resources]
[[resources.group]]
name = "vip"
agent = "$work/vip-resource"
monitor_interval_ms = 1000
TOML
  fi
  # UDP links over the bridge: 11 witness-A, 12 witness-B, 13 A-B.
  link() { printf '\n[[links]]\nid = %s\npeer = "%s"\nkind = "udp"\nlocal = "%s:694"\nremote = "%s:694"\n' "$@" >>"$f"; }
  case $m in
    w) link 11 node-a "${addr[w]}" "${addr[a]}"; link 12 node-b "${addr[w]}" "${addr[b]}" ;;
    a) link 11 witness "${addr[a]}" "${addr[w]}"; link 13 node-b "${addr[a]}" "${addr[b]}" ;;
    b) link 12 witness "${addr[b]}" "${addr[w]}"; link 13 node-a "${addr[b]}" "${addr[a]}" ;;
  esac
  "$agent_bin" check-config "$f" >"$work/check-$m.txt" || { cat "$work/check-$m.txt"; return 1; }
}

start_agent() { # member
  rm -f "$work/off-$1"
  ip netns exec "$p$1" "$agent_bin" run --config "$work/$1.toml" >>"$work/agent-$1.log" 2>&1 &
  echo $! >"$work/agent-$1.pid"
}
stop_agents() {
  for m in a b w; do
    if [ -f "$work/agent-$m.pid" ]; then kill "$(cat "$work/agent-$m.pid")" 2>/dev/null || true; fi
  done
  sleep 1
  for m in a b w; do
    if [ -f "$work/agent-$m.pid" ]; then kill -9 "$(cat "$work/agent-$m.pid")" 2>/dev/null || true; fi
    rm -f "$work/agent-$m.pid"
  done
  for m in a b; do ip -n "$p$m" addr del $vip/24 dev eth0 2>/dev/null || true; done
}
# The restarted node is back in standby: its status answers and shows the witness reachable.
wait_standby() { # member seconds
  local end=$((SECONDS + $2))
  until "$agent_bin" status --json --socket "$work/$1.sock" 2>/dev/null | grep -q '"state":"reachable"'; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}

for profile in default:200:500:1000 fast:25:50:75 lan:10:20:40; do
  IFS=: read -r pname interval warn dead <<<"$profile"
  label="agent_$pname"
  for m in w a b; do rm -rf "$work/state-$m"; write_config "$m" "$interval" "$warn" "$dead" || fail "check-config refused the $pname profile"; done
  for m in w a b; do start_agent "$m"; done
  if ! wait_vip a 30; then
    echo "bench-vip: $label: the service never started"; tail -5 "$work"/agent-*.log
    echo "$label miss" >>"$results"; stop_agents; continue
  fi
  sleep 1
  if [ "$load_s" -gt 0 ] && [ "$pname" != default ]; then load_check "$label" "$load_s"; fi
  for _ in $(seq "$trials"); do
    h=$(holder)
    if [ "$h" = - ]; then echo "$label miss" >>"$results"; wait_vip a 10 || wait_vip b 10 || true; continue; fi
    o=$(other "$h")
    ms=$(trial "$h" "$o" 15)
    echo "$label $ms" >>"$results"
    echo "bench-vip: $label: cut node-$h: $ms ms"
    # Power the fenced node on again: link back, agent restarted; it rejoins in standby.
    ip -n "$p$h" link set eth0 up
    if [ -f "$work/off-$h" ] || ! kill -0 "$(cat "$work/agent-$h.pid")" 2>/dev/null; then start_agent "$h"; fi
    wait_standby "$h" 20 || echo "bench-vip: node-$h did not rejoin"
    sleep 1
  done
  stop_agents
done

python3 - "$results" "$out" <<'PY'
import json, math, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def pct(xs, q):
    xs = sorted(xs)
    return xs[max(1, math.ceil(q * len(xs))) - 1] if xs else None
details = {}
for label in sorted({r[0] for r in rows}):
    xs = [float(r[1]) for r in rows if r[0] == label and len(r) == 2 and r[1] != "miss"]
    load = [int(r[2]) for r in rows if r[0] == label and len(r) == 3 and r[1] == "load"]
    details[label] = {"n": len(xs), "missed": sum(1 for r in rows if r[0] == label and r[1:] == ["miss"]),
                      "p50": pct(xs, 0.5), "max": max(xs) if xs else None,
                      "false_failovers_under_load": load[0] if load else None}
def best(prefix, order):
    # The shortest setting with zero false failovers under load (when measured), else the
    # documented default choice.
    for key in order:
        d = details.get(prefix + key)
        if d and d["p50"] is not None and d["false_failovers_under_load"] in (0, None):
            return prefix + key, d
    return None, None
k_key, k = best("keepalived_", ["0.01", "0.05", "1"]) if any(v["false_failovers_under_load"] is not None for v in details.values()) else ("keepalived_0.05", details.get("keepalived_0.05"))
a_key, a = best("agent_", ["lan", "fast", "default"])
out = {"keepalived_failover_ms_p50": k["p50"] if k else None,
       "agent_vip_failover_ms_p50": a["p50"] if a else None,
       "ratio_failover_vs_keepalived": round(a["p50"] / k["p50"], 3) if a and k and a["p50"] and k["p50"] else None,
       "not_measured": {},
       "details": {"vip": dict(details, compared={"keepalived": k_key, "agent": a_key},
                   observer="ping -D -i 0.002 of the floating IP from a third namespace; failover = first answer after the longest gap minus the link cut"),
                   "keepalived": {"setting": k_key, "p50": k["p50"] if k else None}}}
for key in ("keepalived_failover_ms_p50", "agent_vip_failover_ms_p50", "ratio_failover_vs_keepalived"):
    if out[key] is None:
        out["not_measured"][key] = "no successful trial at the compared setting (see details.vip)"
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(json.dumps(details, indent=1))
print("compared: keepalived %s, agent %s, ratio %s" % (k_key, a_key, out["ratio_failover_vs_keepalived"]))
PY
