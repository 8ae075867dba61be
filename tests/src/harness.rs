//! The process-level rack: three real `ha-agent` processes (witness, node-a, node-b) joined by
//! six fault-injecting cables, and the means to watch them.
//!
//! [`Rack::builder`] makes a temporary directory (under `std::env::temp_dir()`, unique per
//! rack), writes a cluster key and one configuration per member, opens the cables of [`LINKS`]
//! (serial 1, 2, 3 and UDP 11, 12, 13), and starts `ha-agent run` for each member with its
//! stderr in `<member>.log`. [`Rack::status`] runs `ha-agent status --json`; the helpers
//! [`link_state`], [`member_state`] and [`link_counter`] read its answer. Dropping the rack
//! stops the agents (SIGTERM, then SIGKILL), stops the cables and removes the directory; when
//! the drop happens during a panic it prints the tail of every agent's log and keeps the
//! directory for inspection.
//!
//! It does not own the fault logic (that is `cable`) nor any assertion about the agents'
//! behaviour (that is the tests): it only builds, runs, observes and cleans up.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cable::{CableControl, SerialCable, UdpCable};

/// The three members, in the order tables list them.
pub const MEMBERS: [&str; 3] = ["witness", "node-a", "node-b"];
/// The cluster name every rack uses.
pub const CLUSTER: &str = "payments";
/// How often [`wait_until`] evaluates its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Bound on how long one `ha-agent status` call may take before it is killed.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on the agents' exit after SIGTERM (SIGKILL after it): the holder stops its service first and then waits
/// up to `dead_ms + interval_ms + margin_ms` for the witness to hand the service over.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on the log lines printed per agent when a test fails.
const MAX_TAIL_LINES: usize = 40;
/// Bound on the length of a Unix socket path (sun_path is 108 bytes, NUL included).
const MAX_SOCKET_PATH_BYTES: usize = 107;
/// Bytes of random key material in the cluster key file.
const KEY_BYTES: usize = 32;

/// The heartbeat timing written into every member's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub interval_ms: u64,
    pub warn_ms: u64,
    pub dead_ms: u64,
    pub initdead_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { interval_ms: 100, warn_ms: 300, dead_ms: 600, initdead_ms: 2000 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Serial,
    Udp,
}

/// One cable of the rack: `a` is the cable's end A, `b` its end B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkPlan {
    pub id: u8,
    pub kind: LinkKind,
    pub a: &'static str,
    pub b: &'static str,
}

impl LinkPlan {
    pub fn touches(&self, member: &str) -> bool {
        self.a == member || self.b == member
    }

    /// The other end of this link as seen from `member`.
    pub fn peer_of(&self, member: &str) -> Option<&'static str> {
        if self.a == member {
            Some(self.b)
        } else if self.b == member {
            Some(self.a)
        } else {
            None
        }
    }
}

/// Every cable of the rack. Ids are the same at both ends of a link.
pub const LINKS: [LinkPlan; 6] = [
    LinkPlan { id: 1, kind: LinkKind::Serial, a: "witness", b: "node-a" },
    LinkPlan { id: 2, kind: LinkKind::Serial, a: "witness", b: "node-b" },
    LinkPlan { id: 3, kind: LinkKind::Serial, a: "node-a", b: "node-b" },
    LinkPlan { id: 11, kind: LinkKind::Udp, a: "witness", b: "node-a" },
    LinkPlan { id: 12, kind: LinkKind::Udp, a: "witness", b: "node-b" },
    LinkPlan { id: 13, kind: LinkKind::Udp, a: "node-a", b: "node-b" },
];

/// The plan of link `id`; panics on an id that is not in [`LINKS`] (a bug in the test).
pub fn link_plan(id: u8) -> &'static LinkPlan {
    LINKS.iter().find(|plan| plan.id == id).unwrap_or_else(|| panic!("no link {id} in the rack"))
}

/// The ids of the links that end at `member`.
pub fn links_of(member: &str) -> Vec<u8> {
    LINKS.iter().filter(|plan| plan.touches(member)).map(|plan| plan.id).collect()
}

/// The other two members.
pub fn others_of(member: &str) -> Vec<&'static str> {
    MEMBERS.iter().copied().filter(|other| *other != member).collect()
}

