//! The configurations of the named topologies outside the process harness: the virtual rack
//! (`rack`, three VMs, `tests/vm/rack/rack.py`), the GPIO relay VM test (`gpio`,
//! `tests/vm/gpio-relay-test.sh`), the hardware-watchdog VM test (`watchdog-vm`,
//! `tests/vm/watchdog-test.py`), Pacemaker's fencer through the fence service
//! (`fence-service`, `tests/pacemaker/fence-rackha.sh`) and the VIP benchmark (`bench-vip`,
//! `scripts/bench-vip.sh`, one cluster per profile).
//! One place writes them: the scripts call the `configs` tool (`src/bin/configs.rs`) instead of
//! keeping heredocs, and `tests/generated_configs.rs` checks every file with `check-config`.
//!
//! Owns the values of those topologies (timing, authority, relay channels, resources, links) and
//! a small TOML writer. It does not start anything, and it does not hold the process
//! harness's configurations (`harness::member_config`, which the process tests write per rack).
//! Deadlines that follow from these values (a node's fence bound, the witness's watchdog
//! deadline) are not computed here: the agent reports them in its status.

use std::fmt::Write as _;

pub use crate::harness::Timing;

/// The members of every topology, in id order: (name, id, role).
pub const MEMBERS: [(&str, u8, &str); 3] =
    [("witness", 1, "witness"), ("node-a", 2, "node"), ("node-b", 3, "node")];

/// A TOML document written key by key, sections in the order they are opened.
#[derive(Default)]
pub struct Toml {
    text: String,
}

impl Toml {
    pub fn new() -> Toml {
        Toml::default()
    }

