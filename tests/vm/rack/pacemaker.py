"""The virtual rack's Pacemaker nodes (`rack.py --nodes pacemaker`, docs/rack.md "The Pacemaker
nodes"): Debian 12 nodes running Corosync 3 and Pacemaker from Debian's packages (the image of
tests/vm/make-debian-node.sh with VARIANT=pacemaker), the same group as the agent's Debian nodes
(Filesystem, pgsql, IPaddr2 with the parameters, timeouts and intervals of the configs tool's
group file), fenced through the witness's fence service with fence_rackha.

Owns: corosync.conf, the CIB (resources, constraints, properties) and the nodes' seed disks,
written from the values the configs tool wrote (group.toml, witness.toml) and the timing
chosen; reading crm_mon's XML and the survivor's journal (what Corosync and Pacemaker did
after a cut, in host time). Does not own: the VMs and the harness (harness.py), the scenarios
and checks (rack.py). Standard library only."""

import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

# Corosync's timing (totem). "default": what Debian's corosync 3.1.7 uses when corosync.conf
# names none: token 3000 ms, consensus 1.2 x token = 3600 ms, join 50 ms, knet pings every
# token / (2 x pong_count 2) = 750 ms and a link down after token / pong_count = 1500 ms.
# "tuned": token 1000 ms (consensus 1200 ms, knet pings every 250 ms, down after 500 ms).
COROSYNC_TIMING = {
    "default": {},
    "tuned": {"token": 1000},
}
# Debian's defaults, written in the report (corosync.conf(5) of 3.1.7).
COROSYNC_DEFAULTS = {"token": 3000, "consensus_factor": 1.2, "join": 50, "knet_pong_count": 2}

GROUP_ID = "rack-group"
# The group stays where it runs (a fenced node that comes back does not take it back): a
# stickiness above the preference for node-a.
STICKINESS = 100
PREFER_SCORE = 50
FENCE_PORT = 7790
# fence_rackha's power_timeout (s): the plug's settle + confirm (10.3 s), the reboot's 1 s off
# and its on, with a margin; Pacemaker's stonith-timeout (60 s by default) covers it.
POWER_TIMEOUT_S = 20
FENCE_MONITOR_S = 60
AUTHKEY_BYTES = 256


def effective_timing(kind):
    """(token, consensus) in ms for timing `kind`."""
    token = COROSYNC_TIMING[kind].get("token", COROSYNC_DEFAULTS["token"])
    return token, int(token * COROSYNC_DEFAULTS["consensus_factor"])


def corosync_conf(kind, nodes):
    """corosync.conf of the rack's Pacemaker nodes: knet over the LAN (eth0), authenticated and
    encrypted, two_node (quorum with one node once both were seen: wait_for_all), the totem
    timing of `kind`. `nodes`: [(name, nodeid, address)]."""
    totem = ["    version: 2", "    cluster_name: rack", "    transport: knet",
             "    crypto_cipher: aes256", "    crypto_hash: sha256"]
    for key, value in sorted(COROSYNC_TIMING[kind].items()):
        totem.append("    %s: %s" % (key, value))
    out = ["# rack.py --nodes pacemaker --pcmk-timing %s" % kind, "totem {"] + totem + ["}", "nodelist {"]
    for name, nodeid, address in nodes:
        out += ["    node {", "        ring0_addr: %s" % address, "        name: %s" % name,
                "        nodeid: %d" % nodeid, "    }"]
    out += ["}", "quorum {", "    provider: corosync_votequorum", "    two_node: 1", "}",
            "logging {", "    to_syslog: yes", "    to_logfile: no", "    to_stderr: no", "    timestamp: on", "}"]
    return "\n".join(out) + "\n"


def _ocf(agent):
    parts = agent.split(":")
    if len(parts) != 3 or parts[0] != "ocf":
        raise ValueError("not an OCF agent: %r" % agent)
    return parts[1], parts[2]


def _seconds(ms):
    return "%gs" % (ms / 1000.0)


def _nvpairs(owner, pairs):
    rows = ['    <instance_attributes id=%s>' % quoteattr(owner + "-ia")]
    for name, value in pairs:
        rows.append('      <nvpair id=%s name=%s value=%s/>' % (quoteattr("%s-ia-%s" % (owner, name)), quoteattr(name),
                                                                 quoteattr(str(value))))
    rows.append("    </instance_attributes>")
    return rows


