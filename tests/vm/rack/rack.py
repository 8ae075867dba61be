#!/usr/bin/env python3
"""The virtual rack (issue 8): three VMs of the QEMU test image (witness, node-a, node-b) wired
through the harness (harness.py), the ledger service on the nodes, and the scenarios, each
ending with checks. Standard library only. Reference: docs/rack.md.

Usage: rack.py [--scenario NAME]... [--image DIR] [--work DIR] [--list]
Without --scenario, runs them all in order. Exits 1 when a check failed."""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import ledger  # noqa: E402
from harness import Timeout, now_s, say  # noqa: E402

MEMBERS = ("witness", "node-a", "node-b")
NODES = ("node-a", "node-b")
ADDR = {"witness": "10.10.0.1", "node-a": "10.10.0.2", "node-b": "10.10.0.3"}
IDS = {"witness": 1, "node-a": 2, "node-b": 3}
# Serial cables: name, ends, link id; and the port each end sees (ttyS1, ttyS2).
CABLES = (("wa", "witness", "node-a", 1), ("wb", "witness", "node-b", 2), ("ab", "node-a", "node-b", 3))
UDP_IDS = {frozenset(("witness", "node-a")): 11, frozenset(("witness", "node-b")): 12,
           frozenset(("node-a", "node-b")): 13}
HUB_BASE_PORT = int(os.environ.get("RACK_HUB_PORT", "47200"))
SHARED_DISK_MIB = 64
DATA_DISK_MIB = 64

# Timing for three TCG guests on two shared cores: heartbeats every 250 ms, a link dead after
# 2 s of silence (the guests' scheduling jitter reaches a few hundred ms).
TIMING = dict(interval_ms=250, warn_ms=1000, dead_ms=2000, initdead_ms=20000)
AUTHORITY = """[authority]
self_fence_ms = 3000
stop_timeout_ms = 15000
margin_ms = 2000
preferred = "node-a"
power_on_after_fence = true
fence_retry_initial_ms = 1000
fence_retry_max_ms = 5000
"""
# Bounds on the waits of the scenarios (host clock).
GRANT_TIMEOUT_S = 90
FAILOVER_TIMEOUT_S = 90
SETTLE_TIMEOUT_S = 180


def serial_ports(member):
    """The cables on a member's ttyS1, ttyS2 in order: (cable, peer, link id)."""
    out = []
    for name, a, b, link in CABLES:
        if member in (a, b):
            out.append((name, b if member == a else a, link))
    return out


def config(member):
    lines = ['cluster = "rack"', 'member = "%s"' % member,
             'key_file = "/etc/ha-agent/cluster.key"', 'state_dir = "/data/ha-agent/state"',
             'control_socket = "/run/ha-agent/control.sock"', "", "[timing]"]
    lines += ["%s = %d" % kv for kv in TIMING.items()]
    lines += ["", "[shell]", "mlockall = true", "", AUTHORITY]
    if member == "witness":
        lines.append("[relay]\nhealth_interval_ms = 10000\n")
        for coil, node in enumerate(NODES):
            lines.append('[[relay.channels]]\nnode = "%s"\nboard = "modbus"\ndevice = "/dev/ttyS3"\n'
                         'baud = 9600\naddress = 1\nchannel = %d\ntimeout_ms = 2000\nsettle_ms = 300\n'
                         'poll_interval_ms = 300\nconfirm_timeout_ms = 10000\n' % (node, coil))
    else:
        lines.append('[resources]\nmax_restarts = 2\nrestart_window_s = 300\n\n'
                     '[[resources.group]]\nname = "ledger"\nagent = "/data/rack/ledger"\n'
                     'params = { node = "%s", device = "/dev/vdb", ack = "/dev/ttyS3" }\n'
                     'start_timeout_ms = 30000\nstop_timeout_ms = 10000\nmonitor_timeout_ms = 10000\n'
                     'monitor_interval_ms = 2000\n' % member)
    lines.append('[watchdog]\ndevice = "/dev/watchdog"\ntimeout_s = 10\n')
    for m in MEMBERS:
        lines.append('[[members]]\nname = "%s"\nid = %d\nrole = "%s"\n'
                     % (m, IDS[m], "witness" if m == "witness" else "node"))
    for i, (_, peer, link) in enumerate(serial_ports(member)):
        lines.append('[[links]]\nid = %d\npeer = "%s"\nkind = "serial"\ndevice = "/dev/ttyS%d"\nbaud = 115200\n'
                     % (link, peer, i + 1))
    for peer in MEMBERS:
        if peer != member:
            lines.append('[[links]]\nid = %d\npeer = "%s"\nkind = "udp"\nlocal = "%s:694"\nremote = "%s:694"\n'
                         % (UDP_IDS[frozenset((member, peer))], peer, ADDR[member], ADDR[peer]))
    return "\n".join(lines) + "\n"