    /// `key = "value"`.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        let _ = writeln!(self.text, "{key} = {}", quoted(value));
        self
    }

    /// `key = 123`.
    pub fn number(&mut self, key: &str, value: u64) -> &mut Self {
        let _ = writeln!(self.text, "{key} = {value}");
        self
    }

    /// `key = true`.
    pub fn flag(&mut self, key: &str, value: bool) -> &mut Self {
        let _ = writeln!(self.text, "{key} = {value}");
        self
    }

    /// `key = ["x", "y"]`.
    pub fn strings(&mut self, key: &str, values: &[&str]) -> &mut Self {
        let shown: Vec<String> = values.iter().map(|v| quoted(v)).collect();
        let _ = writeln!(self.text, "{key} = [{}]", shown.join(", "));
        self
    }

    /// `key = { a = "x", b = "y" }`, in the order given; a key that is not a bare TOML key
    /// (an address: `"10.0.0.1" = "x"`) is quoted.
    pub fn inline(&mut self, key: &str, pairs: &[(&str, &str)]) -> &mut Self {
        let bare =
            |k: &str| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let shown: Vec<String> = (pairs.iter())
            .map(|(k, v)| format!("{} = {}", if bare(k) { k.to_string() } else { quoted(k) }, quoted(v)))
            .collect();
        let _ = writeln!(self.text, "{key} = {{ {} }}", shown.join(", "));
        self
    }

    /// `[name]`.
    pub fn table(&mut self, name: &str) -> &mut Self {
        let _ = writeln!(self.text, "\n[{name}]");
        self
    }

    /// `[[name]]`: one more entry of an array of tables.
    pub fn entry(&mut self, name: &str) -> &mut Self {
        let _ = writeln!(self.text, "\n[[{name}]]");
        self
    }

    /// A comment line.
    pub fn comment(&mut self, text: &str) -> &mut Self {
        for line in text.lines() {
            let _ = writeln!(self.text, "# {line}");
        }
        self
    }

    /// The members' table of every topology.
    pub fn members(&mut self) -> &mut Self {
        for (name, id, role) in MEMBERS {
            self.entry("members").string("name", name).number("id", u64::from(id)).string("role", role);
        }
        self
    }

    /// The top of a member's file on an appliance or a rack node: cluster, member, key, the
    /// image's state directory and control socket, timing, then `[shell]` open with `mlockall`.
    pub fn member_header(
        &mut self,
        cluster: &str,
        member: &str,
        key_file: &str,
        timing: &Timing,
        mlockall: bool,
    ) -> &mut Self {
        self.string("cluster", cluster)
            .string("member", member)
            .string("key_file", key_file)
            .string("state_dir", "/data/ha-agent/state")
            .string("control_socket", "/run/ha-agent/control.sock")
            .timing(timing)
            .table("shell")
            .flag("mlockall", mlockall)
    }

    /// `[timing]`.
    pub fn timing(&mut self, timing: &Timing) -> &mut Self {
        self.table("timing")
            .number("interval_ms", timing.interval_ms)
            .number("warn_ms", timing.warn_ms)
            .number("dead_ms", timing.dead_ms)
            .number("initdead_ms", timing.initdead_ms)
    }

    /// One `[[links]]` entry of kind udp.
    pub fn udp_link(&mut self, id: u8, peer: &str, local: &str, remote: &str) -> &mut Self {
        self.entry("links")
            .number("id", u64::from(id))
            .string("peer", peer)
            .string("kind", "udp")
            .string("local", local)
            .string("remote", remote)
    }

    /// One `[[links]]` entry of kind ethernet (raw frames, no IP).
    pub fn ethernet_link(&mut self, id: u8, peer: &str, interface: &str) -> &mut Self {
        self.entry("links")
            .number("id", u64::from(id))
            .string("peer", peer)
            .string("kind", "ethernet")
            .string("interface", interface)
    }

    /// One `[[links]]` entry of kind serial.
    pub fn serial_link(&mut self, id: u8, peer: &str, device: &str, baud: u64) -> &mut Self {
        self.entry("links")
            .number("id", u64::from(id))
            .string("peer", peer)
            .string("kind", "serial")
            .string("device", device)
            .number("baud", baud)
    }

    /// `[snmp]` with one SNMPv2c target `nms` (community `public`) at `address`; `kind` is
    /// `trap` or `inform`.
    pub fn snmp_v2c_nms(&mut self, address: &str, kind: &str) -> &mut Self {
        self.table("snmp")
            .entry("snmp.targets")
            .string("name", "nms")
            .string("version", "v2c")
            .string("address", address)
            .string("kind", kind)
            .string("community", "public")
    }

    /// `[array]`: an Areca controller's console at `device` (115200 baud).
    pub fn areca_array(&mut self, device: &str, poll_interval_ms: u64, command_timeout_ms: u64) -> &mut Self {
        self.table("array")
            .string("dialect", "areca")
            .string("device", device)
            .number("baud", 115200)
            .number("poll_interval_ms", poll_interval_ms)
            .number("command_timeout_ms", command_timeout_ms)
    }

    /// One `[[resources.group]]` entry: its agent, parameters, (start, stop, monitor)
    /// timeouts and monitor interval.
    pub fn resource(
        &mut self,
        name: &str,
        agent: &str,
        params: &[(&str, &str)],
        [start_ms, stop_ms, monitor_ms]: [u64; 3],
        monitor_interval_ms: u64,
    ) -> &mut Self {
        self.entry("resources.group").string("name", name).string("agent", agent);
        if !params.is_empty() {
            self.inline("params", params);
        }
        self.number("start_timeout_ms", start_ms)
            .number("stop_timeout_ms", stop_ms)
            .number("monitor_timeout_ms", monitor_ms)
            .number("monitor_interval_ms", monitor_interval_ms)
    }

    /// One `[[relay.channels]]` entry switching `node` through a fence agent `command`.
    pub fn command_channel(&mut self, node: &str, command: &str, plug: &str) -> &mut Self {
        self.entry("relay.channels")
            .string("node", node)
            .string("board", "command")
            .string("command", command)
            .string("plug", plug)
    }

    /// The document's text as an addition to another (a process harness's `extra`): it starts
    /// with a blank line.
    pub fn extra(&self) -> String {
        format!("\n{}", self.finish())
    }

    /// `[shell]` as the process harness writes it.
    pub fn shell(&mut self, mlockall: bool, realtime_priority: u8, stall_warn_ms: u64) -> &mut Self {
        self.table("shell")
            .flag("mlockall", mlockall)
            .number("realtime_priority", u64::from(realtime_priority))
            .number("stall_warn_ms", stall_warn_ms)
    }

    /// The document's text.
    pub fn finish(&self) -> String {
        self.text.trim_start_matches('\n').to_string()
    }
}

/// A TOML basic string.
pub fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One generated file: its name in the output directory and its text.
pub struct File {
    pub name: String,
    pub text: String,
}

/// The names of the topologies and the parameters each takes (`KEY=VALUE`, defaults first).
pub const TOPOLOGIES: &[(&str, &str)] = &[
    (
        "rack",
        "nodes=appliance|debian|pacemaker timing=default|fast resources=ocf|builtin \
         key_file=/etc/ha-agent/cluster.key fence_key_file=/etc/ha-agent/fence.key",
    ),
    ("gpio", "key_file=/etc/ha-agent/cluster.key"),
    ("fence-service", "work=DIR"),
    ("watchdog-vm", "timeout_s=N"),
    (
        "bench-vip",
        "work=DIR tag=TAG vip=IP port=N interval_ms=N warn_ms=N dead_ms=N kind=script|builtin|ipaddr2 \
         addr_w=IP addr_a=IP addr_b=IP",
    ),
];