def cib_resources(group, witness_ip, fence_key, nodes):
    """The CIB's <resources>: the group of `group` (the [[resources.group]] entries of the
    configs tool's group file, in order) and one fence_rackha device per node, each fencing
    its node's plug on the witness."""
    out = ["<resources>", "  <group id=%s>" % quoteattr(GROUP_ID)]
    for r in group:
        provider, kind = _ocf(r["agent"])
        out.append('  <primitive id=%s class="ocf" provider=%s type=%s>' % (quoteattr(r["name"]), quoteattr(provider),
                                                                            quoteattr(kind)))
        out += _nvpairs(r["name"], list(r.get("params", {}).items()))
        out.append("    <operations>")
        for op, interval, timeout in (("start", 0, r["start_timeout_ms"]), ("stop", 0, r["stop_timeout_ms"]),
                                      ("monitor", r["monitor_interval_ms"], r["monitor_timeout_ms"])):
            out.append('      <op id=%s name="%s" interval="%s" timeout="%s"/>'
                       % (quoteattr("%s-%s" % (r["name"], op)), op, _seconds(interval), _seconds(timeout)))
        out += ["    </operations>", "  </primitive>"]
    out.append("  </group>")
    for node in nodes:
        rid = "fence-" + node
        out.append('  <primitive id=%s class="stonith" type="fence_rackha">' % quoteattr(rid))
        out += _nvpairs(rid, [("ip", witness_ip), ("ipport", FENCE_PORT), ("key_file", fence_key),
                              ("pcmk_host_list", node), ("power_timeout", POWER_TIMEOUT_S)])
        out += ["    <operations>",
                '      <op id=%s name="monitor" interval="%ds"/>' % (quoteattr(rid + "-monitor"), FENCE_MONITOR_S),
                "    </operations>", "  </primitive>"]
    out.append("</resources>")
    return "\n".join(out) + "\n"


def cib_constraints(nodes, preferred):
    """A node's fence device never runs on the node itself; the group prefers `preferred` at a
    cold start (less than the stickiness: it does not move back)."""
    out = ["<constraints>"]
    for node in nodes:
        out.append('  <rsc_location id=%s rsc=%s node=%s score="-INFINITY"/>'
                   % (quoteattr("fence-%s-not-on-itself" % node), quoteattr("fence-" + node), quoteattr(node)))
    out.append('  <rsc_location id="group-prefers-%s" rsc=%s node=%s score="%d"/>'
               % (preferred, quoteattr(GROUP_ID), quoteattr(preferred), PREFER_SCORE))
    out.append("</constraints>")
    return "\n".join(out) + "\n"


def load_cib_command():
    """The shell command, typed at one node's console once both are online, that loads the
    CIB from the seed disk (/data/rack): fencing on with reboot (Pacemaker's default action),
    the stickiness, the resources, then the constraints."""
    return ("crm_attribute --type crm_config --name stonith-enabled --update true"
            " && crm_attribute --type crm_config --name stonith-action --update reboot"
            " && crm_attribute --type rsc_defaults --name resource-stickiness --update %d"
            " && cibadmin --replace --scope resources --xml-file /data/rack/resources.xml"
            " && cibadmin --replace --scope constraints --xml-file /data/rack/constraints.xml"
            " && echo CIB-LOADED" % STICKINESS)


def seed_disk(path, files, size_mib=64):
    """An ext4 seed disk labelled hadata (the image mounts it on /data) holding `files`:
    {relative path: (text or bytes, mode)}."""
    tree = tempfile.mkdtemp(prefix="rack-pcmk-seed-")
    try:
        for rel, (content, mode) in files.items():
            full = os.path.join(tree, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            os.chmod(full, mode)
        if os.path.exists(path):
            os.unlink(path)
        with open(path, "wb") as f:
            f.truncate(size_mib * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "hadata", "-d", tree, path], check=True)
    finally:
        shutil.rmtree(tree)


def authkey():
    return os.urandom(AUTHKEY_BYTES)