def interfaces(member):
    return ("auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
            "    address %s\n    netmask 255.255.255.0\n" % ADDR[member])


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


class Rack:
    def __init__(self, image, work):
        self.image, self.work = image, work
        self.timeline = []  # (time, text)
        self.results = []  # (scenario, ok, text)
        self.figures = []  # (scenario, name, seconds)
        self.scenario = "setup"
        self.boot_threads = []

    def note(self, text):
        self.timeline.append((now_s(), text))
        say(text)

    def check(self, ok, text):
        self.results.append((self.scenario, bool(ok), text))
        say("%s: %s" % ("PASS" if ok else "FAIL", text))
        return ok

    def figure(self, name, seconds):
        self.figures.append((self.scenario, name, seconds))
        say("figure: %s = %.1f s" % (name, seconds))

    # ---- building and wiring
    def prepare(self):
        if os.path.exists(self.work):
            shutil.rmtree(self.work)
        os.makedirs(self.work)
        for f in ("vmlinuz", "initramfs.cpio.gz"):
            if not os.path.exists(os.path.join(self.image, f)):
                raise SystemExit("rack: %s/%s missing: run 'make image'" % (self.image, f))
        key = os.path.join(self.work, "cluster.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(key, 0o600)
        self.disks = {}
        for m in MEMBERS:
            cfg = os.path.join(self.work, m + ".toml")
            ifs = os.path.join(self.work, m + ".interfaces")
            with open(cfg, "w") as f:
                f.write(config(m))
            with open(ifs, "w") as f:
                f.write(interfaces(m))
            disk = os.path.join(self.work, m + "-data.ext4")
            run(["bash", os.path.join(ROOT, "tests/vm/make-data-disk.sh"), disk, cfg, key, m, ifs,
                 str(DATA_DISK_MIB)])
            if m != "witness":
                # The resource agent, on the data disk (the root is read-only).
                script = os.path.join(HERE, "ledger-resource")
                cmds = "mkdir rack\nwrite %s rack/ledger\nsif rack/ledger mode 0100755\n" % script
                run(["debugfs", "-w", "-f", "-", disk], input=cmds.encode(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.disks[m] = disk
        self.shared = os.path.join(self.work, "shared.img")
        with open(self.shared, "wb") as f:
            f.truncate(SHARED_DISK_MIB * 1024 * 1024)
        self.hub = harness.Hub(MEMBERS, HUB_BASE_PORT)
        self.cables = {name: harness.Cable(name, a, b, self.work) for name, a, b, _ in CABLES}
        self.vms = {}
        for m in MEMBERS:
            paths = [self.cables[c].paths[self.cables[c].ends.index(m)] for c, _, _ in serial_ports(m)]
            ack = None
            if m == "witness":
                paths.append(os.path.join(self.work, "relay.sock"))
            else:
                ack = os.path.join(self.work, "ack-%s.sock" % m)
            self.vms[m] = harness.Vm(m, self.work, self.image, self.disks[m], paths,
                                     self.hub.ports[m], self.shared if m != "witness" else None, ack)
            if ack:
                harness.AckPort(ack, self.vms[m])
        self.relay = harness.RelayBoard(os.path.join(self.work, "relay.sock"), NODES, self.relay_switched)

    def relay_switched(self, node, on):
        vm = self.vms[node]
        if on:
            self.note("relay: coil of %s ON: power on (a new QEMU process, cold boot)" % node)
            vm.power_on()
            self.boot_in_background(vm)
        else:
            self.note("relay: coil of %s OFF: power off (QMP quit)%s"
                      % (node, "" if vm.powered else "; it was already off"))
            vm.power_off()

    def boot_in_background(self, vm):
        def wait():
            try:
                up = vm.wait_ready()
                self.note("%s booted again: agent ready after %.1f s of guest uptime" % (vm.name, up))
            except (Timeout, OSError) as e:
                self.note("%s did not come back: %s" % (vm.name, str(e).splitlines()[0]))
        t = threading.Thread(target=wait, daemon=True)
        t.start()
        self.boot_threads.append(t)

    def boot_all(self):
        # The witness first: its initdead has passed when node-a (booted next) appears, so it
        # grants node-a without waiting for node-b (wait_for_all = false).
        for m in ("witness", "node-a", "node-b"):
            if self.vms[m].powered:
                # The witness fenced a node it never saw and the relay powered it on again:
                # it is booting already (boot_in_background waits for it).
                for t in self.boot_threads:
                    t.join(harness.BOOT_TIMEOUT_S)
                self.boot_threads = []
                continue
            self.vms[m].power_on()
            up = self.vms[m].wait_ready()
            self.note("%s booted: agent ready after %.1f s of guest uptime (%.1f s host clock)"
                      % (m, up, self.vms[m].ready_at - self.vms[m].started_at))
        self.witness_ready_at = self.vms["witness"].ready_at

    def shutdown(self):
        for vm in self.vms.values():
            vm.power_off()
        for vm in self.vms.values():
            with open(os.path.join(vm.dir, "syslog.txt"), "w") as f:
                f.write(vm.syslog())

    # ---- observation
    def status(self, member):
        return self.vms[member].status()

    def authority(self):
        s = self.status("witness")
        return (s or {}).get("authority") or {}

    def resources_state(self, node):
        s = self.status(node)
        return ((s or {}).get("authority") or {}).get("resources_state")

    def acks_from(self, node, since=0.0):
        return [a for a in self.vms[node].acks if a[0] >= since]

    def all_acks(self):
        return [a for n in NODES for a in self.vms[n].acks]

    def wait(self, what, timeout_s, poll):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            v = poll()
            if v:
                return v
            time.sleep(0.3)
        return None

    def settled(self, timeout_s=SETTLE_TIMEOUT_S):
        """Wait until all three VMs run, the witness reaches both nodes, one node holds the grant
        and writes the ledger, and the other is in standby. Returns (holder, generation)."""
        for t in self.boot_threads:
            t.join(max(1, timeout_s))
        self.boot_threads = []

        def poll():
            a = self.authority()
            s = self.status("witness") or {}
            reach = {m.get("name"): m.get("state") for m in s.get("members", [])}
            holder = a.get("holder")
            if not holder or any(reach.get(n) != "reachable" for n in NODES) or a.get("fencing"):
                return None
            other = NODES[1 - NODES.index(holder)]
            if self.resources_state(holder) != "running" or self.resources_state(other) == "running":
                return None
            if not self.acks_from(holder, now_s() - 3):
                return None
            return holder, a.get("generation")
        return self.wait("settled", timeout_s, poll)

    def ack_gap(self, since):
        """The longest pause between two acknowledgements (of any node) since `since`."""
        times = sorted(a[0] for a in self.all_acks() if a[0] >= since)
        times.append(now_s())
        gaps = [b - a for a, b in zip([since] + times[:-1], times)]
        return max(gaps) if gaps else None

    def check_ledger(self):
        summary, problems = ledger.check(self.shared, self.all_acks())
        say("ledger: " + summary)
        self.check(not problems, "ledger: no interleaved writers, no acknowledged record lost"
                   + ("" if not problems else ":\n    " + "\n    ".join(problems[:10])))


# ---- scenarios: each takes the rack and ends with its checks


def cold_start(rack):
    """Boot the three members; exactly one node (the preferred one) runs the service."""
    t0 = now_s()
    rack.boot_all()
    got = rack.wait("grant", GRANT_TIMEOUT_S, lambda: rack.authority().get("holder"))
    rack.check(got, "the witness granted the service to a node (holder %s)" % got)
    settled = rack.settled(GRANT_TIMEOUT_S)
    rack.check(settled, "exactly one node runs the service and writes the ledger: %s" % (settled,))
    if not settled:
        return
    holder, gen = settled
    first = min(a[0] for a in rack.acks_from(holder))
    rack.figure("witness ready to first ledger record", first - rack.witness_ready_at)
    rack.figure("power-on of the first VM to first ledger record", first - t0)
    rack.check(holder == "node-a", "the preferred node (booted first) holds the grant")
    states = {n: rack.resources_state(n) for n in NODES}
    rack.check(sorted(states.values()).count("running") == 1, "resources running on one node only: %s" % states)


def one_cable(rack):
    """Cut the serial cable witness-A: a link goes down, nothing fails over."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    t0 = now_s()
    rack.cables["wa"].set("cut")
    rack.note("cut the serial cable witness-A (both directions)")
    down = rack.wait("link down", 20, lambda: any(
        l.get("id") == 1 and l.get("state") == "down" for l in (rack.status("witness") or {}).get("links", [])))
    rack.check(down, "the witness sees serial link 1 (witness-A) down")
    time.sleep(8)
    a = rack.authority()
    rack.check(a.get("holder") == holder and a.get("generation") == gen,
               "no failover: holder %s generation %s (was %s %s)" % (a.get("holder"), a.get("generation"), holder, gen))
    reach = {m.get("name"): m.get("state") for m in (rack.status("witness") or {}).get("members", [])}
    rack.check(reach.get("node-a") == "reachable", "the witness still reaches node-a over the LAN: %s" % reach)
    rack.cables["wa"].set("pass")
    rack.note("cable witness-A repaired")
    up = rack.wait("link up", 20, lambda: any(
        l.get("id") == 1 and l.get("state") == "up" for l in (rack.status("witness") or {}).get("links", [])))
    rack.check(up, "serial link 1 up again")
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))


def isolate(rack, member, on):
    for name, a, b, _ in CABLES:
        if member in (a, b):
            rack.cables[name].set("cut" if on else "pass")
    for other in MEMBERS:
        if other != member:
            rack.hub.set(member, other, "cut" if on else "pass")


def witness_isolation(rack):
    """Cut every link of the witness for 20 s: the nodes keep quorum, nothing fails over, and
    the isolated witness fences nobody (W3)."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    t0 = now_s()
    fences_before = len(rack.relay.events("off"))
    isolate(rack, "witness", True)
    rack.note("isolated the witness: its two serial cables and its LAN port cut")
    time.sleep(20)
    rack.check(rack.resources_state(holder) == "running", "%s still runs the service" % holder)
    other = NODES[1 - NODES.index(holder)]
    rack.check(rack.resources_state(other) != "running", "%s does not" % other)
    rack.check(len(rack.relay.events("off")) == fences_before, "the isolated witness fenced nobody")
    isolate(rack, "witness", False)
    rack.note("witness reconnected")
    back = rack.settled(60)
    rack.check(back and back == (holder, gen), "the witness resumes supervision, same holder and generation: %s" % (back,))
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))


def failover(rack, holder, gen, t0, cause, relay_works=True, timeout_s=FAILOVER_TIMEOUT_S):
    """After a fault of `holder` at t0: wait for the other node to write under a newer
    generation; record the times; check the fence."""
    other = NODES[1 - NODES.index(holder)]
    fences = []
    fencing_seen = [None]

    def poll():
        a = rack.authority()
        if a.get("fencing") and fencing_seen[0] is None:
            fencing_seen[0] = now_s()
        if a.get("holder") == other and (a.get("generation") or 0) > gen:
            new = [x for x in rack.acks_from(other, t0) if x[2] > gen]
            if new:
                return a, new[0]
        return None
    got = rack.wait("failover", timeout_s, poll)
    rack.check(got, "%s took over under a newer generation after %s" % (other, cause))
    if not got:
        return
    a, first = got
    last_old = max([x[0] for x in rack.acks_from(holder) if x[0] <= t0 + 60] or [t0])
    offs = [t for t, n in rack.relay.events("off") if n == holder and t >= t0]
    if relay_works:
        rack.check(offs, "the witness fenced %s through the relay (Modbus coil off)" % holder)
    rack.note("%s granted generation %d, first ledger record at +%.1f s" % (other, a["generation"], first[0] - t0))
    if fencing_seen[0]:
        rack.figure("%s to fencing seen in the witness's status" % cause, fencing_seen[0] - t0)
    if offs:
        rack.figure("%s to relay off command (fence)" % cause, offs[0] - t0)
    rack.figure("%s to service restored (first record of %s)" % (cause, other), first[0] - t0)
    rack.figure("service gap (last record of %s to first of %s)" % (holder, other), first[0] - last_old)
    rack.check(first[0] > last_old, "no record of %s after the first of %s" % (holder, other))
    return first[0] - t0


def power_cut(rack):
    """Cut the power of the active node (QEMU quit, no shutdown): the witness fences it through
    the relay, the other node takes over, the relay powers the fenced node on again and it
    stays in standby."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    t0 = now_s()
    rack.vms[holder].power_off()
    rack.note("power cut of the active node %s (its power supply, not the relay)" % holder)
    failover(rack, holder, gen, t0, "power cut")
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby; the service stays put: %s" % (holder, back,))


def agent_hang(rack):
    """SIGSTOP the active node's agent (typed at its console): heartbeats stop, the watchdog
    is no longer fed; the witness fences the node through the relay before or while the
    watchdog resets it, and the other node takes over."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    rc, out = rack.vms[holder].run("kill -STOP $(pidof ha-agent) && echo stopped")
    t0 = now_s()
    rack.check(rc == 0, "SIGSTOP sent to %s's agent: %s" % (holder, out.strip()))
    rack.note("the agent of %s hangs (SIGSTOP)" % holder)
    failover(rack, holder, gen, t0, "agent hang")
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby: %s" % (holder, back,))


def line_noise(rack):
    """Bit errors on every serial cable (2 % of the bytes, both directions) for 20 s: frames
    fail their CRC and are dropped; the LAN still carries the heartbeats; nothing fails over."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    t0 = now_s()
    crc0 = sum(l.get("crc_errors", 0) for l in (rack.status("witness") or {}).get("links", []))
    for c in rack.cables.values():
        c.set("noise", noise_rate=0.02)
    rack.note("line noise on the three serial cables")
    time.sleep(20)
    crc1 = sum(l.get("crc_errors", 0) for l in (rack.status("witness") or {}).get("links", []))
    a = rack.authority()
    for c in rack.cables.values():
        c.set("pass")
    rack.note("line noise stopped")
    rack.check(crc1 > crc0, "the witness counted damaged frames (CRC errors %d -> %d)" % (crc0, crc1))
    rack.check(a.get("holder") == holder and a.get("generation") == gen,
               "no failover: holder %s generation %s" % (a.get("holder"), a.get("generation")))
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))


def witness_power_loss(rack):
    """Power off the witness for 20 s: the service continues on the nodes; the witness boots
    again and resumes supervision with the same holder."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    t0 = now_s()
    rack.vms["witness"].power_off()
    rack.note("power cut of the witness")
    time.sleep(20)
    rack.check(rack.resources_state(holder) == "running", "%s still runs the service without the witness" % holder)
    rack.vms["witness"].power_on()
    rack.note("witness powered on")
    rack.vms["witness"].wait_ready()
    rack.note("witness booted again")
    back = rack.settled(90)
    rack.check(back and back[0] == holder, "the witness supervises again, holder %s: %s" % (holder, back,))
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service never stopped (longest pause %.1f s)" % (gap or -1))


def node_isolation(rack):
    """Cut every link of the active node (both cables, its LAN port): it stops the service
    when it loses quorum (N2) and the witness fences it; the other node takes over; never both."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    t0 = now_s()
    isolate(rack, holder, True)
    rack.note("isolated the active node %s: its cables and LAN port cut" % holder)
    failover(rack, holder, gen, t0, "isolation")
    isolate(rack, holder, False)
    rack.note("%s's links repaired" % holder)
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby: %s" % (holder, back,))


def relay_broken_isolation(rack):
    """The relay board stops answering, then the active node is isolated: the fence fails, so
    the witness waits out the node's watchdog deadline (dead + self_fence + stop_timeout +
    watchdog timeout + margin) before it grants the other node (W1)."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    deadline_s = (TIMING["dead_ms"] + 3000 + 15000 + 10000 + 2000) / 1000.0
    rack.relay.fault = "dead"
    t0 = now_s()
    isolate(rack, holder, True)
    rack.note("relay board dead; isolated the active node %s (deadline %.0f s)" % (holder, deadline_s))
    restored = failover(rack, holder, gen, t0, "isolation, relay dead", relay_works=False,
                        timeout_s=deadline_s + 60)
    if restored is not None:
        rack.check(restored >= deadline_s - TIMING["dead_ms"] / 1000.0,
                   "the grant waited out the watchdog deadline (%.1f s >= %.1f s - dead_ms)" % (restored, deadline_s))
    rack.relay.fault = None
    isolate(rack, holder, False)
    rack.note("relay board repaired; %s's links repaired" % holder)
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s rejoined in standby: %s" % (holder, back,))