/// The parameters given to a topology.
pub struct Params<'a>(pub &'a [(String, String)]);

impl Params<'_> {
    /// The value of `key`, else `default`; `Err` when it is not one of `allowed` (if given).
    fn get<'v>(&'v self, key: &str, default: &'v str, allowed: &[&str]) -> Result<&'v str, String> {
        let value = self.0.iter().find(|(k, _)| k == key).map_or(default, |(_, v)| v.as_str());
        if !allowed.is_empty() && !allowed.contains(&value) {
            return Err(format!("{key}={value}: one of {}", allowed.join(", ")));
        }
        Ok(value)
    }

    fn check_known(&self, known: &[&str]) -> Result<(), String> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(format!("unknown parameter {k:?}; known: {}", known.join(", "))),
            None => Ok(()),
        }
    }
}

/// The files of topology `name` with `params`.
pub fn generate(name: &str, params: &Params<'_>) -> Result<Vec<File>, String> {
    match name {
        "rack" => {
            params.check_known(&["nodes", "timing", "resources", "key_file", "fence_key_file"])?;
            let nodes = match params.get("nodes", "appliance", &["appliance", "debian", "pacemaker"])? {
                "debian" => RackNodes::Debian,
                "pacemaker" => RackNodes::Pacemaker,
                _ => RackNodes::Appliance,
            };
            let fast = params.get("timing", "default", &["default", "fast"])? == "fast";
            let builtin = params.get("resources", "ocf", &["ocf", "builtin"])? == "builtin";
            if builtin && nodes != RackNodes::Debian {
                return Err(
                    "resources=builtin: only with nodes=debian (the same group, carried out by the agent)"
                        .into(),
                );
            }
            let key_file = params.get("key_file", DEFAULT_KEY_FILE, &[])?;
            let fence_key_file = params.get("fence_key_file", DEFAULT_FENCE_KEY_FILE, &[])?;
            let rack = Rack { nodes, fast, builtin, key_file };
            if nodes == RackNodes::Pacemaker {
                // The witness serves the nodes' Pacemaker through its fence service; the group
                // file is the Debian nodes' `[resources]`, which rack.py writes the CIB from.
                return Ok(vec![
                    File { name: "witness.toml".into(), text: rack.pacemaker_witness(fence_key_file) },
                    File { name: "group.toml".into(), text: rack.group_file() },
                ]);
            }
            Ok(MEMBERS
                .iter()
                .map(|(m, _, _)| File { name: format!("{m}.toml"), text: rack.config(m) })
                .collect())
        }
        "gpio" => {
            params.check_known(&["key_file"])?;
            let key_file = params.get("key_file", DEFAULT_KEY_FILE, &[])?;
            Ok(vec![
                File { name: "witness.toml".into(), text: gpio_witness(key_file, false) },
                File { name: "witness-active-low.toml".into(), text: gpio_witness(key_file, true) },
                File { name: "node-b.toml".into(), text: gpio_node_b(key_file) },
            ])
        }
        "fence-service" => {
            params.check_known(&["work"])?;
            let work = params.get("work", "", &[])?;
            if work.is_empty() {
                return Err("fence-service needs work=DIR".into());
            }
            Ok(vec![File { name: "witness.toml".into(), text: fence_service_witness(work) }])
        }
        "watchdog-vm" => {
            params.check_known(&["timeout_s"])?;
            let timeout_s: u64 = params
                .get("timeout_s", "", &[])?
                .parse()
                .map_err(|_| "watchdog-vm needs timeout_s=N (whole seconds)".to_string())?;
            Ok(vec![File { name: "agent.toml".into(), text: watchdog_vm_witness(timeout_s) }])
        }
        "bench-vip" => {
            let known = [
                "work",
                "tag",
                "vip",
                "port",
                "interval_ms",
                "warn_ms",
                "dead_ms",
                "kind",
                "addr_w",
                "addr_a",
                "addr_b",
            ];
            params.check_known(&known)?;
            let required = |key: &str| match params.0.iter().find(|(k, _)| k == key) {
                Some((_, v)) => Ok(v.as_str()),
                None => Err(format!("bench-vip needs {key}=...")),
            };
            let number = |key: &str| -> Result<u64, String> {
                required(key)?.parse().map_err(|_| format!("{key}: a whole number"))
            };
            let bench = BenchVip {
                work: required("work")?,
                tag: required("tag")?,
                vip: required("vip")?,
                port: number("port")?,
                interval_ms: number("interval_ms")?,
                warn_ms: number("warn_ms")?,
                dead_ms: number("dead_ms")?,
                kind: params.get("kind", "script", &["script", "builtin", "ipaddr2"])?,
                addr: [required("addr_w")?, required("addr_a")?, required("addr_b")?],
            };
            Ok(["w", "a", "b"]
                .iter()
                .enumerate()
                .map(|(i, m)| File { name: format!("{}-{m}.toml", bench.tag), text: bench.config(i) })
                .collect())
        }
        _ => Err(format!(
            "no topology {name:?}; known: {}",
            TOPOLOGIES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )),
    }
}