class CrmState:
    """What crm_mon's XML (`crm_mon -1 --output-as=xml`) says: nodes online, where each
    resource runs, failed actions."""

    def __init__(self, text):
        root = ET.fromstring(text)
        self.online, self.unclean = {}, {}
        for n in root.iter("node"):
            if n.get("online") is not None:
                self.online[n.get("name")] = n.get("online") == "true"
                self.unclean[n.get("name")] = n.get("unclean") == "true"
        self.running = {}  # resource id: [nodes where it is active]
        self.failed = []
        for r in root.iter("resource"):
            if r.get("id") is None:
                continue
            where = [x.get("name") for x in r.findall("node")]
            if r.get("active") == "true" and r.get("role") == "Started":
                self.running[r.get("id")] = where
            else:
                self.running.setdefault(r.get("id"), [])
            if r.get("failed") == "true":
                self.failed.append(r.get("id"))
        self.dc = None
        summary = root.find("summary")
        if summary is not None and summary.find("current_dc") is not None:
            self.dc = summary.find("current_dc").get("name")

    def holder(self, group_members):
        """The node where every member of the group runs (and only there), else None."""
        places = [self.running.get(m, []) for m in group_members]
        if not places or any(len(p) != 1 for p in places):
            return None
        nodes = {p[0] for p in places}
        return nodes.pop() if len(nodes) == 1 else None

    def anywhere(self, group_members):
        """Every node on which a member of the group runs."""
        return sorted({n for m in group_members for n in self.running.get(m, [])})


def crm_state(vm):
    """crm_mon's view at `vm`'s console, or None (not up, not answering, no cluster yet)."""
    text = vm.document("crm_mon -1 --output-as=xml")
    if text is None:
        return None
    try:
        return CrmState(text)
    except ET.ParseError:
        return None


# What the survivor's journal says after a cut, in order: (label, pattern). The first line of
# each after the cut is taken.
JOURNAL_EVENTS = (
    ("token not received", r"\[TOTEM \] Token has not been received in"),
    ("token lost (processor failed)", r"\[TOTEM \] A processor failed, forming new configuration"),
    ("new membership", r"\[QUORUM\] Members\[1\]"),
    ("node lost (controller)", r"pacemaker-controld.*(Node .* state is now lost|peer .* lost)"),
    ("fence requested", r"pacemaker-fenced.*(wants to fence|Requesting peer fencing|requesting that .* perform)"),
    ("fence succeeded", r"pacemaker-fenced.*Operation '?(reboot|off)'? .*(OK|returned: 0|successful)"),
    ("fence confirmed (controller)", r"pacemaker-controld.*(was terminated|fencing .* succeeded|Peer .* was terminated)"),
    ("pgdata started", r"Result of start operation for pgdata on .*: (ok|OK|0)"),
    ("postgresql started", r"Result of start operation for postgresql on .*: (ok|OK|0)"),
    ("service-ip started", r"Result of start operation for service-ip on .*: (ok|OK|0)"),
)
JOURNAL_LINES = 600


def journal_events(vm, since_host, now):
    """The survivor's journal since the cut: [(label, host time, line)] in JOURNAL_EVENTS's
    order (the first line of each after `since_host`). The guest's monotonic clock is mapped to
    the host's (`now`, a function) by reading its uptime at the console: the host's time is the
    middle of that short command's round trip (within half of it, which is returned too)."""
    t1 = now()
    rc, out = vm.run("cat /proc/uptime")
    t2 = now()
    try:
        uptime = float(out.split()[0])
    except (IndexError, ValueError):
        return None, []
    offset = (t1 + t2) / 2 - uptime
    text = vm.document("journalctl -b -o short-monotonic --no-pager -n %d -u corosync -u pacemaker" % JOURNAL_LINES)
    if text is None:
        return (t2 - t1) / 2, []
    lines = text.decode("utf-8", "replace").splitlines()
    found = []
    stamped = []
    for line in lines:
        m = re.match(r"\[\s*([\d.]+)\]", line)
        if m:
            stamped.append((float(m.group(1)) + offset, line))
    for label, pattern in JOURNAL_EVENTS:
        for t, line in stamped:
            if t >= since_host - 1.0 and re.search(pattern, line):
                found.append((label, t, line))
                break
    return (t2 - t1) / 2, found
