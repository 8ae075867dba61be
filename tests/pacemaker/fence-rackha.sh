#!/usr/bin/env bash
# Pacemaker's own fencer fences a node through fence_rackha and a running witness.
#
# Usage (root): tests/pacemaker/fence-rackha.sh AGENT_BINARY   (make test-fence-pacemaker; the test
# crate's configs tool must be built beside it)
#
# In private mount and network namespaces (nothing of the host's cluster state, ports or IPC
# is touched; /etc/corosync, /var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker, /dev/shm and
# /run are tmpfs there): a one-node Corosync 3 cluster on loopback and Pacemaker (Debian 12's
# packages), and an ha-agent witness whose [fence_service] serves the plug "pm-b". The plug is
# a fence-agent command channel whose "relay" is a state file (the relay boards are covered by
# tests/tests/process_fence_service.rs; this test is about Pacemaker's side). A stonith
# resource of type fence_rackha is created in the CIB; then:
#   - the fencer registers the device and starts it (its monitor runs the agent's monitor);
#   - `stonith_admin --fence pm-b` switches the plug off through the box (the state file
#     reads off), the fencer's history has the fence, the box's journal has it;
#   - `stonith_admin --reboot pm-b` ends with the plug on;
#   - with the wrong key in the device, a fence fails and the plug stays on.
# The agent is installed as /usr/sbin/fence_rackha for the run (the fencer looks there) and
# removed afterwards unless it was there before.
set -euo pipefail

bin=$(realpath "${1:?usage: $0 AGENT_BINARY}")
# The test crate's configs tool, built beside the agent (make test-fence-pacemaker).
configs=$(dirname "$bin")/configs
[ -x "$configs" ] || { echo "fence-rackha: $configs missing: cargo build -p ha-tests --bin configs"; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "fence-rackha: needs root (namespaces, the fencer)"; exit 2; }
for tool in corosync corosync-cfgtool pacemakerd cibadmin crm_attribute stonith_admin crm_mon unshare; do
  command -v "$tool" >/dev/null || { echo "fence-rackha: $tool missing: apt-get install pacemaker corosync"; exit 2; }
done
if [ -z "${FENCE_RACKHA_NS:-}" ]; then
  exec env FENCE_RACKHA_NS=1 unshare --mount --net --propagation private "$0" "$bin"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fence-rackha-pcmk.XXXXXX")
link=/usr/sbin/fence_rackha
made_link=0
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ "$made_link" = 1 ]; then rm -f "$link"; fi
  cp -r /var/log/pacemaker "$work/pacemaker-log" 2>/dev/null || true
  echo "fence-rackha: logs in $work"
}
trap cleanup EXIT
fail() { echo "fence-rackha: FAIL: $*"; tail -n 20 "$work/witness.log" || true; exit 1; }
ok() { echo "fence-rackha: ok: $*"; }
# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "$what (waited ${seconds} s)"
    sleep 0.2
  done
}
power() { cat "$work/pm-b.power"; }

ip link set lo up
for d in /etc/corosync /var/lib/corosync /var/lib/pacemaker /var/log/pacemaker /run /dev/shm; do
  mkdir -p "$d"
  mount -t tmpfs tmpfs "$d"
done
install -d -o hacluster -g haclient -m 0750 /var/lib/pacemaker/cib /var/lib/pacemaker/pengine \
  /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores
install -d -o hacluster -g haclient -m 0770 /var/log/pacemaker
install -d -m 0755 /run/corosync

if [ ! -e "$link" ]; then
  ln -s "$bin" "$link"
  made_link=1
fi
[ "$(readlink -f "$link")" = "$bin" ] || fail "$link exists and is not this agent"

# --- The witness ------------------------------------------------------------------------------
mkkey() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"; chmod 600 "$1"; }
mkkey "$work/cluster.key"
mkkey "$work/fence.key"
mkkey "$work/wrong.key"
echo on >"$work/pm-b.power"
cat >"$work/relay" <<'RELAY'
#!/bin/sh
# A fence agent whose plug is a state file: action=off|on|status on stdin.
action=
while IFS='=' read -r k v; do [ "$k" = action ] && action=$v; done
state=$(dirname "$0")/pm-b.power
case $action in
  off) echo off >"$state" ;;
  on) echo on >"$state" ;;
  status) [ "$(cat "$state")" = on ] && exit 0; exit 2 ;;
  *) exit 1 ;;
esac
RELAY
chmod 755 "$work/relay"
# Its configuration from the one generator of the tests' configurations (ha_tests::topology).
"$configs" fence-service "$work" work="$work" >/dev/null || fail "configs fence-service"
"$bin" check-config "$work/witness.toml" >"$work/check.log" 2>&1 || { cat "$work/check.log"; fail "check-config"; }
HA_AGENT_LOG=info "$bin" run --config "$work/witness.toml" >"$work/witness.log" 2>&1 &
pids+=($!)
wait_for 10 "the witness serves fence_rackha" grep -q "fence service: answering" "$work/witness.log"