const DEFAULT_KEY_FILE: &str = "/etc/ha-agent/cluster.key";
const DEFAULT_FENCE_KEY_FILE: &str = "/etc/ha-agent/fence.key";

// ---- the virtual rack (tests/vm/rack/rack.py, docs/rack.md)

/// Which nodes the rack runs: the appliance image with the ledger, or the Debian image with
/// PostgreSQL under Debian's resource agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RackNodes {
    Appliance,
    Debian,
    /// Debian nodes running Pacemaker + Corosync (docs/rack.md, "The Pacemaker nodes"): no
    /// agent on them; the witness fences them through its fence service (`fence_rackha`).
    Pacemaker,
}

/// The rack's configuration values.
pub struct Rack<'a> {
    pub nodes: RackNodes,
    /// `--timing fast`: dead 1 s and a margin of 500 ms (the benchmark's failover trials).
    pub fast: bool,
    /// `--resources builtin` (Debian nodes): the same group with the agent's built-in types
    /// (`builtin:filesystem`, `builtin:pgsql`, `builtin:ipaddr`) instead of Debian's scripts.
    pub builtin: bool,
    pub key_file: &'a str,
}

/// Heartbeat LAN addresses (eth0).
const RACK_ADDR: [(&str, &str); 3] =
    [("witness", "10.10.0.1"), ("node-a", "10.10.0.2"), ("node-b", "10.10.0.3")];
/// Serial cables: (end, end, link id); each member sees its cables on ttyS1, ttyS2 in order.
const RACK_CABLES: [(&str, &str, u8); 3] =
    [("witness", "node-a", 1), ("witness", "node-b", 2), ("node-a", "node-b", 3)];
/// LAN links on the heartbeat LAN (eth0): (end, end, link id). UDP, but on the Debian nodes
/// the nodes' own (`RACK_ETHERNET_LINK`) is raw Ethernet: the L2 path then runs in every
/// scenario of that rack, and the appliance's rack keeps UDP on it.
const RACK_UDP: [(&str, &str, u8); 3] =
    [("witness", "node-a", 11), ("witness", "node-b", 12), ("node-a", "node-b", 13)];
/// The LAN link between the two nodes that is raw Ethernet on the Debian nodes.
const RACK_ETHERNET_LINK: u8 = 13;
/// The station's address on the management network and its trap port (tests/vm/rack/harness.py).
const RACK_STATION: &str = "10.20.0.254:162";
/// The floating IP on the heartbeat LAN, the second resource of the group.
pub const RACK_FLOATING_IP: &str = "10.10.0.100";
/// The nodes' hardware watchdog: long, so that a guest starved by the host is not reset by its
/// own i6300esb.
pub const RACK_WATCHDOG_S: u64 = 30;

