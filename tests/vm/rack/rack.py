#!/usr/bin/env python3
"""The virtual rack (issue 8): three VMs of the QEMU test image (witness, node-a, node-b) wired
through the harness (harness.py), the ledger service on the nodes, and the scenarios, each
ending with checks. Standard library only. Reference: docs/rack.md.

Usage: rack.py [--scenario NAME]... [--image DIR] [--work DIR] [--list]
Without --scenario, runs them all in order. Exits 1 when a check failed."""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import database  # noqa: E402
import harness  # noqa: E402
sys.path.insert(0, os.path.dirname(HERE))
import vmconsole  # noqa: E402
import ledger  # noqa: E402
import pacemaker  # noqa: E402
from harness import Timeout, now_s, say  # noqa: E402

MEMBERS = ("witness", "node-a", "node-b")
NODES = ("node-a", "node-b")
ADDR = {"witness": "10.10.0.1", "node-a": "10.10.0.2", "node-b": "10.10.0.3"}
# Serial cables: name, ends, link id; and the port each end sees (ttyS1, ttyS2).
CABLES = (("wa", "witness", "node-a", 1), ("wb", "witness", "node-b", 2), ("ab", "node-a", "node-b", 3))
HUB_BASE_PORT = int(os.environ.get("RACK_HUB_PORT", "47200"))
SHARED_DISK_MIB = 64
DATA_DISK_MIB = 64

# The members' configurations come from the one generator of the tests' configurations
# (ha_tests::topology, `configs rack DIR nodes=... timing=...`; each variant passes check-config in
# tests/generated_configs.rs); the values the scenarios need are read back from the files
# written (load_values). `--timing fast` (the benchmark's failover trials): dead 1 s and a
# margin of 500 ms instead of 5 s and 2 s.
TIMING_KIND = "default"
# `--resources builtin` (Debian nodes): the same group through the agent's built-in types
# (builtin:filesystem, builtin:pgsql, builtin:ipaddr) instead of Debian's resource scripts.
RESOURCES_KIND = "ocf"
TIMING = {}
MARGIN_MS = SELF_FENCE_MS = WATCHDOG_S = MAX_RESTARTS = None
FLOATING_IP = None
GROUP = []
# The Pacemaker nodes' Corosync timing (`--pcmk-timing`, pacemaker.COROSYNC_TIMING).
PCMK_TIMING = "default"


def write_configs(directory):
    """Writes witness.toml, node-a.toml and node-b.toml of this rack into `directory` (the
    configs tool of the test crate, built by cargo if needed), then load_values from them. With
    the Pacemaker nodes: witness.toml (its fence service) and group.toml (the Debian nodes'
    group, which the CIB is written from)."""
    run(["cargo", "run", "-q", "--locked", "-p", "ha-tests", "--bin", "configs", "--", "rack", directory,
         "nodes=" + NODE_KIND, "timing=" + TIMING_KIND, "resources=" + RESOURCES_KIND],
        cwd=ROOT, stdout=subprocess.DEVNULL)
    load_values(directory)
    if NODE_KIND == "pacemaker":
        return [os.path.join(directory, f) for f in ("witness.toml", "group.toml")]
    return [os.path.join(directory, m + ".toml") for m in MEMBERS]


def load_values(directory):
    """The values the scenarios use, from the configurations written (one place: the generator)."""
    global MARGIN_MS, SELF_FENCE_MS, WATCHDOG_S, MAX_RESTARTS, FLOATING_IP, GROUP
    with open(os.path.join(directory, "witness.toml"), "rb") as f:
        witness = tomllib.load(f)
    with open(os.path.join(directory, "group.toml" if NODE_KIND == "pacemaker" else "node-a.toml"), "rb") as f:
        node = tomllib.load(f)
    TIMING.clear()
    TIMING.update(witness["timing"])
    MARGIN_MS = witness["authority"]["margin_ms"]
    SELF_FENCE_MS = node.get("authority", {}).get("self_fence_ms")
    WATCHDOG_S = node.get("watchdog", {}).get("timeout_s")
    MAX_RESTARTS = node["resources"]["max_restarts"]
    GROUP = node["resources"]["group"]
    FLOATING_IP = [r for r in GROUP if "ip" in r.get("params", {})][0]["params"]["ip"]


def watchdog_deadline_ms(rack, node):
    """How long after `node`'s last frame the witness may assume it stopped by itself
    (witness.rs watchdog_deadline): dead + interval + margin (the configuration) + the node's
    fence bound as the witness reports it (status authority.nodes[].fence_bound_ms: the node's
    self_fence + worst stop + watchdog, from its own report). None before that report."""
    for n in rack.authority().get("nodes") or []:
        if n.get("name") == node and n.get("fence_bound_ms"):
            return TIMING["dead_ms"] + TIMING["interval_ms"] + n["fence_bound_ms"] + MARGIN_MS
    return None


# The management network (eth1 of each member) and the station (harness.MgmtNet).
MGMT_ADDR = {"witness": "10.20.0.1", "node-a": "10.20.0.2", "node-b": "10.20.0.3"}
MGMT_BASE_PORT = HUB_BASE_PORT + 10
TRAPD_PORT = HUB_BASE_PORT + 20
# The Debian nodes (`--nodes debian`, docs/rack.md "The Debian nodes"): the group is Debian's
# unmodified Filesystem (the shared disk), pgsql and IPaddr2; the image is
# tests/vm/make-debian-node.sh's.
NODE_KIND = "appliance"
# The LAN client's host: a network namespace on the hub (harness.TapPort).
CLIENT_ADDR = "10.10.0.200"
CLIENT_NETNS = "rack-lan-client"
NODE_MEM_MIB = 512
# Bounds on the waits of the scenarios (host clock).
GRANT_TIMEOUT_S = 120
FAILOVER_TIMEOUT_S = 120
SETTLE_TIMEOUT_S = 240
TRAP_TIMEOUT_S = 30
# Bound on the wait for the floating IP's holder to be the last to announce it (arping runs in
# the background after the address is added), and how many of the last announcements a check
# shows.
ARP_TIMEOUT_S = 5
ARP_SHOWN = 4


def serial_ports(member):
    """The cables on a member's ttyS1, ttyS2 in order: (cable, peer, link id)."""
    out = []
    for name, a, b, link in CABLES:
        if member in (a, b):
            out.append((name, b if member == a else a, link))
    return out


def interfaces(member):
    return ("auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
            "    address %s\n    netmask 255.255.255.0\n\n"
            "auto eth1\niface eth1 inet static\n    address %s\n    netmask 255.255.255.0\n"
            % (ADDR[member], MGMT_ADDR[member]))


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


# Figures recorded per failover (report.json keys): fault to detection (fencing or switching
# seen in the witness's status), to the relay's off command, to service restored (the new
# holder's first acknowledged record), and the service gap.
FIGURE_KEYS = ("detect_ms", "fence_ms", "to_ledger_start_ms", "ledger_start_ms", "restored_ms", "gap_ms",
               "client_outage_ms", "rows_acked", "rows_lost")