/// Where the `ha-agent` binary is: `$HA_AGENT_BIN`, else the workspace's `target/debug`, else
/// `target/release` (also under `$CARGO_TARGET_DIR` when set).
pub fn agent_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("HA_AGENT_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("HA_AGENT_BIN={} is not a file", path.display()))
        };
    }
    let mut target_dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        target_dirs.push(PathBuf::from(dir));
    }
    target_dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    let mut looked = Vec::new();
    for profile in ["debug", "release"] {
        for target in &target_dirs {
            let candidate = target.join(profile).join("ha-agent");
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(candidate.display().to_string());
        }
    }
    Err(format!(
        "the ha-agent binary was not found (looked at {}): run `cargo build -p ha-agent` first, or set HA_AGENT_BIN",
        looked.join(", ")
    ))
}

/// Evaluate `condition` every [`POLL_INTERVAL`] until it holds or `timeout` passes. Returns how
/// long it took, or `None` on timeout.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The entry for link `id` in a status answer.
pub fn link_entry(status: &Value, id: u8) -> Option<&Value> {
    status["links"].as_array()?.iter().find(|link| link["id"].as_u64() == Some(u64::from(id)))
}

/// The state ("init", "up", "warn", "down") of link `id` in a status answer.
pub fn link_state(status: &Value, id: u8) -> Option<&str> {
    link_entry(status, id)?["state"].as_str()
}

/// A numeric field (`frames_in`, `crc_errors`, `transitions`, ...) of link `id`.
pub fn link_counter(status: &Value, id: u8, field: &str) -> Option<u64> {
    link_entry(status, id)?[field].as_u64()
}

/// The state ("unknown", "reachable", "unreachable") of member `name` in a status answer.
pub fn member_state<'a>(status: &'a Value, name: &str) -> Option<&'a str> {
    status["members"].as_array()?.iter().find(|member| member["name"].as_str() == Some(name))?["state"]
        .as_str()
}

/// Whether `status` (the answer of `member`) shows every link of `member` up and both other
/// members reachable.
pub fn sees_everything_up(member: &str, status: &Value) -> bool {
    links_of(member).iter().all(|id| link_state(status, *id) == Some("up"))
        && others_of(member).iter().all(|other| member_state(status, other) == Some("reachable"))
}