impl Rack<'_> {
    /// Timing for three TCG guests on two shared cores shared with other work: heartbeats every
    /// 500 ms, a link dead after 5 s of silence; initdead long (a boot takes 20-80 s here).
    /// Fast: dead 1 s.
    pub fn timing(&self) -> Timing {
        match self.fast {
            false => Timing { interval_ms: 500, warn_ms: 2000, dead_ms: 5000, initdead_ms: 30000 },
            true => Timing { interval_ms: 100, warn_ms: 400, dead_ms: 1000, initdead_ms: 30000 },
        }
    }

    pub fn margin_ms(&self) -> u64 {
        if self.fast {
            500
        } else {
            2000
        }
    }

    pub fn config(&self, member: &str) -> String {
        let mut t = Toml::new();
        t.member_header("rack", member, self.key_file, &self.timing(), true);
        // The witness waits for both nodes at a cold start (W4), so it never fences a node
        // that is still booting.
        t.table("authority")
            .number("self_fence_ms", 6000)
            .number("stop_timeout_ms", 15000)
            .number("margin_ms", self.margin_ms())
            .string("preferred", "node-a")
            .flag("wait_for_all", true)
            .flag("power_on_after_fence", true)
            .number("fence_retry_initial_ms", 1000)
            .number("fence_retry_max_ms", 5000);
        t.snmp_v2c_nms(RACK_STATION, "trap");
        if member == "witness" {
            // The RAID controller's console: a PCI serial port, the 5th (ttyS4).
            t.areca_array("/dev/ttyS4", 4000, 4000);
            t.table("relay").number("health_interval_ms", 10000);
            for (coil, (node, _, _)) in MEMBERS[1..].iter().enumerate() {
                self.modbus_channel(&mut t, "relay.channels", node, "/dev/ttyS3", coil);
            }
        } else {
            self.resources(&mut t, member);
        }
        t.table("watchdog").string("device", "/dev/watchdog").number("timeout_s", RACK_WATCHDOG_S);
        t.members();
        let mine = RACK_CABLES.iter().filter(|(a, b, _)| *a == member || *b == member);
        for (port, (a, b, id)) in mine.enumerate() {
            let peer = if *a == member { b } else { a };
            t.serial_link(*id, peer, &format!("/dev/ttyS{}", port + 1), 115200);
        }
        let addr = |m: &str| RACK_ADDR.iter().find(|(n, _)| *n == m).map(|(_, a)| *a).expect("a member");
        for (peer, _, _) in MEMBERS.iter().filter(|(m, _, _)| *m != member) {
            let (_, _, id) = RACK_UDP
                .iter()
                .find(|(a, b, _)| (*a == member && b == peer) || (a == peer && *b == member))
                .expect("every pair has a udp link");
            if *id == RACK_ETHERNET_LINK && self.nodes == RackNodes::Debian {
                t.ethernet_link(*id, peer, "eth0");
            } else {
                t.udp_link(*id, peer, &format!("{}:694", addr(member)), &format!("{}:694", addr(peer)));
            }
        }
        t.finish()
    }

    /// The nodes' `[resources]`. The (start, stop, monitor) timeouts make the node's fence
    /// bound, which the agent advertises and the witness reports (`fence_bound_ms`).
    fn resources(&self, t: &mut Toml, member: &str) {
        t.table("resources").number("max_restarts", 2).number("restart_window_s", 300);
        // The floating IP's parameters, the same for the ledger's agent and IPaddr2.
        let floating_ip = [("ip", RACK_FLOATING_IP), ("cidr_netmask", "24"), ("nic", "eth0")];
        let group: Vec<Resource<'_>> = match self.nodes {
            RackNodes::Appliance => vec![
                (
                    "ledger",
                    "/data/rack/ledger",
                    vec![("node", member), ("device", "/dev/vdb"), ("ack", "/dev/ttyS3")],
                    [30000, 10000, 10000],
                    2000,
                ),
                ("floating-ip", "/data/rack/floating-ip", floating_ip.to_vec(), [10000, 10000, 10000], 5000),
            ],
            // Debian's unmodified Filesystem (the shared disk), pgsql and IPaddr2. Their
            // timeouts are several times what they take on these emulated CPUs (Filesystem's
            // start 3.3 s, pgsql's with crash recovery 7.5 s, its stop escalates after 20 s),
            // and they make the fence bound: the watchdog deadline that a failover without a
            // working relay waits for (relay-broken-isolation) is about 190 s. With
            // `resources=builtin` the same resources, parameters and timeouts through the
            // agent's built-in types (the pgsql script's `psql` is not one of builtin:pgsql's).
            RackNodes::Debian | RackNodes::Pacemaker => {
                let [fs, pg, ip] = if self.builtin {
                    ["builtin:filesystem", "builtin:pgsql", "builtin:ipaddr"]
                } else {
                    ["ocf:heartbeat:Filesystem", "ocf:heartbeat:pgsql", "ocf:heartbeat:IPaddr2"]
                };
                let mut pgsql_params = vec![
                    ("pgctl", "/usr/lib/postgresql/15/bin/pg_ctl"),
                    ("psql", "/usr/bin/psql"),
                    ("pgdata", "/srv/pgsql/15/main"),
                    ("config", "/etc/postgresql/15/main/postgresql.conf"),
                    ("pgdba", "postgres"),
                    ("socketdir", "/var/run/postgresql"),
                    ("stop_escalate", "20"),
                ];
                if self.builtin {
                    pgsql_params.retain(|(k, _)| *k != "psql");
                }
                vec![
                    (
                        "pgdata",
                        fs,
                        vec![
                            ("device", "/dev/disk/by-label/pgdata"),
                            ("directory", "/srv/pgsql"),
                            ("fstype", "ext4"),
                            ("options", "noatime"),
                        ],
                        [30000, 30000, 20000],
                        10000,
                    ),
                    ("postgresql", pg, pgsql_params, [60000, 30000, 20000], 5000),
                    ("service-ip", ip, floating_ip.to_vec(), [20000, 20000, 20000], 5000),
                ]
            }
        };
        for (name, agent, params, timeouts, interval) in group {
            t.resource(name, agent, &params, timeouts, interval);
        }
    }
}