# --- Corosync and Pacemaker -------------------------------------------------------------------
cat >/etc/corosync/corosync.conf <<'COROSYNC'
totem {
    version: 2
    cluster_name: fencetest
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: pcmk-1
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_stderr: yes
    to_logfile: no
    to_syslog: no
}
COROSYNC
corosync -f >"$work/corosync.log" 2>&1 &
pids+=($!)
wait_for 30 "corosync is up" corosync-cfgtool -s
pacemakerd -f >"$work/pacemakerd.log" 2>&1 &
pids+=($!)
online() { crm_mon -1 2>/dev/null | grep -q "Online: \[ pcmk-1 \]"; }
wait_for 90 "pacemaker: pcmk-1 online" online
ok "corosync and pacemaker $(pacemakerd --version | head -n 1 | awk '{print $2}') running, pcmk-1 online"

device() {
  cat <<XML
<primitive id="fence-box" class="stonith" type="fence_rackha">
  <instance_attributes id="fence-box-ia">
    <nvpair id="fence-box-ip" name="ip" value="127.0.0.1"/>
    <nvpair id="fence-box-key" name="key_file" value="$1"/>
    <nvpair id="fence-box-timeout" name="power_timeout" value="20"/>
    <nvpair id="fence-box-hosts" name="pcmk_host_list" value="pm-b"/>
  </instance_attributes>
  <operations>
    <op id="fence-box-monitor" name="monitor" interval="60s"/>
  </operations>
</primitive>
XML
}
crm_attribute --type crm_config --name stonith-enabled --update true
crm_attribute --type crm_config --name no-quorum-policy --update ignore
cibadmin --create --scope resources --xml-text "$(device "$work/fence.key")"
registered() { stonith_admin --list-registered 2>/dev/null | grep -q fence-box; }
wait_for 60 "the fencer registers fence-box" registered
started() { crm_mon -1 2>/dev/null | grep -q "fence-box.*Started"; }
wait_for 60 "fence-box started (its monitor: fence_rackha's monitor)" started
ok "the fencer registered fence-box and started it (monitor answered through the box)"

# --- Fence through the fencer -------------------------------------------------------------------
t0=$(date +%s%N)
stonith_admin --fence pm-b --timeout 60 >"$work/fence.out" 2>&1 || { cat "$work/fence.out"; fail "stonith_admin --fence pm-b"; }
t1=$(date +%s%N)
[ "$(power)" = off ] || fail "the fencer says fenced, the plug reads $(power)"
stonith_admin --history pm-b >"$work/history.out" 2>&1 || true
grep -Eq "successful|fenced" "$work/history.out" || { cat "$work/history.out"; fail "no successful fence in the fencer's history"; }
ok "stonith_admin --fence pm-b: exit 0 after $(((t1 - t0) / 1000000)) ms, the plug is off; history: $(head -n 1 "$work/history.out" | sed 's/^ *//')"
"$bin" log --config "$work/witness.toml" >"$work/journal.out" 2>&1
grep -q "pm-b fence service: off asked by 127.0.0.1" "$work/journal.out" || { cat "$work/journal.out"; fail "the box's journal lacks the fence"; }
ok "the box journaled: $(grep -m1 'pm-b fence service: off:' "$work/journal.out" | cut -c1-120)"

# --- Reboot: off, then on -----------------------------------------------------------------------
stonith_admin --reboot pm-b --timeout 60 >"$work/reboot.out" 2>&1 || { cat "$work/reboot.out"; fail "stonith_admin --reboot pm-b"; }
[ "$(power)" = on ] || fail "after a reboot the plug reads $(power)"
ok "stonith_admin --reboot pm-b: exit 0, the plug is on again"

# --- A wrong key: the fence fails, the plug stays on --------------------------------------------
cibadmin --replace --scope resources --xml-text "<resources>$(device "$work/wrong.key")</resources>"
wrong_key() { stonith_admin --list-registered >/dev/null && cibadmin --query --scope resources | grep -q wrong.key; }
wait_for 30 "the CIB holds the wrong key" wrong_key
if stonith_admin --fence pm-b --timeout 30 >"$work/wrong.out" 2>&1; then
  fail "a fence with the wrong key succeeded"
fi
[ "$(power)" = on ] || fail "with the wrong key the plug was switched"
grep -q "fence_rackha: Failed: .*the key files differ" /var/log/pacemaker/pacemaker.log ||
  fail "the fencer's log does not give the agent's reason"
ok "with the wrong key the fencer's fence fails ($(tail -n 1 "$work/wrong.out")), its log says why (the key files differ), the plug stays on"
echo "fence-rackha: PASS"