class Rack:
    def __init__(self, image, work, node_image=None):
        self.image, self.work, self.node_image = image, work, node_image
        self.client = self.lan = None
        self.upgrade = None  # (path, version) of the agent-upgrade package (Debian nodes)
        self.timeline = []  # (time, text)
        self.results = []  # (scenario, ok, text)
        self.known = []  # (scenario, ok, text, bug): checks that fail because of a known agent bug
        self.figures = []  # (scenario, name, seconds)
        self.records = []  # one dict per scenario run, for report.json
        self.current = {"name": "setup", "t0": 0.0, "figures": {}, "traps": []}
        self.scenario = "setup"
        self.boot_threads = []

    def note(self, text, at=None):
        """A timeline entry; `at`: when it happened, if earlier than now (the timeline is
        printed in time order)."""
        self.timeline.append((now_s() if at is None else at, text))
        say(text if at is None else "%s (at %.1f s)" % (text, at))

    def check(self, ok, text, known_bug=None):
        """A check; `known_bug` names an entry of KNOWN_AGENT_BUGS that makes it fail today:
        then a failure is reported as XFAIL (not counted) and a pass as XPASS (the bug seems
        fixed: remove the entry)."""
        if known_bug:
            assert known_bug in KNOWN_AGENT_BUGS
            self.known.append((self.scenario, bool(ok), text, known_bug))
            say("%s: %s [known agent bug %s]" % ("XPASS" if ok else "XFAIL", text, known_bug))
            return ok
        self.results.append((self.scenario, bool(ok), text))
        say("%s: %s" % ("PASS" if ok else "FAIL", text))
        return ok

    def figure(self, name, seconds, key=None):
        self.figures.append((self.scenario, name, seconds))
        if key:
            self.current["figures"][key] = int(round(seconds * 1000))
        say("figure: %s = %.1f s" % (name, seconds))

    # ---- building and wiring
    def prepare(self):
        if os.path.exists(self.work):
            shutil.rmtree(self.work)
        os.makedirs(self.work)
        for f in ("vmlinuz", "initramfs.cpio.gz", "disk.img"):
            if not os.path.exists(os.path.join(self.image, f)):
                raise SystemExit("rack: %s/%s missing: run 'make image'" % (self.image, f))
        if NODE_KIND != "appliance":
            for f in ("vmlinuz", "initrd.img", "root.qcow2", "pgshared.ext4"):
                if not os.path.exists(os.path.join(self.node_image, f)):
                    raise SystemExit("rack: %s/%s missing: run 'make debian-node'" % (self.node_image, f))
        key = os.path.join(self.work, "cluster.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(key, 0o600)
        self.disks = {}
        write_configs(self.work)
        if NODE_KIND == "pacemaker":
            self.pacemaker_files()
        for m in MEMBERS:
            cfg = os.path.join(self.work, m + ".toml")
            ifs = os.path.join(self.work, m + ".interfaces")
            with open(ifs, "w") as f:
                f.write(interfaces(m))
            disk = os.path.join(self.work, m + "-data.ext4")
            if m != "witness" and NODE_KIND == "pacemaker":
                self.disks[m] = disk
                pacemaker.seed_disk(disk, self.pacemaker_seed(m), DATA_DISK_MIB)
                continue
            run(["bash", os.path.join(ROOT, "tests/vm/make-data-disk.sh"), disk, cfg, key, m, ifs,
                 str(DATA_DISK_MIB)], stdout=subprocess.DEVNULL)
            if m == "witness" and NODE_KIND == "pacemaker":
                # The fence service's key, beside the cluster key (not the cluster key).
                cmds = "write %s etc/ha-agent/fence.key\nsif etc/ha-agent/fence.key mode 0100600\n" % self.fence_key
                run(["debugfs", "-w", "-f", "-", disk], input=cmds.encode(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if m != "witness" and NODE_KIND == "appliance":
                # The resource agents, on the data disk (the root is read-only).
                cmds = "mkdir rack\n"
                for script, name in (("ledger-resource", "ledger"), ("floating-ip-resource", "floating-ip")):
                    cmds += "write %s rack/%s\nsif rack/%s mode 0100755\n" % (os.path.join(HERE, script), name, name)
                run(["debugfs", "-w", "-f", "-", disk], input=cmds.encode(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if m != "witness" and NODE_KIND == "debian":
                # The package the agent-upgrade scenario installs (/data/upgrade/).
                if not self.upgrade:
                    self.upgrade = upgrade_package(self.work)
                cmds = "mkdir upgrade\nwrite %s upgrade/%s\n" % (self.upgrade[0], os.path.basename(self.upgrade[0]))
                run(["debugfs", "-w", "-f", "-", disk], input=cmds.encode(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if m == "witness":
                # The witness boots the flashable disk: a copy of disk.img whose data partition
                # holds the data disk made above (as S10data would have seeded it).
                image = vmconsole.copy_disk(os.path.join(self.image, "disk.img"),
                                            os.path.join(self.work, "witness-disk.img"))
                vmconsole.seed_data(image, disk)
                self.witness_data_offset = vmconsole.partition(image, "data")[0]
                disk = image
            self.disks[m] = disk
        self.shared = os.path.join(self.work, "shared.img")
        if NODE_KIND != "appliance":
            # The shared disk holds the PostgreSQL cluster the image's build made (ext4, pgdata).
            run(["cp", "--sparse=always", os.path.join(self.node_image, "pgshared.ext4"), self.shared])
        else:
            with open(self.shared, "wb") as f:
                f.truncate(SHARED_DISK_MIB * 1024 * 1024)
        run(["bash", os.path.join(ROOT, "scripts/fetch-base-mibs.sh")])
        mibs = "%s:%s" % (os.path.join(ROOT, "out", "mibs"), os.path.join(ROOT, "agent", "mib"))
        self.trapd = harness.TrapStation(self.work, TRAPD_PORT, mibs, MEMBERS)
        self.mgmt = harness.MgmtNet(MEMBERS, MGMT_BASE_PORT, self.trapd.deliver)
        self.hub = harness.Hub(MEMBERS + (("client",) if NODE_KIND != "appliance" else ()), HUB_BASE_PORT)
        self.hub.arp_watch.add(harness.ip_bytes(FLOATING_IP))
        self.cables = {name: harness.Cable(name, a, b, self.work) for name, a, b, _ in CABLES}
        self.areca = harness.ArecaConsole(os.path.join(self.work, "areca.sock"))
        self.vms = {}
        for m in MEMBERS:
            paths = [self.cables[c].paths[self.cables[c].ends.index(m)] for c, _, _ in serial_ports(m)]
            ack = None
            if m == "witness":
                paths.append(os.path.join(self.work, "relay.sock"))
            else:
                ack = os.path.join(self.work, "ack-%s.sock" % m)
            if m == "witness":
                self.vms[m] = harness.DiskVm(m, self.work, self.disks[m], self.witness_data_offset, paths,
                                             self.hub.ports[m], mgmt_port=self.mgmt.ports[m],
                                             pci_serials=self.witness_pci_serials())
            else:
                self.vms[m] = harness.Vm(m, self.work, self.image, self.disks[m], paths,
                                         self.hub.ports[m], self.shared, ack, mgmt_port=self.mgmt.ports[m])
            if m != "witness" and NODE_KIND != "appliance":
                overlay = os.path.join(self.work, m, "root.qcow2")
                run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                     os.path.join(self.node_image, "root.qcow2"), overlay])
                ready = r"pacemaker: ready after ([\d.]+) s" if NODE_KIND == "pacemaker" else \
                    r"ha-agent: ready after ([\d.]+) s"
                self.vms[m] = harness.DebianVm(m, self.work, self.node_image, overlay, self.disks[m], paths,
                                               self.hub.ports[m], self.shared, ack, mem_mib=NODE_MEM_MIB,
                                               mgmt_port=self.mgmt.ports[m], ready=ready)
            if ack:
                harness.AckPort(ack, self.vms[m])
        self.relay = harness.RelayBoard(os.path.join(self.work, "relay.sock"), NODES, self.relay_switched)
        if NODE_KIND == "pacemaker":
            # The witness's own [relay]: a board of its own that powers nothing (its own nodes
            # do not exist); a write to it is noted, and a check says none came.
            self.own_relay = harness.RelayBoard(
                os.path.join(self.work, "relay-own.sock"), self.own_nodes,
                lambda node, on: self.note("the witness's own board: coil of %s %s (it powers nothing)"
                                           % (node, "ON" if on else "OFF")))
        if NODE_KIND != "appliance":
            self.lan = harness.TapPort(self.hub, "client", CLIENT_NETNS, "racklan0", CLIENT_ADDR + "/24")
            self.client = database.Client(self.lan, FLOATING_IP)

    def witness_pci_serials(self):
        """The witness's PCI serial ports: the RAID controller's console (ttyS4) and, with the
        Pacemaker nodes, its own relay board (ttyS5)."""
        if NODE_KIND == "pacemaker":
            return [self.areca.path, os.path.join(self.work, "relay-own.sock")]
        return [self.areca.path]

    def pacemaker_files(self):
        """corosync.conf, Corosync's authkey, the fence key and the CIB of the Pacemaker nodes,
        from the values the configs tool wrote (group.toml, witness.toml) and PCMK_TIMING."""
        with open(os.path.join(self.work, "witness.toml"), "rb") as f:
            witness = tomllib.load(f)
        service = witness["fence_service"]
        # The witness's own members (never heard), in its own board's channel order.
        self.own_nodes = [c["node"] for c in witness["relay"]["channels"]]
        self.fence_key = os.path.join(self.work, "fence.key")
        with open(self.fence_key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(self.fence_key, 0o600)
        nodes = [p["node"] for p in service["plugs"]]
        assert nodes == list(NODES), "the witness's plugs are the Pacemaker nodes: %s" % nodes
        witness_ip, port = service["listen"].rsplit(":", 1)
        assert int(port) == pacemaker.FENCE_PORT
        self.pcmk = {
            "corosync.conf": pacemaker.corosync_conf(PCMK_TIMING, [(n, i + 1, ADDR[n]) for i, n in enumerate(NODES)]),
            "authkey": pacemaker.authkey(),
            "resources.xml": pacemaker.cib_resources(GROUP, witness_ip, "/etc/ha-agent/fence.key", NODES),
            "constraints.xml": pacemaker.cib_constraints(NODES, NODES[0]),
        }
        for name, content in self.pcmk.items():
            with open(os.path.join(self.work, name), "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)

    def pacemaker_seed(self, m):
        """The files of a Pacemaker node's seed disk (the image's rack-seed installs them)."""
        with open(self.fence_key, "rb") as f:
            fence_key = f.read()
        return {
            "etc/hostname": (m + "\n", 0o644),
            "etc/network/interfaces": (interfaces(m), 0o644),
            "etc/corosync/corosync.conf": (self.pcmk["corosync.conf"], 0o644),
            "etc/corosync/authkey": (self.pcmk["authkey"], 0o400),
            "etc/ha-agent/fence.key": (fence_key, 0o600),
            "rack/resources.xml": (self.pcmk["resources.xml"], 0o644),
            "rack/constraints.xml": (self.pcmk["constraints.xml"], 0o644),
        }

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
                self.note("%s booted again: %s ready after %.1f s of guest uptime"
                          % (vm.name, "Pacemaker" if NODE_KIND == "pacemaker" else "agent", up))
            except (Timeout, OSError) as e:
                self.note("%s did not come back: %s" % (vm.name, str(e).splitlines()[0]))
        t = threading.Thread(target=wait, daemon=True)
        t.start()
        self.boot_threads.append(t)

    def boot_all(self):
        # One after the other, each waiting for its agent: a booting TCG guest starves the
        # others. The witness waits for both nodes (wait_for_all) and grants the preferred one.
        for m in ("witness", "node-a", "node-b"):
            self.vms[m].power_on()
            up = self.vms[m].wait_ready()
            self.note("%s booted: %s ready after %.1f s of guest uptime (%.1f s host clock)"
                      % (m, "Pacemaker" if NODE_KIND == "pacemaker" and m != "witness" else "agent", up,
                         self.vms[m].ready_at - self.vms[m].started_at))
        self.witness_ready_at = self.vms["witness"].ready_at

    def shutdown(self):
        if self.client:
            self.client.stop()
            self.client.write_log(os.path.join(self.work, "client.log"))
        if self.lan:
            self.lan.close()
        for vm in self.vms.values():
            vm.power_off()
        for vm in self.vms.values():
            with open(os.path.join(vm.dir, "syslog.txt"), "w") as f:
                f.write(vm.syslog())
        self.trapd.stop()

    # ---- observation
    def status(self, member):
        return self.vms[member].status()

    def authority(self):
        s = self.status("witness")
        return (s or {}).get("authority") or {}

    def resources_state(self, node):
        s = self.status(node)
        return ((s or {}).get("authority") or {}).get("resources_state")

    # The acknowledgement deques grow in the AckPort threads: each is copied with list() (one
    # C call, atomic under the GIL) before it is iterated, or a concurrent append raises
    # "deque mutated during iteration".
    # With the Debian nodes the acknowledgements are the LAN client's, each (time, the node
    # that stored the row, None, row, None).
    def acks_from(self, node, since=0.0):
        if self.client:
            return [(t, n, None, row, None) for t, n, row in list(self.client.acks) if n == node and t >= since]
        return [a for a in list(self.vms[node].acks) if a[0] >= since]

    def all_acks(self):
        if self.client:
            return [(t, n, None, row, None) for t, n, row in list(self.client.acks)]
        return [a for n in NODES for a in list(self.vms[n].acks)]

    def last_row(self, node, t0):
        """The last acknowledgement from `node`, the old holder of a fault at `t0` (one already
        in flight may still arrive within 60 s), or `t0` when it had none."""
        return max([x[0] for x in self.acks_from(node) if x[0] <= t0 + 60] or [t0])

    def new_acks(self, node, gen, since):
        """Acknowledgements from `node` since `since` of a generation newer than `gen` (the
        client cannot tell the generation: with the Debian nodes, every acknowledgement from
        `node` since then)."""
        return [x for x in self.acks_from(node, since) if self.client or x[2] > gen]

    def wait(self, what, timeout_s, poll):
        return self.wait_timed(what, timeout_s, poll)[0]

    def wait_timed(self, what, timeout_s, poll, interval_s=0.3):
        """Call `poll` until it returns a true value or `timeout_s` passed (once more at the
        bound): (that value or None, seconds waited). `interval_s` is the polling interval."""
        start = time.monotonic()
        while True:
            v = poll()
            waited = time.monotonic() - start
            if v or waited >= timeout_s:
                return (v or None), waited
            time.sleep(min(interval_s, timeout_s - waited))

    def hold(self, duration_s, sample, interval_s=1.0):
        """Keep a fault in place for `duration_s` (a stated fault duration, not a wait for a
        condition) while calling `sample` throughout, the last time when the duration is over
        (a slow console answer can end the window a little late). `sample` returns None when it
        could not look (a console that did not answer), "" when all was as it should be, or
        what it saw that was wrong. Returns (samples answered, [(time, what was wrong)])."""
        end = time.monotonic() + duration_s
        answered, wrong = 0, []
        while True:
            seen = sample()
            if seen is not None:
                answered += 1
                if seen:
                    wrong.append((now_s(), seen))
            left = end - time.monotonic()
            if left <= 0:
                return answered, wrong
            time.sleep(min(interval_s, left))

    def crm(self):
        """crm_mon's view from the first node that answers (the Pacemaker nodes), or None."""
        for n in NODES:
            vm = self.vms[n]
            if vm.powered and vm.logged_in:
                state = pacemaker.crm_state(vm)
                if state is not None:
                    return state
        return None

    def holder(self):
        """The node that runs the service: the witness's holder, or with the Pacemaker nodes
        the node where crm_mon shows the whole group started."""
        if NODE_KIND == "pacemaker":
            state = self.crm()
            return state.holder([r["name"] for r in GROUP]) if state else None
        return self.authority().get("holder")

    def pcmk_settled(self, timeout_s):
        """The Pacemaker nodes' settled: both online (crm_mon), the group started on exactly one
        node, every fence device started, no failed resource, and the client's rows committed
        through the holder in the last 3 s. Returns (holder, 0)."""
        group = [r["name"] for r in GROUP]
        seen = [None]

        def poll():
            state = self.crm()
            if state is None:
                return None
            seen[0] = "online %s, group on %s, fence devices on %s, failed %s" % (
                state.online, state.anywhere(group), {d: state.running.get(d) for d in ("fence-" + n for n in NODES)},
                state.failed)
            holder = state.holder(group)
            if not holder or not all(state.online.get(n) for n in NODES) or state.failed:
                return None
            if any(len(state.running.get("fence-" + n, [])) != 1 for n in NODES):
                return None
            if not self.acks_from(holder, now_s() - 3):
                return None
            return holder, 0
        got = self.wait("settled", timeout_s, poll)
        if not got:
            say("not settled: %s" % seen[0])
        return got

    def settled(self, timeout_s=SETTLE_TIMEOUT_S):
        """Wait until all three VMs run, the witness reaches both nodes, one node holds the grant
        and writes the ledger, and the other is in standby. Returns (holder, generation)."""
        for t in self.boot_threads:
            t.join(max(1, timeout_s))
        self.boot_threads = []
        if NODE_KIND == "pacemaker":
            return self.pcmk_settled(timeout_s)

        def poll():
            a = self.authority()
            s = self.status("witness") or {}
            reach = {m.get("name"): m.get("state") for m in s.get("members", [])}
            holder = a.get("holder")
            if not holder or any(reach.get(n) != "reachable" for n in NODES) or a.get("fencing") \
                    or a.get("switching"):
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

    def check_service(self):
        """After a scenario: the ledger (the appliance nodes) or the database (Debian nodes)."""
        if self.client:
            self.check_database()
        else:
            self.check_ledger()

    def check_database(self):
        """Every acknowledged row is in the database, pg_amcheck passes, and no sample ever saw
        a PostgreSQL server on the shared disk on both nodes."""
        c = self.client
        acks = list(c.acks)
        attempts, failures = len(acks) + c.failures, c.failures
        acked = {row for _, _, row in acks}
        present, why = c.rows()
        if present is None:
            # The service may be between two nodes: the database is waited for, bounded.
            got = self.wait("database", 120, lambda: c.rows()[0] is not None)
            present, why = c.rows() if got else (None, why)
        lost = sorted(acked - present) if present is not None else None
        figures = self.current["figures"]
        figures["rows_acked"] = len([a for a in acks if a[0] >= self.current["t0"]])
        if lost is not None:
            figures["rows_lost"] = len(lost)
        if self.scenario != "cold-start":
            self.figure("client-visible outage (longest pause between acknowledged rows since the fault)",
                        self.ack_gap(self.current["t0"]), "client_outage_ms")
        say("database: %d rows acknowledged by %d attempts (%d failed), %s rows in the table"
            % (len(acked), attempts, failures, len(present) if present is not None else "?"))
        self.check(present is not None and not lost,
                   "database: every acknowledged row is in the table (%d acknowledged, %s)"
                   % (len(acked), "cannot read it: %s" % why[:300] if present is None else
                      "%d missing: %s" % (len(lost), lost[:20]) if lost else "none missing"))
        self.check(len(acked) > 0, "the client had rows acknowledged (%d)" % len(acked))
        rc, out = c.amcheck()
        tail = " | ".join([x for x in (out or "").splitlines() if not x.startswith("NOTICE:")][-3:])
        self.check(rc == 0, "pg_amcheck --all through the floating IP: exit %s %s" % (rc, tail[:300]))
        samples = [s for n in NODES for s in list(self.vms[n].pg_samples)]
        both = database.both_running(samples)
        running = sum(1 for s in samples if s[2])
        self.check(not both, "never a PostgreSQL server on the shared disk on both nodes (%d samples, %d with a "
                   "server): %s" % (len(samples), running, "; ".join("at %.1f s %s %s and %s %s" % b for b in both[:5])
                                    or "never"))
        self.check(running > 0, "the nodes' probes saw the server running (%d samples)" % running)
        # A hardware watchdog resets a member only when its agent stopped feeding it: here,
        # where no scenario hangs an agent for longer than the witness takes to fence it, that
        # is a guest starved by the host, which the scenario's other checks may not notice.
        resets = [t.describe() for t in self.traps() if t.name == "rackHaWatchdogResetAtBoot"]
        self.check(not resets, "no member was reset by its watchdog: %s" % ("; ".join(resets) or "none"))

    def check_ledger(self):
        summary, problems = ledger.check(self.shared, self.all_acks())
        say("ledger: " + summary)
        self.check(not problems, "ledger: no interleaved writers, no acknowledged record lost"
                   + ("" if not problems else ":\n    " + "\n    ".join(problems[:10])))

    def floating_ip_holders(self):
        """The nodes whose eth0 holds the floating IP (asked at their consoles), or None when
        a node cannot be asked."""
        holders = []
        for n in NODES:
            vm = self.vms[n]
            if not vm.powered:
                continue
            try:
                rc, out = vm.run("ip -4 -o addr show dev eth0")
            except (Timeout, OSError):
                return None
            if rc != 0:
                return None
            if (" %s/" % FLOATING_IP) in out:
                holders.append(n)
        return holders

    def check_floating_ip(self):
        """Exactly one node holds the floating IP, the holder of the grant, and it was the last
        to announce it on the LAN (gratuitous ARP seen by the hub). The announcement is sent in
        the background after the address is added, so it is waited for (ARP_TIMEOUT_S)."""
        seen = [None]

        def poll():
            holder = self.holder()
            holders = self.floating_ip_holders()
            seen[0] = (holder, holders)
            return holders == [holder] and holder
        ok, took = self.wait_timed("floating ip", 60, poll)
        holder, holders = seen[0] or (None, None)
        self.check(ok, "the floating IP %s is on exactly one node, the holder %s: on %s (after %.1f s)"
                   % (FLOATING_IP, holder, holders, took))
        if not ok:
            return

        def arps():
            return [(t, m, op) for t, m, op in self.hub.arp_seen() if m in NODES]

        def holder_last():
            a = arps()
            return bool(a) and a[-1][1] == holder
        last, took = self.wait_timed("arp", ARP_TIMEOUT_S, holder_last, interval_s=0.1)
        recent = ", ".join("%s %s at %.1f s" % (m, op, t) for t, m, op in arps()[-ARP_SHOWN:])
        self.check(last, "the last ARP announcement of %s on the LAN came from %s, %s (the last ARP frames "
                   "from %s: %s)" % (FLOATING_IP, holder, "after %.1f s" % took if last else
                                     "not within %d s" % ARP_TIMEOUT_S, FLOATING_IP, recent or "none"))

    # ---- traps
    def traps(self):
        return self.trapd.since(self.current["t0"])

    def expect_traps(self, sequence, forbid=(), timeout_s=TRAP_TIMEOUT_S, subject=None):
        """The station received the notifications of `sequence` in that order (each item a name
        or a tuple of alternatives; `subject` the rackHaMemberName of each, when given), and
        none of `forbid`, since the scenario began."""
        def matches(trap, want):
            names = want if isinstance(want, tuple) else (want,)
            return trap.name in names and (subject is None or trap.fields.get("rackHaMemberName") == subject)

        def poll():
            i = 0
            for trap in self.traps():
                if i < len(sequence) and matches(trap, sequence[i]):
                    i += 1
            return i == len(sequence)
        got = self.wait("traps", timeout_s, poll) if sequence else True
        names = [t.name.replace("rackHa", "") for t in self.traps()]
        if sequence:
            self.check(got, "traps in order: %s (received: %s)"
                       % (" > ".join("|".join(x) if isinstance(x, tuple) else x for x in sequence),
                          ", ".join(names) or "none"))
        if forbid:
            bad = [t.describe() for t in self.traps() if t.name in forbid]
            self.check(not bad, "no %s trap: %s" % ("/".join(f.replace("rackHa", "") for f in forbid),
                                                   "; ".join(bad) or "none"))


# ---- scenarios: each takes the rack and ends with its checks

# Agent bugs the rack shows, each with the check that fails because of it (reported as XFAIL,
# not counted; an XPASS says the bug looks fixed and the entry can go).
KNOWN_AGENT_BUGS = {
    # name: description. Empty: the three bugs this rack found (witness-reboot-seq,
    # refence-loop, move-after-failure-untold) are fixed; their checks are ordinary checks.
}

# Traps that mean a failover or a fence (none may arrive where nothing fails over).
FAILOVER_TRAPS = ("rackHaFailoverStarted", "rackHaFailoverCompleted", "rackHaFenceSucceeded",
                  "rackHaFenceFailed", "rackHaFenceUnconfirmed", "rackHaSwitchover")


def begin(rack):
    """Every scenario but the cold start starts from a settled rack; returns (holder, generation)."""
    settled = rack.settled()
    rack.check(settled, "rack settled before the fault: %s" % (settled,))
    rack.current["t0"] = now_s()
    return settled or (None, None)


# ---- the Pacemaker nodes (--nodes pacemaker): the cold start and the power cut

# Bound on the wait for both Pacemaker nodes online after their boot (Corosync's membership,
# Pacemaker's election), and for the CIB's group to start.
PCMK_ONLINE_TIMEOUT_S = 180


def witness_journal(rack, grep):
    """The lines of the witness's journal (ha-agent log at its console) that `grep` (its
    arguments, quoted) selects, or None when the witness does not answer."""
    try:
        rc, out = rack.vms["witness"].run("ha-agent log | grep %s" % grep, 30)
    except (Timeout, OSError):
        return None
    return out.splitlines()


def witness_fence_journal(rack, node):
    """The witness's journal lines of its fence service about plug `node`, or None."""
    lines = witness_journal(rack, "-F '%s fence service: '" % node)
    return None if lines is None else [line for line in lines if "fence service:" in line]


def pcmk_witness_checks(rack):
    """The witness in the Pacemaker rack: its own nodes were never heard, so it granted nothing
    and fenced none of them (its own board never switched; W4: it waits for both), and its
    status shows the fence service running."""
    s = rack.status("witness") or {}
    a = s.get("authority") or {}
    reach = {m.get("name"): m.get("state") for m in s.get("members", [])}
    rack.check(s and not a.get("holder") and not a.get("fencing") and not rack.own_relay.log,
               "the witness waits for its own nodes %s (never heard: %s), grants nothing, fences none of them: "
               "holder %s, fencing %s, its own board's commands: %s"
               % (rack.own_nodes, {n: reach.get(n) for n in rack.own_nodes}, a.get("holder"), a.get("fencing"),
                  list(rack.own_relay.log) or "none"))
    # And its journal: no fence, power-off or grant of its own nodes.
    out = witness_journal(rack, "-E '%s'" % "|".join(rack.own_nodes))
    lines = [x for x in (out or []) if any(n in x for n in rack.own_nodes) and "grep" not in x]
    acted = [x for x in lines if re.search(r"fenc|power|grant", x, re.I)]
    rack.check(out is not None and not acted, "the witness's journal has no fence, power or grant of %s (%d lines "
               "name them%s)" % (rack.own_nodes, len(lines), ": " + " | ".join(acted[:3])[:300] if acted else ""))
    fs = s.get("fence_service") or {}
    rack.check(fs.get("running") is not False and fs.get("plugs"),
               "the witness's fence service serves the plugs %s on %s" % (fs.get("plugs"), fs.get("listen")))


def pcmk_cold_start(rack):
    """Boot the witness and the two Pacemaker nodes; once both are online load the CIB; the
    group starts on one node (node-a preferred), both fence devices start (their monitor asks
    the box), the client's rows commit through the floating IP."""
    t0 = now_s()
    rack.boot_all()
    group = [r["name"] for r in GROUP]
    online = rack.wait("online", PCMK_ONLINE_TIMEOUT_S, lambda: (lambda st: st and all(
        st.online.get(n) for n in NODES) and st)(rack.crm()))
    rack.check(online, "Corosync and Pacemaker: both nodes online (DC %s)" % (online.dc if online else None))
    if not online:
        return
    rc, out = rack.vms["node-a"].run(pacemaker.load_cib_command(), 60)
    rack.check(rc == 0 and "CIB-LOADED" in out, "the CIB loaded at node-a's console (properties, resources, "
               "constraints): %s" % out.strip()[-300:])
    rack.note("CIB loaded: group %s, fence devices %s" % ("+".join(group), ", ".join("fence-" + n for n in NODES)))
    settled = rack.settled(PCMK_ONLINE_TIMEOUT_S)
    rack.check(settled, "the group runs on one node, both fence devices started, rows committed: %s" % (settled,))
    if not settled:
        return
    holder, _ = settled
    first = min(a[0] for a in rack.acks_from(holder))
    rack.figure("power-on of the first VM to first committed row", first - t0)
    rack.check(holder == "node-a", "the preferred node holds the group")
    rack.check(not rack.relay.events("off"), "nobody was fenced at the cold start")
    pcmk_witness_checks(rack)


def pcmk_power_cut(rack):
    """Cut the power of the node that runs the group (QEMU quit): Corosync on the survivor loses
    the token, Pacemaker fences the node through fence_rackha and the witness's fence service
    (reboot: the relay off, confirmed, then on), starts the group; the fenced node boots and
    rejoins, the group stays (stickiness)."""
    holder, _ = begin(rack)
    if not holder:
        return
    other = NODES[1 - NODES.index(holder)]
    t0 = now_s()
    rack.vms[holder].power_off()
    rack.note("power cut of %s, which runs the group (its power supply, not the relay)" % holder)
    got = rack.wait("failover", FAILOVER_TIMEOUT_S, lambda: rack.new_acks(other, None, t0))
    rack.check(got, "%s committed rows after the power cut of %s" % (other, holder))
    if not got:
        return
    first = got[0][0]
    last_old = rack.last_row(holder, t0)
    offs = [t for t, n in rack.relay.events("off") if n == holder and t >= t0]
    ons = [t for t, n in rack.relay.events("on") if n == holder and t >= t0]
    rack.check(offs and offs[0] < first, "Pacemaker fenced %s through the box before %s started: relay off at %s"
               % (holder, other, "+%.1f s" % (offs[0] - t0) if offs else "never"))
    if offs:
        rack.note("the box switches %s's relay off (fence_rackha from %s), +%.1f s" % (holder, other, offs[0] - t0),
                  at=offs[0])
        rack.figure("power cut to relay off command (fence through the box)", offs[0] - t0, "fence_ms")
    if ons:
        rack.note("the box switches %s's relay on again (the fence's reboot), +%.1f s" % (holder, ons[0] - t0),
                  at=ons[0])
    rack.note("%s: first committed row, +%.1f s" % (other, first - t0), at=first)
    rack.figure("power cut to service restored (first row committed on %s)" % other, first - t0, "restored_ms")
    rack.figure("service gap (last row on %s to first on %s)" % (holder, other), first - last_old, "gap_ms")
    rack.check(first > last_old, "no row of %s after the first of %s" % (holder, other))
    # What Corosync and Pacemaker did, from the survivor's journal (host time, about the
    # console's delay).
    try:
        error_s, events = pacemaker.journal_events(rack.vms[other], t0, now_s)
    except (Timeout, OSError):
        error_s, events = None, []
    if error_s is not None:
        say("the survivor's journal in host time, within %.2f s (half the console's round trip)" % error_s)
    for label, t, line in events:
        rack.note("%s: %s, +%.1f s" % (other, label, t - t0), at=t)
        key = re.sub(r"[^a-z]+", "_", label.split(" (")[0]).strip("_") + "_ms"
        rack.current["figures"]["pcmk_" + key] = int(round((t - t0) * 1000))
    rack.current["figures"]["pcmk_journal"] = [line[:200] for _, _, line in events]
    rack.check(any(label == "fence succeeded" for label, _, _ in events),
               "the survivor's journal has the fence's success: %s"
               % ("; ".join("%s +%.1f s" % (label, t - t0) for label, t, _ in events) or "none of its lines found"))
    lines = witness_fence_journal(rack, holder)
    asked = [line for line in (lines or []) if re.search(r"fence service: (off|reboot) asked by %s" % ADDR[other], line)]
    rack.check(asked, "the box's journal has the command from %s: %s" % (other, " | ".join((lines or [])[-3:])[:400]))
    rack.expect_traps(["rackHaFenceSucceeded"])
    back = rack.settled()
    rack.check(back and back[0] == other, "%s rebooted by the fence, rejoined; the group stays on %s: %s"
               % (holder, other, back))
    pcmk_witness_checks(rack)


# Bound on the wait for the fence after a LAN split: Corosync's token and consensus, the
# fencer's query, the box's confirmed off (the power cut's relay off took 2.6 to 7.2 s).
PCMK_SPLIT_FENCE_TIMEOUT_S = 60
# The LAN split's relay switches this long after its command (a slow contactor; the plugs'
# confirm_timeout_ms is 10 s): the node being fenced stays up long enough for its own fencer to
# ask, so the race the box must break happens in every run, not only when both requests land
# within the few milliseconds a relay board takes.
PCMK_SPLIT_RELAY_DELAY_S = 4.0


def pcmk_lan_split(rack):
    """(Pacemaker nodes) The two nodes lose each other but both still reach the box: each
    routes the other's address into a blackhole, and the relay board switches 4 s after a
    command (a slow contactor). Both Corosyncs lose the token and both fencers ask the box for
    the other's plug; the box carries out the first request and refuses the other, which comes
    from the node it is switching off ([fence_service] client_plugs, docs/fence-agent.md "Fence
    races"), so exactly one relay goes off, never both. The survivor runs the group and the
    client's rows commit through it; once the survivor's blackhole is removed, the fenced node
    (rebooted by the fence) rejoins and the group stays."""
    holder, _ = begin(rack)
    if not holder:
        return
    lines0 = {n: len(witness_fence_journal(rack, n) or []) for n in NODES}
    rack.relay.switch_delay_s = PCMK_SPLIT_RELAY_DELAY_S
    rack.note("the relay board now switches %.0f s after a command (a slow contactor)" % PCMK_SPLIT_RELAY_DELAY_S)
    t0 = now_s()
    for n in NODES:
        peer = NODES[1 - NODES.index(n)]
        rc, out = rack.vms[n].run("ip route add blackhole %s/32 && echo SPLIT-OK" % ADDR[peer], 20)
        rack.check(rc == 0 and "SPLIT-OK" in out, "%s: route to %s (%s) is a blackhole: %s"
                   % (n, peer, ADDR[peer], out.strip()[-200:]))
    rack.note("LAN split: each node's route to the other is a blackhole; both still reach the box (%s)"
              % ADDR["witness"])
    offs = rack.wait("fence", PCMK_SPLIT_FENCE_TIMEOUT_S,
                     lambda: [(t, n) for t, n in rack.relay.events("off") if t >= t0])
    rack.check(offs, "one node fenced through the box after the split: relay off %s" % (offs,))
    # The off under way switches late; the fence's on, and everything after, switch at once.
    rack.relay.switch_delay_s = 0.0
    if not offs:
        return
    fenced = offs[0][1]
    survivor = NODES[1 - NODES.index(fenced)]
    rack.note("the box switches %s's relay off (asked by %s), +%.1f s" % (fenced, survivor, offs[0][0] - t0),
              at=offs[0][0])
    rack.figure("LAN split to the first relay off", offs[0][0] - t0, "fence_ms")
    # The survivor runs the group (it held it, or takes it over) and rows commit through it.
    def survivor_runs():
        state = pacemaker.crm_state(rack.vms[survivor])
        return state and state.holder([r["name"] for r in GROUP]) == survivor and rack.acks_from(survivor, now_s() - 3)
    runs = rack.wait("survivor", FAILOVER_TIMEOUT_S, survivor_runs)
    rack.check(runs, "%s runs the group and commits rows (it %s)" % (
        survivor, "held it" if survivor == holder else "took it over"))
    if runs and survivor != holder:
        first = rack.new_acks(survivor, None, t0)
        last_old = rack.last_row(holder, t0)
        if first:
            rack.figure("LAN split to service restored on %s" % survivor, first[0][0] - t0, "restored_ms")
            rack.check(first[0][0] > last_old, "no row of %s after the first of %s" % (holder, survivor))
    # What the box did with each node's request: the fenced node's, if it came, was refused.
    journal = {n: (witness_fence_journal(rack, n) or [])[lines0[n]:] for n in NODES}
    by_survivor = [x for x in journal[fenced] if "asked by %s:" % ADDR[survivor] in x]
    by_fenced = [x for x in journal[survivor] if "asked by %s:" % ADDR[fenced] in x]
    rack.check(by_survivor and "refused" not in by_survivor[0],
               "the box carried out %s's request for %s: %s" % (survivor, fenced, " | ".join(by_survivor)[:300]))
    rack.check(by_fenced and all("refused: the asking node is itself being fenced" in x for x in by_fenced),
               "%s, being fenced, asked for %s too, and the box refused every such request: %s"
               % (fenced, survivor, " | ".join(by_fenced)[:300] or "it asked nothing"))
    rack.current["figures"]["race_refused_requests"] = len(by_fenced)
    # Heal: the fenced node came back from the fence's reboot without the route; the survivor's
    # goes, the two form one membership again, and the group stays where it is.
    rc, out = rack.vms[survivor].run("ip route del blackhole %s/32 && echo HEALED" % ADDR[fenced], 20)
    rack.check(rc == 0 and "HEALED" in out, "%s: blackhole to %s removed: %s" % (survivor, fenced, out.strip()[-200:]))
    back = rack.settled()
    rack.check(back and back[0] == survivor, "%s rejoined after its reboot; the group stays on %s: %s"
               % (fenced, survivor, back))
    survivor_offs = [t for t, n in rack.relay.events("off") if t >= t0 and n == survivor]
    rack.check(not survivor_offs, "the survivor %s's relay was never switched off: %s"
               % (survivor, survivor_offs or "never"))
    rack.expect_traps(["rackHaFenceSucceeded"])
    pcmk_witness_checks(rack)


def cold_start(rack):
    """Boot the three members; exactly one node (the preferred one) runs the service."""
    if NODE_KIND == "pacemaker":
        return pcmk_cold_start(rack)
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
    rack.check(holder == "node-a", "the preferred node holds the grant")
    if NODE_KIND == "debian":
        # The nodes' own LAN link is raw Ethernet (no IP) on these nodes: it carries frames.
        for n in NODES:
            eth = [l for l in (rack.status(n) or {}).get("links", []) if l.get("kind") == "ethernet"]
            rack.check(eth and all(l.get("state") == "up" and l.get("frames_in", 0) > 0 for l in eth),
                       "%s's raw Ethernet link is up and receiving: %s" % (n, ", ".join(
                           "link %s to %s %s, %s frames in" % (l.get("id"), l.get("peer"), l.get("state"),
                                                               l.get("frames_in")) for l in eth) or "none"))
    states = {n: rack.resources_state(n) for n in NODES}
    rack.check(sorted(states.values()).count("running") == 1, "resources running on one node only: %s" % states)
    rack.check(not rack.relay.events("off"), "nobody was fenced at the cold start")
    rack.expect_traps(["rackHaAgentStarted"], forbid=FAILOVER_TRAPS)
    # Each member's traps arrive on their own: wait until the station has heard all three.
    senders = lambda: sorted({t.sender for t in rack.traps()})  # noqa: E731
    heard, took = rack.wait_timed("senders", TRAP_TIMEOUT_S, lambda: senders() == sorted(MEMBERS))
    rack.check(heard, "the station hears all three members over their management NICs: %s (%s)"
               % (senders(), "after %.1f s" % took if heard else "not within %d s" % TRAP_TIMEOUT_S))


def one_cable(rack):
    """Cut the serial cable witness-A: a link goes down, nothing fails over."""
    holder, gen = begin(rack)
    if not holder:
        return
    t0 = now_s()
    rack.cables["wa"].set("cut")
    rack.note("cut the serial cable witness-A (both directions)")
    down = rack.wait("link down", 30, lambda: any(
        l.get("id") == 1 and l.get("state") == "down" for l in (rack.status("witness") or {}).get("links", [])))
    rack.check(down, "the witness sees serial link 1 (witness-A) down")

    # The cable stays cut for 8 s more (the fault's duration); the witness is watched throughout.
    def sample():
        s = rack.status("witness")
        if s is None:
            return None
        a = s.get("authority") or {}
        reach = {m.get("name"): m.get("state") for m in s.get("members", [])}
        wrong = []
        if (a.get("holder"), a.get("generation")) != (holder, gen):
            wrong.append("holder %s generation %s" % (a.get("holder"), a.get("generation")))
        if reach.get("node-a") != "reachable":
            wrong.append("node-a %s" % reach.get("node-a"))
        return "; ".join(wrong)
    answered, wrong = rack.hold(8, sample)
    rack.check(answered and not wrong,
               "no failover and node-a still reachable over the LAN while the cable was cut (was %s %s; %d "
               "samples of the witness's status over 8 s): %s" % (holder, gen, answered, describe_wrong(wrong)))
    rack.cables["wa"].set("pass")
    rack.note("cable witness-A repaired")
    up = rack.wait("link up", 30, lambda: any(
        l.get("id") == 1 and l.get("state") == "up" for l in (rack.status("witness") or {}).get("links", [])))
    rack.check(up, "serial link 1 up again")
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))
    rack.expect_traps(["rackHaLinkDown", "rackHaLinkUp"], forbid=FAILOVER_TRAPS)
    link1 = [t for t in rack.traps() if t.name == "rackHaLinkDown" and t.fields.get("rackHaLinkName") == "1"]
    rack.check(link1, "a rackHaLinkDown names link 1: %s" % "; ".join(t.describe() for t in link1))


def isolate(rack, member, on):
    for name, a, b, _ in CABLES:
        if member in (a, b):
            rack.cables[name].set("cut" if on else "pass")
    for other in MEMBERS:
        if other != member:
            rack.hub.set(member, other, "cut" if on else "pass")


def service_sample(rack, holder, other):
    """For Rack.hold: "" while `holder` runs the service and `other` does not, what was seen
    otherwise, None when a node's console did not answer."""
    states = {n: rack.resources_state(n) for n in (holder, other)}
    if None in states.values():
        return None
    if states[holder] != "running" or states[other] == "running":
        return "%s %s, %s %s" % (holder, states[holder], other, states[other])
    return ""


def describe_wrong(wrong):
    """What Rack.hold's samples saw wrong, with when (the first few)."""
    if not wrong:
        return "as it should be throughout"
    return "; ".join("at %.1f s: %s" % (t, w) for t, w in wrong[:5]) + (" (%d in all)" % len(wrong)
                                                                          if len(wrong) > 5 else "")


def witness_isolation(rack):
    """Cut every link of the witness for 20 s: the nodes keep quorum, nothing fails over, and
    the isolated witness fences nobody (W3)."""
    holder, gen = begin(rack)
    if not holder:
        return
    t0 = now_s()
    fences_before = len(rack.relay.events("off"))
    isolate(rack, "witness", True)
    rack.note("isolated the witness: its two serial cables and its LAN port cut")
    other = NODES[1 - NODES.index(holder)]
    # Isolated for 20 s (the fault's duration); both nodes are watched throughout.
    answered, wrong = rack.hold(20, lambda: service_sample(rack, holder, other))
    rack.check(answered and not wrong, "%s runs the service and %s does not, throughout the 20 s (%d samples): %s"
               % (holder, other, answered, describe_wrong(wrong)))
    rack.check(len(rack.relay.events("off")) == fences_before, "the isolated witness fenced nobody")
    isolate(rack, "witness", False)
    rack.note("witness reconnected")
    back = rack.settled(90)
    rack.check(back and back == (holder, gen), "the witness resumes supervision, same holder and generation: %s" % (back,))
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))
    rack.expect_traps([], forbid=FAILOVER_TRAPS)


def failover(rack, holder, gen, t0, cause, relay_works=True, timeout_s=FAILOVER_TIMEOUT_S):
    """After a fault of `holder` at t0: wait for the other node to write under a newer
    generation; record the times; check the fence."""
    other = NODES[1 - NODES.index(holder)]
    detected = [None]

    def poll():
        a = rack.authority()
        if (a.get("fencing") or a.get("switching") or (a.get("holder") not in (None, holder))) \
                and detected[0] is None:
            detected[0] = now_s()
        if a.get("holder") == other and (a.get("generation") or 0) > gen:
            new = rack.new_acks(other, gen, t0)
            if new:
                return a, new[0]
        return None
    got = rack.wait("failover", timeout_s, poll)
    rack.check(got, "%s took over under a newer generation after %s" % (other, cause))
    if not got:
        return
    a, first = got
    last_old = rack.last_row(holder, t0)
    offs = [t for t, n in rack.relay.events("off") if n == holder and t >= t0]
    if relay_works:
        rack.check(offs, "the witness fenced %s through the relay (Modbus coil off)" % holder)
    rack.note("%s writes under generation %d: first acknowledged record, +%.1f s" % (other, a["generation"], first[0] - t0),
              at=first[0])
    # Detection: the witness's first word about it, its trap (host clock at the station) or its
    # status (polled at its console, coarse), whichever came first.
    said = [t.t for t in rack.trapd.since(t0) if t.sender == "witness" and (
        (t.name == "rackHaMemberDown" and t.fields.get("rackHaMemberName") == holder)
        or t.name in ("rackHaFailoverStarted", "rackHaResourceFailed"))]
    seen = [x for x in said + [detected[0]] if x is not None and x <= first[0]]
    if seen:
        rack.note("the witness noticed, +%.1f s" % (min(seen) - t0), at=min(seen))
        rack.figure("%s to detection (the witness's first trap or status about it)" % cause,
                    min(seen) - t0, "detect_ms")
    if offs:
        rack.note("the witness fences %s: relay off command, +%.1f s" % (holder, offs[0] - t0), at=offs[0])
    if offs:
        rack.figure("%s to relay off command (fence)" % cause, offs[0] - t0, "fence_ms")
    rack.figure("%s to service restored (first record of %s)" % (cause, other), first[0] - t0, "restored_ms")
    starts = [t for t, n, g in list(rack.vms[other].starts) if n == other and g == a["generation"] and t <= first[0]]
    if starts:
        rack.figure("the ledger's own start (its start action to its first record)", first[0] - starts[-1],
                    "ledger_start_ms")
        rack.figure("%s to the ledger's start action on %s" % (cause, other), starts[-1] - t0, "to_ledger_start_ms")
    rack.figure("service gap (last record of %s to first of %s)" % (holder, other), first[0] - last_old, "gap_ms")
    rack.check(first[0] > last_old, "no record of %s after the first of %s" % (holder, other))
    return first[0] - t0


def power_cut(rack):
    """Cut the power of the active node (QEMU quit, no shutdown): the witness fences it through
    the relay, the other node takes over, the relay powers the fenced node on again and it
    stays in standby."""
    if NODE_KIND == "pacemaker":
        return pcmk_power_cut(rack)
    holder, gen = begin(rack)
    if not holder:
        return
    t0 = now_s()
    rack.vms[holder].power_off()
    rack.note("power cut of the active node %s (its power supply, not the relay)" % holder)
    failover(rack, holder, gen, t0, "power cut")
    rack.expect_traps(["rackHaFenceSucceeded", "rackHaFailoverCompleted"])
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby; the service stays put: %s" % (holder, back,))


def agent_hang(rack):
    """SIGSTOP the active node's agent (typed at its console): heartbeats stop, the watchdog
    is no longer fed; the witness fences the node through the relay before or while the
    watchdog resets it, and the other node takes over."""
    holder, gen = begin(rack)
    if not holder:
        return
    rc, out = rack.vms[holder].run("kill -STOP $(pidof ha-agent) && echo stopped")
    t0 = now_s()
    rack.check(rc == 0, "SIGSTOP sent to %s's agent: %s" % (holder, out.strip()))
    rack.note("the agent of %s hangs (SIGSTOP)" % holder)
    failover(rack, holder, gen, t0, "agent hang")
    rack.expect_traps(["rackHaFenceSucceeded", "rackHaFailoverCompleted"])
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby: %s" % (holder, back,))


def line_noise(rack):
    """Bit errors on every serial cable (2 % of the bytes, both directions) for 20 s: frames
    fail their CRC and are dropped; the LAN still carries the heartbeats; nothing fails over."""
    holder, gen = begin(rack)
    if not holder:
        return
    t0 = now_s()
    crc0 = sum(l.get("crc_errors", 0) for l in (rack.status("witness") or {}).get("links", []))
    for c in rack.cables.values():
        c.set("noise", noise_rate=0.02)
    rack.note("line noise on the three serial cables")
    crc = {"max": crc0, "first_more_at": None}

    # Noise for 20 s (the fault's duration); the witness's counters and grant are watched throughout.
    def sample():
        s = rack.status("witness")
        if s is None:
            return None
        n = sum(l.get("crc_errors", 0) for l in s.get("links", []))
        crc["max"] = max(crc["max"], n)
        if n > crc0 and crc["first_more_at"] is None:
            crc["first_more_at"] = now_s() - t0
        a = s.get("authority") or {}
        if (a.get("holder"), a.get("generation")) != (holder, gen):
            return "holder %s generation %s" % (a.get("holder"), a.get("generation"))
        return ""
    answered, wrong = rack.hold(20, sample)
    for c in rack.cables.values():
        c.set("pass")
    rack.note("line noise stopped")
    rack.check(crc["max"] > crc0, "the witness counted damaged frames (CRC errors %d -> %d, %s)"
               % (crc0, crc["max"], "more %.1f s into the noise" % crc["first_more_at"]
                  if crc["first_more_at"] is not None else "no more in %d samples over 20 s" % answered))
    rack.check(answered and not wrong, "no failover during the noise: holder %s generation %s throughout "
               "(%d samples): %s" % (holder, gen, answered, describe_wrong(wrong)))
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))
    rack.expect_traps([], forbid=FAILOVER_TRAPS)


def witness_power_loss(rack):
    """Power off the witness for 20 s: the service continues on the nodes; the witness boots
    again and resumes supervision with the same holder."""
    holder, gen = begin(rack)
    if not holder:
        return
    t0 = now_s()
    rack.vms["witness"].power_off()
    rack.note("power cut of the witness")
    other = NODES[1 - NODES.index(holder)]
    # The witness stays off for 20 s (the fault's duration); both nodes are watched throughout.
    answered, wrong = rack.hold(20, lambda: service_sample(rack, holder, other))
    rack.check(answered and not wrong, "%s runs the service without the witness and %s does not, throughout "
               "the 20 s (%d samples): %s" % (holder, other, answered, describe_wrong(wrong)))
    rack.vms["witness"].power_on()
    rack.note("witness powered on")
    rack.vms["witness"].wait_ready()
    rack.note("witness booted again")
    back = rack.settled(120)
    rack.check(back and back[0] == holder, "the witness supervises again, holder %s: %s" % (holder, back,))
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service never stopped (longest pause %.1f s)" % (gap or -1))
    rack.expect_traps(["rackHaAgentStarted"], forbid=FAILOVER_TRAPS, subject="witness")
    # The rebooted witness must also be obeyed, not only leave a running service alone.
    fences = len(rack.relay.events("off"))
    t1 = now_s()
    rc, out = rack.vms["witness"].run("ha-agent move %s" % other, 30)
    rack.note("operator: ha-agent move %s at the rebooted witness's console: %s" % (other, out.strip()[:80]))
    moved = rack.wait("move", 60, lambda: rack.new_acks(other, gen, t1))
    rack.check(moved and len(rack.relay.events("off")) == fences,
               "the rebooted witness is obeyed: `ha-agent move %s` moves the service within 60 s, nobody fenced"
               % other)
    fenced = [t for t in rack.trapd.since(t1) if t.name == "rackHaFenceSucceeded"]
    if fenced:
        rack.check(len(fenced) == 1, "one fence, one rackHaFenceSucceeded (got %d)" % len(fenced))


def node_isolation(rack):
    """Cut every link of the active node (both cables, its LAN port): it stops the service
    when it loses quorum (N2) and the witness fences it; the other node takes over; never both."""
    holder, gen = begin(rack)
    if not holder:
        return
    t0 = now_s()
    isolate(rack, holder, True)
    rack.note("isolated the active node %s: its cables and LAN port cut" % holder)
    failover(rack, holder, gen, t0, "isolation")
    isolate(rack, holder, False)
    rack.note("%s's links repaired" % holder)
    rack.expect_traps(["rackHaFenceSucceeded", "rackHaFailoverCompleted"])
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby: %s" % (holder, back,))


def relay_broken_isolation(rack):
    """The relay board stops answering, then the active node is isolated: the fence fails, so
    the witness waits out the node's watchdog deadline (dead + interval + the node's fence bound
    reported in the witness's status + margin, watchdog_deadline_ms) before it grants the other
    node (W1)."""
    holder, gen = begin(rack)
    if not holder:
        return
    deadline_ms = watchdog_deadline_ms(rack, holder)
    rack.check(deadline_ms is not None, "the witness reports %s's fence bound (authority.nodes[].fence_bound_ms): %s"
               % (holder, rack.authority().get("nodes")))
    if deadline_ms is None:
        return
    deadline_s = deadline_ms / 1000.0
    rack.relay.fault = "dead"
    t0 = now_s()
    isolate(rack, holder, True)
    rack.note("relay board dead; isolated the active node %s (watchdog deadline %.1f s after its last frame)"
              % (holder, deadline_s))
    restored = failover(rack, holder, gen, t0, "isolation, relay dead", relay_works=False,
                        timeout_s=deadline_s + 90)
    if restored is not None:
        rack.check(restored >= deadline_s - TIMING["dead_ms"] / 1000.0,
                   "the grant waited out the watchdog deadline (%.1f s >= %.1f s - dead_ms)" % (restored, deadline_s))
    rack.expect_traps([("rackHaFenceFailed", "rackHaFenceUnconfirmed", "rackHaRelayBoardUnreachable"),
                       "rackHaFailoverCompleted"], forbid=("rackHaFenceSucceeded",))
    rack.relay.fault = None
    isolate(rack, holder, False)
    rack.note("relay board repaired; %s's links repaired" % holder)
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s rejoined in standby: %s" % (holder, back,))


def resource_failure(rack):
    """The service fails on the active node (its monitor reports failure): local restarts,
    then the group fails and the witness moves the service (W5); the failed node is reset
    by restarting its agent and stays in standby."""
    holder, gen = begin(rack)
    if not holder:
        return
    fences_before = len(rack.relay.events("off"))
    rc, _ = rack.vms[holder].run("touch /run/ledger-fail")
    t0 = now_s()
    rack.note("the service on %s fails (its monitor reports failure from now on)" % holder)
    failover(rack, holder, gen, t0, "resource failure", relay_works=False)
    rack.check(len(rack.relay.events("off")) == fences_before, "a graceful move: nobody fenced")
    rack.expect_traps(["rackHaResourceFailed"], forbid=("rackHaFenceSucceeded", "rackHaFenceFailed"))
    # The trap about the move comes on its own time, after ResourceFailed: wait for it.
    moved = lambda: [t for t in rack.traps() if t.name in ("rackHaResourceMoved", "rackHaSwitchover",  # noqa: E731
                                                           "rackHaFailoverCompleted")]
    got, took = rack.wait_timed("moved trap", TRAP_TIMEOUT_S, moved)
    rack.check(got, "the station is told the service moved (ResourceMoved, Switchover or FailoverCompleted), "
               "%s: %s" % ("after %.1f s" % took if got else "not within %d s" % TRAP_TIMEOUT_S,
                           "; ".join(t.describe() for t in moved()) or "none"))
    rack.vms[holder].run("rm -f /run/ledger-fail; killall ha-agent")
    rack.note("%s: failure cleared, agent restarted (cleanup)" % holder)
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s back in standby: %s" % (holder, back,))


def manual_switchover(rack):
    """The operator types `ha-agent move OTHER` on the witness's console: the holder stops the
    service, the other node starts it under a new generation; nobody is fenced."""
    holder, gen = begin(rack)
    if not holder:
        return
    other = NODES[1 - NODES.index(holder)]
    fences_before = len(rack.relay.events("off"))
    t0 = now_s()
    rc, out = rack.vms["witness"].run("ha-agent move %s" % other, 30)
    rack.check(rc == 0, "`ha-agent move %s` at the witness's console accepted: %s" % (other, out.strip()[:200]))
    rack.note("operator: ha-agent move %s (at the witness's console)" % other)
    failover(rack, holder, gen, t0, "move command", relay_works=False)
    rack.check(len(rack.relay.events("off")) == fences_before, "graceful: nobody fenced")
    rack.expect_traps(["rackHaSwitchover"], forbid=("rackHaFenceSucceeded", "rackHaFenceFailed",
                                                    "rackHaFailoverStarted", "rackHaFailoverCompleted"))
    back = rack.settled()
    rack.check(back and back[0] == other, "%s holds the service, %s in standby: %s" % (other, holder, back,))


def array_reading(array):
    """Whether the witness's status `array` shows a reading through an answering console
    (docs/status.md: `array.console.state` is `answering`, `lost` or `unknown`)."""
    return (array.get("console") or {}).get("state") == "answering" and bool(array.get("drives"))


def array_rebuild(rack):
    """On the RAID controller's console (Areca CLI on the witness's ttyS4): a member disk fails,
    the global spare takes over and rebuilds (30 %, 60 %), the rebuild completes. The station
    receives the array notifications in order; the service is not touched."""
    holder, gen = begin(rack)
    if not holder:
        return
    w = lambda: (rack.status("witness") or {}).get("array") or {}  # noqa: E731
    ok = rack.wait("array reading", 60, lambda: array_reading(w()))
    rack.check(ok, "the witness reads the array through its console: %s" % (str(w())[:300],))
    steps = [("disk e1/s1 fails", lambda: rack.areca.fail_disk(0), ["rackHaDiskFailed", "rackHaLogicalDriveDegraded"]),
             ("the global spare e1/s5 takes over, rebuild at 0 %", rack.areca.activate_spare,
              ["rackHaRebuildStarted"]),
             ("rebuild at 30 %", lambda: rack.areca.set_progress(30), ["rackHaRebuildProgress"]),
             ("rebuild at 60 %", lambda: rack.areca.set_progress(60), ["rackHaRebuildProgress"]),
             ("rebuild completed", rack.areca.complete_rebuild, ["rackHaRebuildCompleted"]),
             ]
    t0 = now_s()
    expected = []
    for text, act, traps in steps:
        act()
        rack.note("array: %s" % text)
        expected += traps
        got = rack.wait("traps", 60, lambda: all(
            [t.name for t in rack.traps()].count(n) >= expected.count(n) for n in set(traps)))
        rack.check(got, "%s: %s arrived" % (text, ", ".join(traps)))
    rack.figure("disk failure to rackHaDiskFailed at the station",
                min([t.t for t in rack.traps() if t.name == "rackHaDiskFailed"] or [now_s()]) - t0)
    rack.expect_traps(["rackHaDiskFailed", "rackHaLogicalDriveDegraded", "rackHaRebuildStarted",
                       "rackHaRebuildProgress", "rackHaRebuildCompleted", "rackHaLogicalDriveOptimal"],
                      forbid=FAILOVER_TRAPS + ("rackHaConsoleLost",), timeout_s=60)
    array_names = ("Disk", "Rebuild", "LogicalDrive", "Spare")
    order = [t.name.replace("rackHa", "") + (" %s%%" % t.fields["rackHaProgressPercent"]
                                             if "rackHaProgressPercent" in t.fields else "")
             for t in rack.traps() if any(a in t.name for a in array_names)]
    rack.note("array traps: %s" % ", ".join(order))
    rack.areca.replace_with_spare(0)
    rack.note("array: disk e1/s1 replaced by a new global spare")
    rack.expect_traps(["rackHaDiskFailed", "rackHaDiskInserted"], timeout_s=60)
    a = rack.authority()
    rack.check(a.get("holder") == holder and a.get("generation") == gen, "the service was not touched")


def postmaster(rack, node):
    """The PostgreSQL server on the shared disk that `node`'s probe saw last: (host time, pid)
    or None."""
    for t, _, pids in reversed(list(rack.vms[node].pg_samples)):
        return (t, pids[0]) if pids else None
    return None


def db_crash(rack):
    """(Debian nodes) kill -9 of the postmaster on the active node, three times: the first two
    times the pgsql monitor sees it and the group restarts it on the same node (max_restarts
    = 2); the third fails the group and the witness moves the service to the other node,
    nobody fenced. The failed node forgets its failures (ha-agent cleanup) and stays in
    standby."""
    holder, gen = begin(rack)
    if not holder:
        return
    fences_before = len(rack.relay.events("off"))
    for crash in range(1, MAX_RESTARTS + 2):
        seen = postmaster(rack, holder)
        rack.check(seen, "crash %d: %s's probe shows its postmaster: %s" % (crash, holder, seen))
        if not seen:
            return
        old = seen[1]
        rc, out = rack.vms[holder].run("kill -9 %d && echo killed" % old)
        t0 = now_s()
        rack.check(rc == 0, "crash %d: kill -9 of the postmaster %d on %s: %s" % (crash, old, holder, out.strip()[:200]))
        rack.note("crash %d: the postmaster %d on %s killed (SIGKILL)" % (crash, old, holder))
        if crash <= MAX_RESTARTS:
            def since_new():
                """When the probe first showed a new postmaster on the holder, or None."""
                new = [t for t, _, pids in list(rack.vms[holder].pg_samples) if t > t0 and pids and old not in pids]
                return new[0] if new else None

            def restarted():
                # A row committed by the new server (one in flight when the old one died may
                # still have been acknowledged by it).
                t = since_new()
                return t is not None and rack.acks_from(holder, t)
            got, took = rack.wait_timed("local restart", FAILOVER_TIMEOUT_S, restarted)
            rack.check(got, "crash %d: restarted on %s, rows committed again by the new server after %s"
                       % (crash, holder, "%.1f s" % (got[0][0] - t0) if got else
                          "nothing within %d s" % FAILOVER_TIMEOUT_S))
            if got:
                rack.figure("database crash %d to the first row committed by the restarted server on %s"
                            % (crash, holder), got[0][0] - t0)
                rack.figure("client-visible outage of crash %d (longest pause between acknowledged rows)"
                            % crash, rack.ack_gap(t0))
            a = rack.authority()
            rack.check((a.get("holder"), a.get("generation")) == (holder, gen),
                       "crash %d: a local restart: holder %s generation %s (was %s %s)"
                       % (crash, a.get("holder"), a.get("generation"), holder, gen))
        else:
            failover(rack, holder, gen, t0, "database crash %d" % crash, relay_works=False)
    rack.check(len(rack.relay.events("off")) == fences_before, "a graceful move: nobody fenced")
    rack.expect_traps(["rackHaResourceFailed"], forbid=("rackHaFenceSucceeded", "rackHaFenceFailed"))
    rc, out = rack.vms[holder].run("ha-agent cleanup", 30)
    rack.check(rc == 0, "ha-agent cleanup on %s: %s" % (holder, out.strip()[:200]))
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s in standby, the service stays on the other node: %s" % (holder, back,))


def admin_reboot(rack):
    """(Debian nodes) `systemctl reboot` on the active node, as an administrator does: its
    agent stops the group in reverse order and reports it to the witness, which hands the
    service to the other node without a fence (a switchover); the rebooted node comes back in
    standby."""
    holder, gen = begin(rack)
    if not holder:
        return
    fences_before = len(rack.relay.events("off"))
    vm = rack.vms[holder]
    t0 = now_s()
    vm.reboot_from_inside("systemctl reboot")
    rack.note("administrator: systemctl reboot on %s" % holder)
    failover(rack, holder, gen, t0, "admin reboot", relay_works=False)
    rack.check(len(rack.relay.events("off")) == fences_before, "a clean reboot: nobody fenced")
    rack.expect_traps(["rackHaSwitchover"], forbid=("rackHaFenceSucceeded", "rackHaFenceFailed",
                                                    "rackHaFenceUnconfirmed", "rackHaFailoverStarted",
                                                    "rackHaFailoverCompleted"))
    try:
        took = vm.wait_ready()
        rack.check(True, "%s rebooted: its agent ready again (%.1f s after its start)" % (holder, took))
    except Timeout as e:
        rack.check(False, "%s rebooted: its agent ready again: %s" % (holder, str(e)[:300]))
        return
    rack.note("%s back after its reboot" % holder)
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s back in standby, the service stays put: %s" % (holder, back,))


# The package the agent-upgrade scenario installs: the node image's own .deb with a newer
# version (rebuilt with dpkg-deb), on each node's seed disk (/data/upgrade/).
UPGRADE_SUFFIX = "+rackupgrade1"


def upgrade_package(work):
    """The agent's .deb that the node image holds, again with the version `<v>+rackupgrade1`:
    (path, version). dpkg-deb only: the same files, a newer package."""
    with open(os.path.join(ROOT, "agent", "Cargo.toml")) as f:
        version = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    deb = os.path.join(ROOT, "out", "packages", "ha-agent_%s_amd64.deb" % version)
    tree = os.path.join(work, "upgrade-tree")
    run(["dpkg-deb", "-R", deb, tree])
    control = os.path.join(tree, "DEBIAN", "control")
    with open(control) as f:
        text = f.read()
    new = version + UPGRADE_SUFFIX
    text, n = re.subn(r"^Version: .*$", "Version: " + new, text, flags=re.M)
    assert n == 1, "the package's control file has one Version field"
    with open(control, "w") as f:
        f.write(text)
    out = os.path.join(work, "ha-agent_%s_amd64.deb" % new)
    run(["dpkg-deb", "--root-owner-group", "-b", tree, out], stdout=subprocess.DEVNULL)
    shutil.rmtree(tree)
    return out, new


def agent_upgrade(rack):
    """(Debian nodes) The agent upgraded on the active node without moving the service:
    `ha-agent maintenance on` at the witness's console, the package installed again with a
    newer version (dpkg -i), `systemctl restart ha-agent`, `ha-agent maintenance off` once
    the new agent is back. The database never stops: the same postmaster, holder and
    generation throughout, nobody fenced, no failover."""
    holder, gen = begin(rack)
    if not holder:
        return
    fences_before = len(rack.relay.events("off"))
    seen = postmaster(rack, holder)
    rack.check(seen, "%s's probe shows its postmaster: %s" % (holder, seen))
    if not seen:
        return
    witness, node = rack.vms["witness"], rack.vms[holder]
    t0 = now_s()
    rc, out = witness.run("ha-agent maintenance on", 30)
    rack.check(rc == 0, "`ha-agent maintenance on` at the witness's console: %s" % out.strip()[:200])
    rack.note("operator: ha-agent maintenance on (at the witness's console)")
    # The node must know before its agent stops: in maintenance its stop leaves the group.
    told, took = rack.wait_timed("maintenance on the node", 30, lambda: (
        ((rack.status(holder) or {}).get("authority") or {}).get("maintenance") is True))
    rack.check(told, "%s's agent in maintenance: %s" % (
        holder, "after %.1f s" % took if told else "not within 30 s"))
    if not told:
        witness.run("ha-agent maintenance off", 30)
        return
    deb = "/data/upgrade/" + os.path.basename(rack.upgrade[0])
    rc, out = node.run("DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold %s >/tmp/upgrade.log 2>&1"
                       " && systemctl restart ha-agent && dpkg-query -W -f='version=${Version}\n' ha-agent"
                       " || tail -n 20 /tmp/upgrade.log" % deb, 180)
    rack.check(rc == 0 and "version=%s" % rack.upgrade[1] in out,
               "on %s: dpkg -i of ha-agent %s and systemctl restart ha-agent: %s"
               % (holder, rack.upgrade[1], out.strip()[-300:]))
    rack.note("administrator: dpkg -i ha-agent %s, systemctl restart ha-agent on %s" % (rack.upgrade[1], holder))

    def new_agent_back():
        s = rack.status(holder) or {}
        a = s.get("authority") or {}
        reach = {m.get("name"): m.get("state") for m in (rack.status("witness") or {}).get("members", [])}
        return a.get("maintenance") is True and a.get("resources_state") == "running" \
            and a.get("acting_generation") == gen and reach.get(holder) == "reachable"
    back, took = rack.wait_timed("the new agent", 60, new_agent_back)
    rack.check(back, "the new agent on %s took the running group over under generation %d, the witness "
               "reaches it: %s" % (holder, gen, "after %.1f s" % took if back else "not within 60 s"))
    rc, out = witness.run("ha-agent maintenance off", 30)
    rack.check(rc == 0, "`ha-agent maintenance off` at the witness's console: %s" % out.strip()[:200])
    rack.note("operator: ha-agent maintenance off")
    # A few monitor intervals with maintenance off: the service stays where it was.
    answered, wrong = rack.hold(15, lambda: service_sample(rack, holder, NODES[1 - NODES.index(holder)]))
    rack.check(answered and not wrong, "the service stayed on %s for 15 s after maintenance off (%d samples): %s"
               % (holder, answered, describe_wrong(wrong)))
    a = rack.authority()
    rack.check((a.get("holder"), a.get("generation")) == (holder, gen),
               "same holder and generation: %s %s (was %s %s)" % (a.get("holder"), a.get("generation"), holder, gen))
    after = postmaster(rack, holder)
    rack.check(after and after[1] == seen[1], "the same postmaster on %s throughout: %s, was %d"
               % (holder, after and after[1], seen[1]))
    rack.check(len(rack.relay.events("off")) == fences_before, "nobody fenced")
    gap = rack.ack_gap(t0)
    rack.check(gap is not None and gap < 5, "the service kept writing (longest pause %.1f s)" % (gap or -1))
    rack.expect_traps([], forbid=FAILOVER_TRAPS)


# Scenarios that the Debian nodes do not run yet, and why.
LEDGER_ONLY = {
    "resource-failure": "its fault is the ledger's failure file; on the Debian nodes the database's own failure is db-crash",
}

SCENARIOS = {
    "cold-start": cold_start,
    "one-cable": one_cable,
    "line-noise": line_noise,
    "witness-isolation": witness_isolation,
    "array-rebuild": array_rebuild,
    "manual-switchover": manual_switchover,
    "power-cut": power_cut,
    "agent-hang": agent_hang,
    "node-isolation": node_isolation,
    "relay-broken-isolation": relay_broken_isolation,
    "resource-failure": resource_failure,
    # Last: it ends with a move ordered by the rebooted witness.
    "witness-power-loss": witness_power_loss,
    "db-crash": db_crash,
    "admin-reboot": admin_reboot,
    "agent-upgrade": agent_upgrade,
    "lan-split": pcmk_lan_split,
}
# Scenarios of the Debian nodes only (the database's faults, systemd and the package).
DEBIAN_ONLY = ("db-crash", "admin-reboot", "agent-upgrade")
# What the Pacemaker nodes run: the benchmark's power cut, and the fence race of a LAN split
# that the box breaks.
PACEMAKER_SCENARIOS = ("cold-start", "power-cut", "lan-split")
# Scenarios of the Pacemaker nodes only (the fence race the box breaks for another cluster).
PACEMAKER_ONLY = ("lan-split",)


# ---- the demo

def show_status(rack, title):
    """The witness's `ha-agent status` screen, as an operator sees it at its console, and one
    line per member from each member's own status."""
    print("\n---- %s (at %.1f s): `ha-agent status` on the witness's console" % (title, now_s()), flush=True)
    try:
        rc, out = rack.vms["witness"].run("ha-agent status", 20)
        print("\n".join("    | " + line for line in out.splitlines()))
    except (Timeout, OSError) as e:
        print("    (witness not answering: %s)" % str(e).splitlines()[0])
    for m in MEMBERS:
        vm = rack.vms[m]
        if not vm.powered:
            print("    %-8s POWERED OFF" % m)
            continue
        if not vm.logged_in:
            print("    %-8s booting (powered on %.0f s ago)" % (m, now_s() - vm.started_at))
            continue
        s = rack.status(m) or {}
        a = s.get("authority") or {}
        reach = ", ".join("%s %s" % (x.get("name"), x.get("state")) for x in s.get("members", []))
        if m == "witness":
            extra = "holder %s generation %s%s" % (a.get("holder"), a.get("generation"),
                                                     " FENCING %s" % a["fencing"] if a.get("fencing") else "")
        else:
            extra = "resources %s, acting generation %s" % (a.get("resources_state"), a.get("acting_generation"))
        print("    %-8s up: %s; sees %s" % (m, extra, reach or "?"), flush=True)
    print(flush=True)


def demo(rack):
    """The narrated failover of `make demo`."""
    rack.scenario = "cold-start"
    rack.current = {"name": "cold-start", "t0": now_s(), "figures": {}, "traps": []}
    say("==== 1. cold start: the witness, then node-a, then node-b boot from the image")
    cold_start(rack)
    show_status(rack, "the rack is up")
    rack.scenario = "power-cut"
    rack.current = {"name": "power-cut", "t0": now_s(), "figures": {}, "traps": []}
    holder, gen = begin(rack)
    if not holder:
        return
    say("==== 2. power cut: %s, which runs the service (%s + floating IP %s), loses its power"
        % (holder, "PostgreSQL on the shared disk" if rack.client else "ledger writer", FLOATING_IP))
    if rack.client:
        rows = lambda: len(rack.client.acks)  # noqa: E731
        n0, t1 = rows(), now_s()
        rack.wait("rows", 5, lambda: rows() - n0 >= 50)
        say("the client on the LAN commits %.0f rows per second through %s (%d acknowledged so far)"
            % ((rows() - n0) / max(0.1, now_s() - t1), FLOATING_IP, rows()))
    t0 = now_s()
    rack.vms[holder].power_off()
    rack.note("power cut of the active node %s" % holder)
    watcher = threading.Thread(target=lambda: (time.sleep(4), show_status(rack, "4 s after the power cut")),
                               daemon=True)
    watcher.start()
    failover(rack, holder, gen, t0, "power cut")
    watcher.join(60)
    rack.expect_traps(["rackHaFenceSucceeded", "rackHaFailoverCompleted"])
    show_status(rack, "the service runs on the other node")
    print("---- the failover, from the power cut (host clock)")
    events = [(t, text) for t, text in rack.timeline if t >= t0]
    events += [(t.t, "trap " + t.describe()) for t in rack.trapd.since(t0)
               if t.sender == "witness" or t.name in ("rackHaMemberDown",)]
    for t, text in sorted(events):
        print("    +%5.1f s  %s" % (t - t0, text))
    print(flush=True)
    if rack.client:
        say("the client: %d rows acknowledged; longest pause between two acknowledgements since the cut %.1f s"
            % (len(rack.client.acks), rack.ack_gap(t0)))
    say("==== 3. the fenced node is powered on again by the relay and rejoins in standby")
    back = rack.settled()
    rack.check(back and back[0] != holder, "%s is back, in standby: %s" % (holder, back,))
    rack.check_floating_ip()
    show_status(rack, "back to three members")


# ---- main

def summarize(rack, started_wall, duration_s, path):
    """Print the timeline, figures, traps and checks; write report.json."""
    print("\n==== timeline")
    for t, text in sorted(rack.timeline, key=lambda e: e[0]):
        print("  %7.1f s  %s" % (t, text))
    print("\n==== traps received by the station (snmptrapd)")
    for t in rack.trapd.since(0):
        print("  %7.1f s  %s" % (t.t, t.describe()))
    print("\n==== figures")
    for scen, name, s in rack.figures:
        print("  %-22s %-70s %6.1f s" % (scen, name, s))
    failed = [r for r in rack.results if not r[1]]
    cuts = [r["figures"] for r in rack.records if r["name"] == "power-cut" and "restored_ms" in r["figures"]]
    trials = [f["restored_ms"] for f in cuts]
    to_start = sorted(f["to_ledger_start_ms"] for f in cuts if "to_ledger_start_ms" in f)
    ledger = sorted(f["ledger_start_ms"] for f in cuts if "ledger_start_ms" in f)
    report = {
        "started": started_wall, "duration_s": round(duration_s, 1), "checks": len(rack.results),
        "failed": len(failed), "known_agent_bugs": [{"scenario": k[0], "passed": k[1], "check": k[2], "bug": k[3]}
                                                     for k in rack.known],
        "nodes": NODE_KIND,
        "resources": RESOURCES_KIND if NODE_KIND == "debian" else None,
        "timing": dict(TIMING, watchdog_s=WATCHDOG_S, self_fence_ms=SELF_FENCE_MS, margin_ms=MARGIN_MS),
        "pacemaker_timing": ({"kind": PCMK_TIMING, "token_ms": pacemaker.effective_timing(PCMK_TIMING)[0],
                              "consensus_ms": pacemaker.effective_timing(PCMK_TIMING)[1]}
                             if NODE_KIND == "pacemaker" else None),
        "scenarios": rack.records,
        "power_cut_trials": len(trials),
        "failover_ms_p50": sorted(trials)[len(trials) // 2] if trials else None,
        "failover_ms_max": max(trials) if trials else None,
        "failover_ms_definition": "power cut of the active node to the first acknowledged %s of the other "
                                  "node (host clock)" % ("ledger record" if NODE_KIND == "appliance"
                                                         else "row committed by the LAN client"),
        "to_ledger_start_ms_p50": to_start[len(to_start) // 2] if to_start else None,
        "to_ledger_start_ms_max": to_start[-1] if to_start else None,
        "ledger_start_ms_p50": ledger[len(ledger) // 2] if ledger else None,
        "ledger_start_ms_max": ledger[-1] if ledger else None,
        # Copies of a member's status damaged on its console and read again (Vm.status).
        "status_reads_damaged": {m: vm.status_garbled for m, vm in rack.vms.items()},
        # What a member's socket did not take at once and the harness dropped (harness.Cable._send,
        # harness.Hub._send): serial bytes per cable direction, LAN frames.
        "serial_bytes_overrun": {"%s>%s" % (c.ends[a], c.ends[b]): c.dir[(a, b)].overrun
                                 for c in rack.cables.values() for (a, b) in c.dir},
        "lan_frames_overrun": rack.hub.overruns,
    }
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print("\n==== scenarios")
    for r in rack.records:
        figs = " ".join("%s=%d" % (k, r["figures"][k]) for k in FIGURE_KEYS if k in r["figures"])
        print("  %-4s %-24s %3d checks  %s" % ("ok" if r["ok"] else "FAIL", r["name"], r["checks"], figs))
    if trials:
        print("  power-cut failover over %d trial(s): p50 %d ms, max %d ms"
              % (len(trials), report["failover_ms_p50"], report["failover_ms_max"]))
    if to_start:
        print("  power cut to the ledger's start action: p50 %d ms, max %d ms; the ledger's own start: p50 %s ms"
              % (report["to_ledger_start_ms_p50"], report["to_ledger_start_ms_max"], report["ledger_start_ms_p50"]))
    print("  status copies damaged on the console and read again: %s; serial bytes a member did not take "
          "(overrun): %d; LAN frames dropped at a full member port: %d"
          % (", ".join("%s %d" % kv for kv in report["status_reads_damaged"].items()),
             sum(report["serial_bytes_overrun"].values()), report["lan_frames_overrun"]))
    print("\n==== %d checks, %d failed; %.1f minutes; report %s" % (len(rack.results), len(failed),
                                                                   duration_s / 60, path))
    for scen, _, text in failed:
        print("  FAIL %s: %s" % (scen, text))
    for scen, ok, text, bug in rack.known:
        print("  %s %s: %s\n        known agent bug %s: %s" % ("XPASS" if ok else "XFAIL", scen, text, bug,
                                                              KNOWN_AGENT_BUGS[bug]))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", default=[])
    p.add_argument("--repeat", type=int, default=1, help="run the chosen scenarios N times (after one cold start)")
    p.add_argument("--demo", action="store_true", help="the narrated power-cut failover of make demo")
    p.add_argument("--image", default=os.environ.get("RACK_IMAGE", os.path.join(ROOT, "out", "image")))
    p.add_argument("--work", default=os.path.join(ROOT, "out", "rack"))
    p.add_argument("--list", action="store_true")
    p.add_argument("--timing", choices=("default", "fast"), default="default",
                   help="heartbeat timing of the members: default (interval 500 ms, dead 5 s, margin 2 s), "
                        "fast (interval 100 ms, dead 1 s, margin 500 ms)")
    p.add_argument("--write-configs", metavar="DIR",
                   help="write the members' configurations for these options into DIR and exit")
    p.add_argument("--pcmk-timing", choices=tuple(pacemaker.COROSYNC_TIMING), default="default",
                   help="Corosync's timing on the Pacemaker nodes: default (Debian's: token 3000 ms, consensus "
                        "3600 ms), tuned (token 1000 ms, consensus 1200 ms)")
    p.add_argument("--nodes", choices=("appliance", "debian", "pacemaker"), default="appliance",
                   help="the nodes: the appliance's test image running the ledger, the Debian node image "
                        "running PostgreSQL under Debian's resource agents (tests/vm/make-debian-node.sh), or its "
                        "Pacemaker variant running the same group under Pacemaker + Corosync (VARIANT=pacemaker); "
                        "for the first two: "
                        "running PostgreSQL under Debian's resource agents (tests/vm/make-debian-node.sh)")
    p.add_argument("--resources", choices=("ocf", "builtin"), default="ocf",
                   help="with --nodes debian: the group through Debian's resource scripts (ocf) or through the "
                        "agent's built-in types (builtin: builtin:filesystem, builtin:pgsql, builtin:ipaddr)")
    p.add_argument("--node-image", help="the Debian node image's directory (default: the one of the current inputs)")
    o = p.parse_args()
    if o.resources != "ocf" and o.nodes != "debian":
        raise SystemExit("rack: --resources builtin needs --nodes debian")
    global RESOURCES_KIND
    RESOURCES_KIND = o.resources
    global NODE_KIND, PCMK_TIMING
    NODE_KIND = o.nodes
    PCMK_TIMING = o.pcmk_timing
    global TIMING_KIND
    TIMING_KIND = o.timing
    if o.write_configs:
        for path in write_configs(os.path.abspath(o.write_configs)):
            print(path)
        return 0
    if o.list:
        for name, f in SCENARIOS.items():
            print("%-22s %s" % (name, " ".join(f.__doc__.split())))
        return 0
    names = o.scenario or [n for n in SCENARIOS if n not in PACEMAKER_ONLY
                           and n not in (DEBIAN_ONLY if NODE_KIND == "appliance" else LEDGER_ONLY)]
    if NODE_KIND == "pacemaker":
        if o.demo:
            raise SystemExit("rack: the demo runs on the agent's nodes (--nodes debian or appliance)")
        names = o.scenario or list(PACEMAKER_SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            raise SystemExit("rack: no scenario %r (--list)" % n)
        if NODE_KIND == "pacemaker" and n not in PACEMAKER_SCENARIOS:
            raise SystemExit("rack: the Pacemaker nodes run %s only" % ", ".join(PACEMAKER_SCENARIOS))
        if NODE_KIND == "debian" and n in LEDGER_ONLY:
            raise SystemExit("rack: scenario %r needs the ledger (the appliance nodes): %s" % (n, LEDGER_ONLY[n]))
        if NODE_KIND != "pacemaker" and n in PACEMAKER_ONLY:
            raise SystemExit("rack: scenario %r needs the Pacemaker nodes (--nodes pacemaker)" % n)
        if NODE_KIND == "appliance" and n in DEBIAN_ONLY:
            raise SystemExit("rack: scenario %r needs the Debian nodes (--nodes debian)" % n)
    node_image = None
    if NODE_KIND != "appliance":
        node_image = o.node_image or subprocess.run(
            ["bash", os.path.join(ROOT, "tests/vm/make-debian-node.sh"), "--print-dir"],
            check=True, capture_output=True, text=True,
            env=dict(os.environ, VARIANT="pacemaker" if NODE_KIND == "pacemaker" else "agent")).stdout.strip()
    names = [n for n in names if n != "cold-start"] * max(1, o.repeat)
    names.insert(0, "cold-start")  # every run boots the rack first
    # A SIGTERM (a killed make) still powers the VMs off and stops snmptrapd (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rack = Rack(os.path.abspath(o.image), os.path.abspath(o.work), node_image and os.path.abspath(node_image))
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t_start = time.monotonic()
    say("virtual rack: image %s, %s nodes%s, work %s; %s" % (rack.image, NODE_KIND,
                                                          " (%s)" % node_image if node_image else "", rack.work,
                                                "the demo" if o.demo else "scenarios: " + ", ".join(names)))
    rack.prepare()
    try:
        if o.demo:
            names = []
            demo(rack)
            rack.check_service()
            rack.records.append({"name": "power-cut", "ok": all(r[1] for r in rack.results),
                                 "checks": len(rack.results), "figures": rack.current["figures"],
                                 "traps": [t.name for t in rack.traps()]})
        for n in names:
            rack.scenario = n
            rack.current = {"name": n, "t0": now_s(), "figures": {}, "traps": []}
            first = len(rack.results)
            say("==== scenario %s: %s" % (n, " ".join(SCENARIOS[n].__doc__.split())))
            try:
                SCENARIOS[n](rack)
                rack.check_floating_ip()
            except (Timeout, OSError) as e:
                rack.check(False, "scenario stopped: %s" % str(e)[:500])
            rack.check_service()
            mine = rack.results[first:]
            rack.records.append({"name": n, "ok": all(r[1] for r in mine), "checks": len(mine),
                                 "failed": [r[2] for r in mine if not r[1]],
                                 "figures": rack.current["figures"],
                                 "traps": [t.name for t in rack.traps()]})
    finally:
        rack.shutdown()
    return summarize(rack, started_wall, time.monotonic() - t_start, os.path.join(rack.work, "report.json"))


if __name__ == "__main__":
    sys.exit(main())