// ---- the rack's Pacemaker nodes (rack.py --nodes pacemaker)

/// The witness's own cluster in the Pacemaker rack: two nodes that do not exist (never heard,
/// so never fenced: it waits for both at a cold start, W4), on a relay board of their own that
/// powers nothing. The plugs are named like Pacemaker's nodes, which must not be members.
const PACEMAKER_RACK_OWN: [&str; 2] = ["agent-a", "agent-b"];
/// The witness's own relay board: the second PCI serial port (ttyS5), apart from the board on
/// ttyS3 that powers the Pacemaker nodes (a plug never shares a device with `[relay]`).
const PACEMAKER_RACK_OWN_RELAY: &str = "/dev/ttyS5";
/// The fence service's UDP port (fence_rackha's default `ipport`).
pub const PACEMAKER_RACK_FENCE_PORT: u64 = 7790;

impl Rack<'_> {
    /// The witness of the Pacemaker rack: `[fence_service]` with one plug per Pacemaker node on
    /// the harness's board (ttyS3, coil n powers node n), answering the nodes' addresses only;
    /// its own members and `[relay]` as in `PACEMAKER_RACK_OWN`.
    pub fn pacemaker_witness(&self, fence_key_file: &str) -> String {
        let mut t = Toml::new();
        t.comment(
            "rack.py --nodes pacemaker: the witness fences the Pacemaker nodes through its fence service.",
        );
        t.member_header("rack", "witness", self.key_file, &self.timing(), true);
        t.table("authority")
            .number("self_fence_ms", 6000)
            .number("stop_timeout_ms", 15000)
            .number("margin_ms", self.margin_ms())
            .string("preferred", PACEMAKER_RACK_OWN[0])
            .flag("wait_for_all", true)
            .flag("power_on_after_fence", true);
        t.snmp_v2c_nms(RACK_STATION, "trap");
        t.areca_array("/dev/ttyS4", 4000, 4000);
        t.table("relay").number("health_interval_ms", 10000);
        for (coil, node) in PACEMAKER_RACK_OWN.iter().enumerate() {
            self.modbus_channel(&mut t, "relay.channels", node, PACEMAKER_RACK_OWN_RELAY, coil);
        }
        let addr = |m: &str| RACK_ADDR.iter().find(|(n, _)| *n == m).map(|(_, a)| *a).expect("a member");
        let nodes = [MEMBERS[1].0, MEMBERS[2].0];
        t.table("fence_service")
            .string("listen", &format!("{}:{PACEMAKER_RACK_FENCE_PORT}", addr("witness")))
            .string("key_file", fence_key_file)
            .strings("clients", &nodes.map(addr));
        // Each node's own plug: a node being fenced fences nothing (the box breaks a fence race).
        t.inline("client_plugs", &nodes.map(|n| (addr(n), n)));
        for (coil, node) in nodes.iter().enumerate() {
            self.modbus_channel(&mut t, "fence_service.plugs", node, "/dev/ttyS3", coil);
            // A fence's reboot powers the node on again after 1 s off.
            t.number("reboot_delay_ms", 1000);
        }
        t.table("watchdog").string("device", "/dev/watchdog").number("timeout_s", RACK_WATCHDOG_S);
        for (name, id, role) in [
            ("witness", 1, "witness"),
            (PACEMAKER_RACK_OWN[0], 2, "node"),
            (PACEMAKER_RACK_OWN[1], 3, "node"),
        ] {
            t.entry("members").string("name", name).number("id", id).string("role", role);
        }
        // The witness's cables (ttyS1, ttyS2) lead to the Pacemaker nodes, where nothing reads
        // them: its own nodes are never heard.
        for (i, node) in PACEMAKER_RACK_OWN.iter().enumerate() {
            t.serial_link(i as u8 + 1, node, &format!("/dev/ttyS{}", i + 1), 115200);
        }
        t.finish()
    }

    /// One Modbus relay channel (the rack's board: 9600 baud, slave 1) in table `table`.
    fn modbus_channel(&self, t: &mut Toml, table: &str, node: &str, device: &str, coil: usize) {
        t.entry(table)
            .string("node", node)
            .string("board", "modbus")
            .string("device", device)
            .number("baud", 9600)
            .number("address", 1)
            .number("channel", coil as u64)
            .number("timeout_ms", 2000)
            .number("settle_ms", 300)
            .number("poll_interval_ms", 300)
            .number("confirm_timeout_ms", 10000);
    }

    /// The Debian nodes' group (`[resources]` of their configuration), from which rack.py
    /// writes the Pacemaker nodes' CIB: the same agents, parameters, timeouts and intervals.
    pub fn group_file(&self) -> String {
        let mut t = Toml::new();
        t.comment("rack.py --nodes pacemaker: the Debian nodes' group, written into the CIB.");
        self.resources(&mut t, MEMBERS[1].0);
        t.finish()
    }
}