/// One line per member: its links' states and its view of the other members.
pub fn render_table(statuses: &[(&str, Result<Value, String>)]) -> String {
    let mut out = String::new();
    for (member, status) in statuses {
        let _ = write!(out, "  {member:<8}");
        match status {
            Err(error) => {
                let first_line = error.lines().next().unwrap_or("");
                let _ = write!(out, " (no status: {first_line})");
            }
            Ok(status) => {
                let mut links: Vec<(u64, String)> = status["links"]
                    .as_array()
                    .map(|links| {
                        links
                            .iter()
                            .map(|link| {
                                let id = link["id"].as_u64().unwrap_or(0);
                                (id, format!("{id}:{}", link["state"].as_str().unwrap_or("?")))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                links.sort();
                let links: Vec<String> = links.into_iter().map(|(_, text)| text).collect();
                let members: Vec<String> = status["members"]
                    .as_array()
                    .map(|members| {
                        members
                            .iter()
                            .map(|member| {
                                format!(
                                    "{}:{}",
                                    member["name"].as_str().unwrap_or("?"),
                                    member["state"].as_str().unwrap_or("?")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = write!(out, " links {:<34} members {}", links.join(" "), members.join(" "));
            }
        }
        out.push('\n');
    }
    out
}

/// Options for a rack; [`RackBuilder::start`] makes it.
pub struct RackBuilder {
    name: String,
    timing: Timing,
    log_level: String,
    /// Extra TOML appended to a member's configuration (`@DIR@` becomes the rack directory).
    extra: Vec<(&'static str, String)>,
    shell: ShellOptions,
    outputs: Vec<(&'static str, OwnedFd)>,
    prefixes: Vec<(&'static str, Vec<OsString>)>,
    envs: Vec<(&'static str, String, String)>,
    udp_maps: Vec<(&'static str, UdpEndMap)>,
}

/// Rewrites one UDP end of a member whose agent cannot reach the cables on this namespace's
/// loopback (it runs in another network namespace): called with the link id, the address the
/// cable sends that member's datagrams to and the cable's port for that member; returns the
/// `local` and `remote` to write into the member's configuration (say, through a forwarder).
pub type UdpEndMap =
    Box<dyn FnMut(u8, SocketAddr, SocketAddr) -> io::Result<(SocketAddr, SocketAddr)> + Send + Sync>;

impl RackBuilder {
    /// The agents' memory locking and real-time priority (default: neither).
    pub fn shell(mut self, shell: ShellOptions) -> Self {
        self.shell = shell;
        self
    }

    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// The agents' `HA_AGENT_LOG` (default: the environment's `HA_AGENT_LOG`, else "info").
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_string();
        self
    }

    /// Append `text` to `member`'s configuration; `@DIR@` is replaced by the rack directory.
    pub fn extra(mut self, member: &'static str, text: &str) -> Self {
        self.extra.push((member, text.to_string()));
        self
    }

    /// Give `member`'s agent `output` (say, a pipe the test holds) as its stdout and stderr,
    /// instead of `<member>.log`.
    pub fn output(mut self, member: &'static str, output: OwnedFd) -> Self {
        self.outputs.push((member, output));
        self
    }

    /// Set an environment variable for `member`'s agent (say, systemd's `NOTIFY_SOCKET`).
    pub fn env(mut self, member: &'static str, key: &str, value: &str) -> Self {
        self.envs.push((member, key.to_string(), value.to_string()));
        self
    }

    /// Start `member`'s agent as `PREFIX... ha-agent run ...` (say, `ip netns exec NS`); the
    /// prefix must end by exec'ing the agent, so that its pid is the agent's.
    pub fn command_prefix(mut self, member: &'static str, prefix: Vec<OsString>) -> Self {
        self.prefixes.push((member, prefix));
        self
    }

    /// Let `map` choose `member`'s UDP addresses (see [`UdpEndMap`]).
    pub fn udp_end_map(mut self, member: &'static str, map: UdpEndMap) -> Self {
        self.udp_maps.push((member, map));
        self
    }

    /// Write the files, open the cables and start the three agents.
    pub fn start(self) -> Result<Rack, String> {
        self.start_with(|_| {})
    }

    /// Like [`RackBuilder::start`], calling `prepare` with the rack directory before the
    /// agents start (to write scripts their configurations name).
    pub fn start_with(self, prepare: impl FnOnce(&Path)) -> Result<Rack, String> {
        self.start_inner(prepare)
    }

    fn start_inner(self, before: impl FnOnce(&Path)) -> Result<Rack, String> {
        let bin = agent_binary()?;
        let dir = unique_dir(&self.name).map_err(|error| format!("creating the rack directory: {error}"))?;
        let mut rack = Rack {
            dir,
            timing: self.timing,
            bin,
            agents: Vec::new(),
            serial: Vec::new(),
            udp: Vec::new(),
            keep_dir: false,
            extra: self.extra,
            log_level: self.log_level.clone(),
            shell: self.shell,
            outputs: self.outputs,
            prefixes: self.prefixes,
            envs: self.envs,
            udp_maps: self.udp_maps,
        };
        before(&rack.dir);
        rack.prepare(&self.log_level)
            .map_err(|error| format!("preparing rack in {}: {error}", rack.dir.display()))?;
        Ok(rack)
    }
}

/// A unique, fresh directory for one rack.
fn unique_dir(name: &str) -> io::Result<PathBuf> {
    static NEXT_RACK: AtomicU32 = AtomicU32::new(0);
    let safe_name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).take(40).collect();
    let number = NEXT_RACK.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ha-rack-{safe_name}-{}-{number}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A free loopback UDP address for an agent: bind port 0 and read the port. The caller holds
/// the socket until every cable has bound its own sockets (so that no cable takes the port),
/// then releases it for the agent.
fn reserve_udp_addr() -> io::Result<(UdpSocket, SocketAddr)> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

fn random_key_hex() -> io::Result<String> {
    let mut key = [0u8; KEY_BYTES];
    fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A TOML basic string (the one writer of the tests' configurations, `topology`).
#[cfg(test)]
use crate::topology::quoted as toml_string;

/// Where each end of one link connects, once its cable exists.
#[derive(Clone, Debug)]
pub struct LinkEnds {
    pub id: u8,
    /// End A of the cable ([`LinkPlan::a`]).
    pub a: EndConfig,
    /// End B of the cable ([`LinkPlan::b`]).
    pub b: EndConfig,
}

/// What one member's configuration says about its end of a link.
#[derive(Clone, Debug)]
pub enum EndConfig {
    Serial { device: PathBuf },
    Udp { local: SocketAddr, remote: SocketAddr },
}

/// The agents' `[shell]` settings the harness writes. By default no memory locking and
/// normal scheduling (tests run as any user, several racks at once); the benchmark asks for
/// both, as a production configuration would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShellOptions {
    pub mlockall: bool,
    /// 0 = normal scheduling; 1..=99 = SCHED_FIFO at that priority.
    pub realtime_priority: u8,
}

/// The configuration text of `member` (key file `cluster.key` and state directory
/// `state-<member>` next to it, control socket at `socket`) for the links in `ends`.
pub fn member_config(member: &str, timing: Timing, socket: &Path, ends: &[LinkEnds]) -> String {
    member_config_with(member, timing, ShellOptions::default(), socket, ends)
}

/// [`member_config`] with explicit `[shell]` settings.
pub fn member_config_with(
    member: &str,
    timing: Timing,
    shell: ShellOptions,
    socket: &Path,
    ends: &[LinkEnds],
) -> String {
    let mut t = crate::topology::Toml::new();
    t.comment("Written by the ha-tests rack harness.")
        .string("cluster", CLUSTER)
        .string("member", member)
        .string("key_file", "cluster.key")
        .string("state_dir", &format!("state-{member}"))
        .string("control_socket", &socket.to_string_lossy())
        .timing(&timing)
        .shell(shell.mlockall, shell.realtime_priority, 100)
        .members();
    for link in ends {
        let plan = link_plan(link.id);
        let (end, peer) = if plan.a == member {
            (&link.a, plan.b)
        } else if plan.b == member {
            (&link.b, plan.a)
        } else {
            continue;
        };
        match end {
            EndConfig::Serial { device } => {
                t.serial_link(link.id, peer, &device.to_string_lossy(), 115_200);
            }
            EndConfig::Udp { local, remote } => {
                t.udp_link(link.id, peer, &local.to_string(), &remote.to_string()).flag("broadcast", false);
            }
        }
    }
    t.finish()
}

/// Write a fresh random cluster key (hex text, mode 0600) at `path`.
pub fn write_key_file(path: &Path) -> io::Result<()> {
    let mut key_file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    writeln!(key_file, "{}", random_key_hex()?)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

struct Agent {
    member: &'static str,
    config: PathBuf,
    log: PathBuf,
    /// `None` once stopped. Behind a lock so that a `&Rack` can notice an agent that died.
    child: Mutex<Option<Child>>,
}

impl Agent {
    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Three running agents and their cables. See the module documentation.
pub struct Rack {
    dir: PathBuf,
    timing: Timing,
    bin: PathBuf,
    /// Declared before the cables so that the agents stop before their cables disappear.
    agents: Vec<Agent>,
    serial: Vec<(u8, SerialCable)>,
    udp: Vec<(u8, UdpCable)>,
    keep_dir: bool,
    extra: Vec<(&'static str, String)>,
    log_level: String,
    shell: ShellOptions,
    /// Members whose output goes to a descriptor the test gave instead of their log file.
    outputs: Vec<(&'static str, OwnedFd)>,
    /// Members whose agent is started through a command prefix.
    prefixes: Vec<(&'static str, Vec<OsString>)>,
    /// Extra environment variables per member.
    envs: Vec<(&'static str, String, String)>,
    /// Members whose UDP ends are rewritten (used once, while the configurations are written).
    udp_maps: Vec<(&'static str, UdpEndMap)>,
}

impl Rack {
    /// A rack named after the test (the name goes into the directory name).
    pub fn builder(name: &str) -> RackBuilder {
        RackBuilder {
            name: name.to_string(),
            timing: Timing::default(),
            log_level: std::env::var("HA_AGENT_LOG").unwrap_or_else(|_| "info".to_string()),
            extra: Vec::new(),
            shell: ShellOptions::default(),
            outputs: Vec::new(),
            prefixes: Vec::new(),
            envs: Vec::new(),
            udp_maps: Vec::new(),
        }
    }

    fn prepare(&mut self, log_level: &str) -> io::Result<()> {
        write_key_file(&self.dir.join("cluster.key"))?;

        let mut ends = Vec::new();
        let mut reserved = Vec::new();
        for plan in LINKS {
            match plan.kind {
                LinkKind::Serial => {
                    let cable = SerialCable::with_seed(u64::from(plan.id) + 1)?;
                    ends.push(LinkEnds {
                        id: plan.id,
                        a: EndConfig::Serial { device: cable.end_a.clone() },
                        b: EndConfig::Serial { device: cable.end_b.clone() },
                    });
                    self.serial.push((plan.id, cable));
                }
                LinkKind::Udp => {
                    let (socket_a, local_a) = reserve_udp_addr()?;
                    let (socket_b, local_b) = reserve_udp_addr()?;
                    reserved.extend([socket_a, socket_b]);
                    let cable = UdpCable::with_seed(local_a, local_b, u64::from(plan.id) + 1)?;
                    ends.push(LinkEnds {
                        id: plan.id,
                        a: EndConfig::Udp { local: local_a, remote: cable.port_for_a },
                        b: EndConfig::Udp { local: local_b, remote: cable.port_for_b },
                    });
                    self.udp.push((plan.id, cable));
                }
            }
        }

        drop(reserved);

        for member in MEMBERS {
            let config = self.dir.join(format!("{member}.toml"));
            let socket = self.dir.join(format!("{member}.sock"));
            if socket.as_os_str().len() > MAX_SOCKET_PATH_BYTES {
                return Err(io::Error::other(format!(
                    "control socket path {} is too long for a Unix socket; set TMPDIR to a shorter directory",
                    socket.display()
                )));
            }
            let state_dir = self.dir.join(format!("state-{member}"));
            fs::create_dir_all(&state_dir)?;
            fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o700))?;
            let mut member_ends = ends.clone();
            if let Some((_, map)) = self.udp_maps.iter_mut().find(|(m, _)| *m == member) {
                for link in member_ends.iter_mut().filter(|link| link_plan(link.id).touches(member)) {
                    let end = if link_plan(link.id).a == member { &mut link.a } else { &mut link.b };
                    if let EndConfig::Udp { local, remote } = end {
                        (*local, *remote) = map(link.id, *local, *remote)?;
                    }
                }
            }
            let mut text = member_config_with(member, self.timing, self.shell, &socket, &member_ends);
            for (m, extra) in &self.extra {
                if *m == member {
                    text.push('\n');
                    text.push_str(&extra.replace("@DIR@", &self.dir.display().to_string()));
                    text.push('\n');
                }
            }
            fs::write(&config, text)?;
            let log = self.dir.join(format!("{member}.log"));
            let child = self.spawn_agent(member, &config, &log, log_level)?;
            self.agents.push(Agent { member, config, log, child: Mutex::new(Some(child)) });
        }
        Ok(())
    }

    fn spawn_agent(&self, member: &str, config: &Path, log: &Path, log_level: &str) -> io::Result<Child> {
        let output: OwnedFd = match self.outputs.iter().find(|(m, _)| *m == member) {
            Some((_, fd)) => fd.try_clone()?,
            None => fs::OpenOptions::new().create(true).append(true).open(log)?.into(),
        };
        let mut command = match self.prefixes.iter().find(|(m, _)| *m == member) {
            Some((_, prefix)) if !prefix.is_empty() => {
                let mut command = Command::new(&prefix[0]);
                command.args(&prefix[1..]).arg(&self.bin);
                command
            }
            _ => Command::new(&self.bin),
        };
        let child = command
            .arg("run")
            .arg("--config")
            .arg(config)
            .current_dir(&self.dir)
            .env("HA_AGENT_LOG", log_level)
            .envs(self.envs.iter().filter(|(m, ..)| *m == member).map(|(_, k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()?;
        // The relay stand-in of the tests finds the agent of a member here.
        fs::write(self.dir.join(format!("pid-{member}")), format!("{}\n", child.id()))?;
        Ok(child)
    }

    /// SIGKILL a member's agent (a crash, or power cut by a test relay); the rack no longer
    /// counts it as running until [`Rack::restart`].
    pub fn kill(&self, member: &str) {
        if let Some(agent) = self.agents.iter().find(|a| a.member == member) {
            if let Some(mut child) = agent.child().take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// SIGTERM to a member's agent (what `systemctl stop`, an upgrade or a reboot sends), then
    /// wait at most `timeout` for it to exit: its exit status and how long it took. The rack no
    /// longer counts it as running until [`Rack::restart`].
    pub fn terminate(&self, member: &str, timeout: Duration) -> Result<(ExitStatus, Duration), String> {
        let child = signal_stop(self.agent(member)).map_err(|e| format!("{member}: {e}"))?;
        let sent = Instant::now();
        let status = wait_stopped(child, timeout).map_err(|e| format!("{member}: {e}"))?;
        Ok((status, sent.elapsed()))
    }

    /// Whether the rack still runs this member's agent.
    pub fn is_running(&self, member: &str) -> bool {
        self.agents
            .iter()
            .find(|a| a.member == member)
            .is_some_and(|a| a.child().as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))))
    }

    /// Start a member's agent again (after [`Rack::kill`], or after its process exited).
    pub fn restart(&self, member: &str) -> Result<(), String> {
        let agent = self.agents.iter().find(|a| a.member == member).ok_or("no such member")?;
        let mut slot = agent.child();
        if let Some(mut old) = slot.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        let child = self
            .spawn_agent(member, &agent.config, &agent.log, &self.log_level)
            .map_err(|e| e.to_string())?;
        *slot = Some(child);
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The path of `member`'s configuration file.
    pub fn config_path(&self, member: &str) -> PathBuf {
        self.agent(member).config.clone()
    }

    fn agent(&self, member: &str) -> &Agent {
        self.agents
            .iter()
            .find(|agent| agent.member == member)
            .unwrap_or_else(|| panic!("no member {member}"))
    }

    /// The control handle of link `id`'s cable (end A and B as in [`LINKS`]).
    pub fn cable(&self, id: u8) -> CableControl {
        if let Some((_, cable)) = self.serial.iter().find(|(link, _)| *link == id) {
            return cable.control();
        }
        if let Some((_, cable)) = self.udp.iter().find(|(link, _)| *link == id) {
            return cable.control();
        }
        panic!("no link {id} in the rack")
    }

    /// Cut both directions of every link that ends at `member`; returns their ids.
    pub fn isolate(&self, member: &str) -> Vec<u8> {
        let ids = links_of(member);
        for id in &ids {
            self.cable(*id).cut();
        }
        ids
    }

    /// Remove every fault from every cable.
    pub fn heal_all(&self) {
        for plan in LINKS {
            self.cable(plan.id).heal();
        }
    }

    /// `ha-agent status --json --config <member's config>`, parsed into the status document.
    pub fn try_typed_status(&self, member: &str) -> Result<ha_agent::status::Status, String> {
        let agent = self.agent(member);
        let mut child = Command::new(&self.bin)
            .arg("status")
            .arg("--json")
            .arg("--config")
            .arg(&agent.config)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("spawning ha-agent status: {error}"))?;
        let started = Instant::now();
        let exit = loop {
            match child.try_wait() {
                Ok(Some(exit)) => break exit,
                Ok(None) if started.elapsed() < STATUS_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("ha-agent status took more than {STATUS_TIMEOUT:?}"));
                }
                Err(error) => return Err(format!("waiting for ha-agent status: {error}")),
            }
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            let _ = pipe.read_to_string(&mut stdout);
        }
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        if !exit.success() {
            return Err(format!("ha-agent status exited with {exit}: {}", stderr.trim()));
        }
        serde_json::from_str(&stdout)
            .map_err(|error| format!("status is not the status document ({error}): {stdout}"))
    }

    /// `ha-agent status --json` of `member`, read into the agent's own type
    /// ([`ha_agent::status::Status`]) and given back as JSON for the tests' indexing: a key the
    /// type does not have is not there, one of another shape is an error.
    pub fn try_status(&self, member: &str) -> Result<Value, String> {
        let status = self.try_typed_status(member)?;
        serde_json::to_value(&status).map_err(|error| format!("status of {member}: {error}"))
    }

    /// Like [`Rack::try_status`], panicking (with the agents' logs) when there is no answer.
    pub fn status(&self, member: &str) -> Value {
        self.try_status(member).unwrap_or_else(|error| panic!("status of {member}: {error}"))
    }

    /// Every member's status, in [`MEMBERS`] order.
    pub fn statuses(&self) -> Vec<(&'static str, Result<Value, String>)> {
        MEMBERS.iter().map(|member| (*member, self.try_status(member))).collect()
    }

    /// An error naming every agent whose process has exited although the rack did not stop it.
    pub fn check_running(&self) -> Result<(), String> {
        let mut exited = Vec::new();
        for agent in &self.agents {
            if let Some(child) = agent.child().as_mut() {
                if let Ok(Some(exit)) = child.try_wait() {
                    exited.push(format!("{} exited with {exit}", agent.member));
                }
            }
        }
        if exited.is_empty() {
            Ok(())
        } else {
            Err(format!("agent process died: {} (see {})", exited.join(", "), self.dir.display()))
        }
    }

    /// Like [`wait_until`], but gives up at once, with an error, when an agent process has
    /// exited; an error on timeout too. Returns how long the condition took.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut() -> bool,
    ) -> Result<Duration, String> {
        let mut died = None;
        let took = wait_until(timeout, || {
            if let Err(problem) = self.check_running() {
                died = Some(problem);
                return true;
            }
            condition()
        });
        match (died, took) {
            (Some(problem), _) => Err(problem),
            (None, Some(took)) => Ok(took),
            (None, None) => Err(format!("timed out after {timeout:?}")),
        }
    }

    /// Keep things as they are for `window` (a fault's or an observation's stated duration,
    /// not a wait for a condition), calling `check` every [`POLL_INTERVAL`] throughout and once
    /// more when the window is over. The first thing `check` reports wrong, or an agent process
    /// that exited, ends it as an error saying when it was seen. Returns the number of checks.
    pub fn hold(
        &self,
        window: Duration,
        mut check: impl FnMut() -> Result<(), String>,
    ) -> Result<usize, String> {
        let start = Instant::now();
        let mut checks = 0;
        loop {
            let over = start.elapsed() >= window;
            self.check_running()?;
            check().map_err(|wrong| format!("after {:?} of {window:?}: {wrong}", start.elapsed()))?;
            checks += 1;
            if over {
                return Ok(checks);
            }
            std::thread::sleep(POLL_INTERVAL.min(window.saturating_sub(start.elapsed())));
        }
    }

    /// Whether every member sees all its links up and both other members reachable.
    pub fn everything_up(&self) -> bool {
        MEMBERS
            .iter()
            .all(|member| self.try_status(member).is_ok_and(|status| sees_everything_up(member, &status)))
    }

    /// The current table of what every member sees (for messages and the demo).
    pub fn table(&self) -> String {
        render_table(&self.statuses())
    }

    /// Stop every agent with SIGTERM (SIGKILL after a bound) and return how each exited.
    /// All three at once, as a rack losing its power supply in order would not, but as an
    /// operator stopping everything does: the holder stops its service and waits, bounded, for a
    /// witness that is leaving too.
    pub fn shutdown(&mut self) -> Vec<(&'static str, Result<ExitStatus, String>)> {
        let signalled: Vec<_> = self.agents.iter().map(|agent| (agent.member, signal_stop(agent))).collect();
        let started = Instant::now();
        signalled
            .into_iter()
            .map(|(member, child)| {
                (member, child.and_then(|c| wait_stopped(c, STOP_TIMEOUT.saturating_sub(started.elapsed()))))
            })
            .collect()
    }

    /// Keep the directory (configurations and logs) when the rack is dropped.
    pub fn keep_dir(&mut self) {
        self.keep_dir = true;
    }

    /// Print the last lines of every agent's log to stderr.
    pub fn print_tails(&self) {
        for agent in &self.agents {
            eprintln!("---- last {MAX_TAIL_LINES} lines of {} ----", agent.log.display());
            match fs::read_to_string(&agent.log) {
                Ok(text) => {
                    let lines: Vec<&str> = text.lines().collect();
                    for line in &lines[lines.len().saturating_sub(MAX_TAIL_LINES)..] {
                        eprintln!("{line}");
                    }
                }
                Err(error) => eprintln!("(cannot read: {error})"),
            }
        }
    }
}

/// SIGTERM to an agent that still runs; the child to wait for, or why there is none.
fn signal_stop(agent: &Agent) -> Result<Child, String> {
    let Some(mut child) = agent.child().take() else {
        return Err("already stopped".to_string());
    };
    if let Ok(Some(exit)) = child.try_wait() {
        return Err(format!("had already exited with {exit} before it was stopped"));
    }
    let pid = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    Ok(child)
}

/// Wait at most `bound` for an agent that was sent SIGTERM; SIGKILL after it.
fn wait_stopped(mut child: Child, bound: Duration) -> Result<ExitStatus, String> {
    let started = Instant::now();
    while started.elapsed() < bound {
        match child.try_wait() {
            Ok(Some(exit)) => return Ok(exit),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(format!("waiting for exit: {error}")),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("did not exit within {bound:?} of SIGTERM; killed"))
}

impl Drop for Rack {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        let outcomes = self.shutdown();
        // A test resource (tests/src/fixtures.rs) leaves its service process behind when the
        // agents stop; its pid file is `run-MEMBER/svc.pid` in the rack directory.
        for member in MEMBERS {
            let pid_file = self.dir.join(format!("run-{member}")).join("svc.pid");
            let pid = fs::read_to_string(pid_file).ok().and_then(|t| t.trim().parse::<i32>().ok());
            // Only the test service itself, never a process that reused a stale pid.
            let is_service = |pid: i32| {
                fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0100000"))
            };
            if let Some(pid) = pid.filter(|&p| is_service(p)).and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        if failed {
            for (member, outcome) in &outcomes {
                if let Err(problem) = outcome {
                    eprintln!("agent {member}: {problem}");
                }
            }
            self.print_tails();
            eprintln!("rack directory kept: {}", self.dir.display());
        } else if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_has_four_links_and_every_link_two_ends() {
        for member in MEMBERS {
            assert_eq!(links_of(member).len(), 4, "{member}");
            for id in links_of(member) {
                let peer = link_plan(id).peer_of(member).unwrap();
                assert_ne!(peer, member);
                assert!(MEMBERS.contains(&peer));
            }
        }
    }

    #[test]
    fn status_helpers_read_the_contract_shape() {
        let status: Value = serde_json::from_str(
            r#"{"cluster":"payments","member":"witness","role":"witness",
                "members":[{"name":"node-a","id":2,"role":"node","state":"reachable","links_up":2},
                           {"name":"node-b","id":3,"role":"node","state":"unknown","links_up":0}],
                "links":[{"id":1,"peer":"node-a","kind":"serial","state":"up","crc_errors":3,"latency_us":null},
                         {"id":11,"peer":"node-a","kind":"udp","state":"down","crc_errors":0}]}"#,
        )
        .unwrap();
        assert_eq!(link_state(&status, 1), Some("up"));
        assert_eq!(link_state(&status, 11), Some("down"));
        assert_eq!(link_state(&status, 2), None);
        assert_eq!(link_counter(&status, 1, "crc_errors"), Some(3));
        assert_eq!(link_counter(&status, 1, "latency_us"), None);
        assert_eq!(member_state(&status, "node-a"), Some("reachable"));
        assert_eq!(member_state(&status, "node-b"), Some("unknown"));
        assert!(!sees_everything_up("witness", &status));
        let table = render_table(&[("witness", Ok(status)), ("node-a", Err("no socket".to_string()))]);
        assert!(table.contains("1:up 11:down"), "{table}");
        assert!(table.contains("node-a:reachable node-b:unknown"), "{table}");
        assert!(table.contains("(no status: no socket)"), "{table}");
    }

    #[test]
    fn wait_until_reports_success_and_timeout() {
        let mut calls = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        })
        .is_some());
        assert_eq!(calls, 3);
        assert_eq!(wait_until(Duration::from_millis(50), || false), None);
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