def resource_failure(rack):
    """The service fails on the active node (its monitor reports failure): local restarts,
    then the group fails and the witness moves the service (W5); the failed node is reset
    by restarting its agent and stays in standby."""
    holder, gen = rack.settled() or (None, None)
    rack.check(holder, "rack settled before the fault")
    if not holder:
        return
    fences_before = len(rack.relay.events("off"))
    rc, _ = rack.vms[holder].run("touch /run/ledger-fail")
    t0 = now_s()
    rack.note("the service on %s fails (its monitor reports failure from now on)" % holder)
    failover(rack, holder, gen, t0, "resource failure", relay_works=False)
    rack.check(len(rack.relay.events("off")) == fences_before, "a graceful move: nobody fenced")
    rack.vms[holder].run("rm -f /run/ledger-fail; killall ha-agent")
    rack.note("%s: failure cleared, agent restarted (cleanup)" % holder)
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s back in standby: %s" % (holder, back,))


SCENARIOS = {
    "cold-start": cold_start,
    "one-cable": one_cable,
    "line-noise": line_noise,
    "witness-isolation": witness_isolation,
    "witness-power-loss": witness_power_loss,
    "power-cut": power_cut,
    "agent-hang": agent_hang,
    "node-isolation": node_isolation,
    "relay-broken-isolation": relay_broken_isolation,
    "resource-failure": resource_failure,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", default=[])
    p.add_argument("--image", default=os.environ.get("RACK_IMAGE", os.path.join(ROOT, "out", "image")))
    p.add_argument("--work", default=os.path.join(ROOT, "out", "rack"))
    p.add_argument("--list", action="store_true")
    o = p.parse_args()
    if o.list:
        for name, f in SCENARIOS.items():
            print("%-18s %s" % (name, " ".join(f.__doc__.split())))
        return 0
    names = o.scenario or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            raise SystemExit("rack: no scenario %r (--list)" % n)
    if names[0] != "cold-start":
        names.insert(0, "cold-start")  # every run boots the rack first
    rack = Rack(os.path.abspath(o.image), os.path.abspath(o.work))
    say("virtual rack: image %s, work %s; scenarios: %s" % (rack.image, rack.work, ", ".join(names)))
    rack.prepare()
    try:
        for n in names:
            rack.scenario = n
            say("==== scenario %s: %s" % (n, " ".join(SCENARIOS[n].__doc__.split())))
            try:
                SCENARIOS[n](rack)
            except (Timeout, OSError) as e:
                rack.check(False, "scenario stopped: %s" % str(e)[:500])
            rack.check_ledger()
    finally:
        rack.shutdown()
    print("\n==== timeline")
    for t, text in rack.timeline:
        print("  %7.1f s  %s" % (t, text))
    print("\n==== figures")
    for scen, name, s in rack.figures:
        print("  %-18s %-60s %6.1f s" % (scen, name, s))
    failed = [r for r in rack.results if not r[1]]
    print("\n==== %d checks, %d failed" % (len(rack.results), len(failed)))
    for scen, _, text in failed:
        print("  FAIL %s: %s" % (scen, text))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