/// One resource of the rack's group: name, agent, parameters, (start, stop, monitor) timeouts,
/// monitor interval.
type Resource<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, [u64; 3], u64);

// ---- Pacemaker's fencer through fence_rackha (tests/pacemaker/fence-rackha.sh)

/// The witness whose `[fence_service]` serves the plug `pm-b` to Pacemaker's fencer: a
/// fence-agent command channel, `WORK/relay` (the script writes it; its plug is a state file),
/// keys `cluster.key` and `fence.key` in WORK beside the file. Its links go nowhere: no node
/// runs, the test is about the fence service.
fn fence_service_witness(work: &str) -> String {
    let mut t = Toml::new();
    t.comment("fence-rackha.sh: the witness serving the plug pm-b to Pacemaker's fencer.");
    t.string("cluster", "fence-test")
        .string("member", "witness")
        .string("key_file", "cluster.key")
        .string("state_dir", "state")
        .string("control_socket", &format!("{work}/control.sock"))
        .members()
        .udp_link(1, "node-a", "127.0.0.1:17901", "127.0.0.1:17902")
        .udp_link(2, "node-b", "127.0.0.1:17903", "127.0.0.1:17904")
        .table("fence_service")
        .string("listen", "127.0.0.1:7790")
        .string("key_file", "fence.key")
        .strings("clients", &["127.0.0.1"])
        .entry("fence_service.plugs")
        .string("node", "pm-b")
        .string("board", "command")
        .string("command", &format!("{work}/relay"))
        .string("plug", "pm-b")
        .number("timeout_ms", 5000);
    t.finish()
}

// ---- the hardware watchdog in QEMU (tests/vm/watchdog-test.py)

/// The witness of the watchdog test's VM (`agent.toml` on its disk.img's data partition): the
/// i6300esb armed with `timeout_s`, and no link that can open (serial ports without a UART,
/// UDP on addresses not on the VM), so that the agent's feeding with every link down is what
/// the test sees.
fn watchdog_vm_witness(timeout_s: u64) -> String {
    let mut t = Toml::new();
    t.comment("watchdog-test.py: a witness none of whose links can open, its watchdog armed.");
    t.string("cluster", "vmtest")
        .string("member", "witness")
        .string("key_file", "/etc/ha-agent/cluster.key")
        .string("state_dir", "/tmp/state")
        .string("control_socket", "/tmp/ha-agent.sock")
        // The GPIO VM's short timing: a TCG guest, and nothing to wait for.
        .timing(&GPIO_TIMING)
        .table("shell")
        .flag("mlockall", false)
        .table("watchdog")
        .string("device", "/dev/watchdog")
        .number("timeout_s", timeout_s)
        .members()
        .serial_link(1, "node-a", "/dev/ttyS1", 115200)
        .serial_link(2, "node-b", "/dev/ttyS2", 115200)
        .udp_link(11, "node-a", "10.10.11.1:694", "10.10.11.2:694")
        .udp_link(12, "node-b", "10.10.12.1:694", "10.10.12.3:694");
    t.finish()
}

// ---- the GPIO relay VM test (tests/vm/gpio-relay-test.sh)

const GPIO_TIMING: Timing = Timing { interval_ms: 200, warn_ms: 500, dead_ms: 1000, initdead_ms: 5000 };

/// The witness: both nodes' power on one gpio-sim chip. node-a never runs: with node-b up, the
/// witness fences it through line 0 (sense: line 1). `active_low`: of node-a's lines.
fn gpio_witness(key_file: &str, active_low: bool) -> String {
    let mut t = Toml::new();
    t.comment(
        "gpio-relay-test: the witness, both nodes' power on one gpio-sim chip. node-a never runs:\n\
         with node-b up, the witness fences it through line 0 (sense: line 1).",
    );
    t.member_header("gpiotest", "witness", key_file, &GPIO_TIMING, false)
        .table("authority")
        .string("preferred", "node-b")
        .flag("power_on_after_fence", true)
        .table("relay")
        .number("health_interval_ms", 60000);
    // Each node's output line and the sense line reading its power back, on one chip.
    for (node, line, sense_line) in [("node-a", 0, 1), ("node-b", 2, 3)] {
        t.entry("relay.channels")
            .string("node", node)
            .string("board", "gpio")
            .string("chip", "/dev/gpiochip0")
            .number("line", line)
            .number("sense_line", sense_line);
        if node == "node-a" {
            t.flag("active_low", active_low)
                .flag("sense_active_low", active_low)
                .number("confirm_timeout_ms", 6000);
        }
    }
    t.members();
    t.udp_link(12, "node-a", "127.0.0.1:40012", "127.0.0.1:40021");
    t.udp_link(13, "node-b", "127.0.0.1:40013", "127.0.0.1:40031");
    t.finish()
}

/// node-b, started by hand in the VM next to the witness.
fn gpio_node_b(key_file: &str) -> String {
    let mut t = Toml::new();
    t.comment("gpio-relay-test: node-b, started by hand in the VM next to the witness.");
    t.string("cluster", "gpiotest")
        .string("member", "node-b")
        .string("key_file", key_file)
        .string("state_dir", "/data/ha-agent/node-b")
        .string("control_socket", "/run/ha-agent/node-b.sock")
        .timing(&GPIO_TIMING)
        .table("shell")
        .flag("mlockall", false);
    t.members();
    t.udp_link(13, "witness", "127.0.0.1:40031", "127.0.0.1:40013");
    t.udp_link(23, "node-a", "127.0.0.1:40032", "127.0.0.1:40023");
    t.finish()
}

// ---- the VIP benchmark (scripts/bench-vip.sh)

/// One cluster of the VIP benchmark: three agents in network namespaces on one bridge, UDP
/// links only, a command "relay" that kills the fenced node's agent, one floating IP.
pub struct BenchVip<'a> {
    /// The benchmark's work directory: key, state, sockets, scripts.
    pub work: &'a str,
    /// The profile (and kind): names the cluster and the files.
    pub tag: &'a str,
    pub vip: &'a str,
    pub port: u64,
    pub interval_ms: u64,
    pub warn_ms: u64,
    pub dead_ms: u64,
    /// The floating IP's agent: the benchmark's script, `builtin:ipaddr` or `ocf:heartbeat:IPaddr2`.
    pub kind: &'a str,
    /// The addresses of witness, node-a, node-b on the bridge.
    pub addr: [&'a str; 3],
}

impl BenchVip<'_> {
    /// The configuration of member `index` (0 witness, 1 node-a, 2 node-b).
    fn config(&self, index: usize) -> String {
        let (member, _, _) = MEMBERS[index];
        let short = ["w", "a", "b"][index];
        let work = self.work;
        let mut t = Toml::new();
        t.string("cluster", &format!("bench-{}", self.tag))
            .string("member", member)
            .string("key_file", &format!("{work}/cluster.key"))
            .string("state_dir", &format!("{work}/state-{}-{short}", self.tag))
            .string("control_socket", &format!("{work}/{}-{short}.sock", self.tag))
            .timing(&Timing {
                interval_ms: self.interval_ms,
                warn_ms: self.warn_ms,
                dead_ms: self.dead_ms,
                initdead_ms: 2000,
            })
            .table("shell")
            .flag("mlockall", true)
            .number("realtime_priority", 50)
            .table("authority")
            .number("self_fence_ms", self.dead_ms)
            .number("stop_timeout_ms", 2000)
            .number("margin_ms", self.interval_ms)
            .string("preferred", "node-a")
            .flag("power_on_after_fence", false);
        t.members();
        if index == 0 {
            t.table("relay").number("health_interval_ms", 60000);
            for n in ["a", "b"] {
                t.command_channel(&format!("node-{n}"), &format!("{work}/fence-{}", self.tag), n);
            }
        } else {
            let ip = [("ip", self.vip), ("cidr_netmask", "24"), ("nic", "eth0")];
            t.table("resources").entry("resources.group").string("name", "vip");
            match self.kind {
                "builtin" => t.string("agent", "builtin:ipaddr").inline("params", &ip),
                "ipaddr2" => t.string("agent", "ocf:heartbeat:IPaddr2").inline("params", &ip),
                _ => t.string("agent", &format!("{work}/vip-resource-{}", self.tag)),
            };
            t.number("monitor_interval_ms", 1000);
        }
        // UDP links over the bridge: 11 witness-A, 12 witness-B, 13 A-B.
        let at = |i: usize| format!("{}:{}", self.addr[i], self.port);
        for (id, a, b) in [(11, 0, 1), (12, 0, 2), (13, 1, 2)] {
            if index == a {
                t.udp_link(id, MEMBERS[b].0, &at(a), &at(b));
            } else if index == b {
                t.udp_link(id, MEMBERS[a].0, &at(b), &at(a));
            }
        }
        t.finish()
    }
}
