//! Configuration: one TOML file per member, parsed at the edge into a validated [`Config`].
//!
//! Owns the schema, the defaults, every validation rule and the explanation of each problem
//! (location + message + hint) that `ha-agent check-config` prints. It reads the configuration
//! file and inspects the key file (existence, permissions, length); it opens no device and no
//! socket, runs no program (what `check-config` learns from a node's resource agents comes
//! through an [`AgentInspector`], see `agents`), and it does not decide anything at run time.
//! The reference is `docs/configuration.md`.
//!
//! How it works: the text is parsed into `toml::de::DeTable`, which keeps the byte span of
//! every key and value, and the tree is walked by hand. Each rule that fails adds a
//! [`Problem`] and the walk goes on, so one run reports every problem of the file, each with
//! its line. A [`Config`] is built only when there is no problem at all. The sections around
//! the authority (`[authority]`, and `[resources]`, `[relay]`, `[watchdog]`, `[snmp]` whose
//! serde structs and rules belong to their own modules) are checked in `sections`, from the
//! same tree.
//!
//! CONTRACT (shared with the shell and the tests; keep stable): the types below and
//! [`parse_str`], [`load`] / [`load_as`] (the one loader of every subcommand, with
//! [`path_of`]), [`load_key`], [`check`], [`check_files`]. Problems carry a typed key path
//! (`path`): the sections' validators write [`path::Found`]s to a [`path::Sink`], and the
//! checker places each in the file.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};

use crate::wire::{ClusterKey, MAX_SERIAL_BYTES};
use checker::*;
use checks::*;

pub mod agents;
mod checker;
mod checks;
pub mod cross;
pub mod fence_service;
/// The typed key paths and the problem sink, at their historical path (`config::path`).
pub use crate::problem as path;
pub mod report;
pub mod resources;
pub mod role;
mod section_de;
mod sections;
pub mod syslog;

pub use agents::{AgentInspector, AgentReport};
pub use cross::{check_files, FileReport, FilesReport};

pub use sections::AUTHORITY_MS_MAX;

/// Default configuration path.
pub const DEFAULT_PATH: &str = "/etc/ha-agent/agent.toml";
/// A cluster has exactly three members: one witness and two nodes.
pub const MEMBERS_COUNT: usize = 3;
/// Bound on the links one member may configure (the core's bound).
pub const MAX_LINKS: usize = crate::core::membership::MAX_LINKS;
/// Bound on the configuration file's size.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Default of `key_file`.
pub const DEFAULT_KEY_FILE: &str = "/etc/ha-agent/cluster.key";
/// Default of `state_dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ha-agent";
/// Default of `control_socket`.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/ha-agent/control.sock";
/// Defaults of the `[timing]` table.
pub const DEFAULT_TIMING: Timing =
    Timing { interval_ms: 200, warn_ms: 500, dead_ms: 1000, initdead_ms: 5000 };
/// Defaults of the `[shell]` table.
pub const DEFAULT_SHELL: ShellConfig =
    ShellConfig { mlockall: true, realtime_priority: 0, stall_warn_ms: 100 };
/// Default `baud` of a serial link.
pub const DEFAULT_BAUD: u32 = 19_200;
/// The serial rates accepted for `baud`.
pub const STANDARD_BAUDS: [u32; 11] =
    [1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600];
/// Bits on the wire per byte for 8N1: start bit, 8 data bits, stop bit.
pub const SERIAL_BITS_PER_BYTE: u64 = 10;
/// Bounds of `interval_ms`.
pub const INTERVAL_MS_MIN: u64 = 2;
pub const INTERVAL_MS_MAX: u64 = 60_000;
/// `dead_ms` must span at least this many intervals.
pub const DEAD_INTERVALS_MIN: u64 = 3;
/// Bounds of `stall_warn_ms`.
pub const STALL_WARN_MS_MIN: u64 = 1;
pub const STALL_WARN_MS_MAX: u64 = 60_000;
/// Bound on the characters of the cluster name and of member names.
pub const MAX_NAME_CHARS: usize = 32;
/// Bound on an Ethernet interface name (Linux IFNAMSIZ - 1).
pub const MAX_INTERFACE_CHARS: usize = 15;
/// Bounds of the cluster key.
pub const MIN_KEY_BYTES: usize = 16;
pub const MAX_KEY_BYTES: usize = 64;
/// Bound on the key file's size (the key in hex plus some whitespace).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Bound on the problems one check reports (the file is bounded, so this is generous).
pub const MAX_PROBLEMS: usize = 200;

/// Identifier of a member on the wire (1..=255, unique in the cluster).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u8);

/// A member's role: plain data the core and the SNMP objects use, so it is the core's type.
pub use crate::core::membership::Role;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub id: MemberId,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Serial { device: PathBuf, baud: u32 },
    Udp { local: SocketAddr, remote: SocketAddr, broadcast: bool },
    Ethernet { interface: String },
}

impl LinkKind {
    /// The kind's name: the configuration's `kind`, the status's `links[].kind`.
    pub fn name(&self) -> &'static str {
        use crate::status::LinkMedium;
        match self {
            LinkKind::Serial { .. } => LinkMedium::Serial,
            LinkKind::Udp { .. } => LinkMedium::Udp,
            LinkKind::Ethernet { .. } => LinkMedium::Ethernet,
        }
        .as_str()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Link id: unique in the cluster, identical at both ends (it is carried in every frame).
    pub id: u8,
    pub peer: MemberId,
    pub kind: LinkKind,
}

/// `[timing]`: plain data the core consumes, so it is the core's type.
pub use crate::core::membership::Timing;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellConfig {
    /// Lock all pages in memory (`mlockall`) at start.
    pub mlockall: bool,
    /// 0 = normal scheduling; 1..=99 = SCHED_FIFO priority.
    pub realtime_priority: u8,
    /// A loop iteration that wakes this much later than planned counts as a stall.
    pub stall_warn_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cluster: String,
    /// First four bytes (big endian) of SHA-256 of the cluster name.
    pub cluster_id: u32,
    /// This member.
    pub me: MemberId,
    pub members: Vec<Member>,
    pub links: Vec<LinkConfig>,
    pub timing: Timing,
    pub key_file: PathBuf,
    pub state_dir: PathBuf,
    pub control_socket: PathBuf,
    pub shell: ShellConfig,
    /// `[authority]`: arbitration and self-fencing settings (defaults when absent).
    pub authority: AuthorityConfig,
    /// `[resources]`: the resource group (nodes only; None when absent).
    pub resources: Option<crate::core::resources::GroupSpec>,
    /// `[relay]`: fencing relay channels (witness only; None when absent).
    pub relay: Option<crate::devices::config::RelayConfig>,
    /// `[watchdog]`: the hardware watchdog (None: no watchdog).
    pub watchdog: Option<crate::devices::config::WatchdogConfig>,
    /// `[snmp]`: notification targets (None: no notifications).
    pub snmp: Option<crate::snmp::config::SnmpConfig>,
    /// `[array]`: the RAID controller's console (witness only; None: not watched).
    pub array: Option<crate::devices::console::config::ArrayConfig>,
    /// `[syslog]`: a remote syslog collector for the log (None: the log stays on the box).
    pub syslog: Option<syslog::SyslogConfig>,
    /// `[fence_service]`: relays the witness switches for another cluster (None: not served).
    pub fence_service: Option<fence_service::FenceServiceConfig>,
}

/// `[authority]`: how the witness arbitrates and how nodes fence themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorityConfig {
    /// Quorum loss lasting this long makes a node stop its resources (N2).
    pub self_fence_ms: u64,
    /// Witness: how long a holder may take to stop during a switchover before it is fenced.
    pub stop_timeout_ms: u64,
    /// Added to deadlines that rely on another member's clock and timers.
    pub margin_ms: u64,
    /// The node the service prefers (name), if any.
    pub preferred: Option<String>,
    /// Move the service back to `preferred` when it is ready again (default off).
    pub auto_failback: bool,
    /// Witness cold start: wait for both nodes however long it takes.
    pub wait_for_all: bool,
    /// Witness: power a fenced node back on after the failover.
    pub power_on_after_fence: bool,
    /// Witness: fence bound assumed for a node that never reported one (0: none).
    pub unknown_fence_bound_ms: u64,
    pub fence_retry_initial_ms: u64,
    pub fence_retry_max_ms: u64,
    /// Node: refuse the service without an armed hardware watchdog.
    pub require_watchdog: bool,
}

pub const DEFAULT_AUTHORITY: AuthorityConfig = AuthorityConfig {
    self_fence_ms: 2000,
    stop_timeout_ms: 60_000,
    margin_ms: 2000,
    preferred: None,
    auto_failback: false,
    wait_for_all: false,
    power_on_after_fence: true,
    unknown_fence_bound_ms: 0,
    fence_retry_initial_ms: 1000,
    fence_retry_max_ms: 30_000,
    require_watchdog: false,
};

impl Config {
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    pub fn me(&self) -> &Member {
        self.member(self.me).expect("validated config contains this member")
    }
}

pub use crate::problem::ProblemKind;

/// One problem with a configuration: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// Path of the file plus `line N` when known, plus the key path, e.g. `links[2].peer`.
    pub location: String,
    pub message: String,
    pub hint: String,
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}\n  hint: {}", self.location, self.message, self.hint)
    }
}

/// Cluster id of a cluster name: first four bytes (big endian) of SHA-256(name). Computed
/// here rather than taken from `wire` so that the configuration depends on no wire code.
pub fn cluster_id_of(name: &str) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Time one largest serial frame (`MAX_SERIAL_BYTES`, 8N1) takes on the wire at `baud`,
/// rounded up to whole milliseconds.
pub fn serial_wire_ms(baud: u32) -> u64 {
    assert!(baud > 0);
    let bits_ms = MAX_SERIAL_BYTES as u64 * SERIAL_BITS_PER_BYTE * 1000;
    bits_ms.div_ceil(u64::from(baud))
}

/// Parse and validate configuration text. Pure: does not touch the filesystem (the key file
/// checks are in [`load`]). `origin` only names the file in problem locations, and relative
/// paths in the file (`key_file`, `state_dir`, `control_socket`) are resolved against the
/// directory of `origin`.
pub fn parse_str(text: &str, origin: &Path) -> Result<Config, Vec<Problem>> {
    let checked = check_text(text, origin);
    match checked.config {
        Some(config) if checked.checker.problems.is_empty() => Ok(config),
        _ => Err(checked.checker.finish()),
    }
}

/// Read, parse and validate a configuration file, including the key file checks: what `run`
/// and a reload need. [`load_as`] with [`Needs::Keys`].
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    load_as(path, Needs::Keys)
}

/// What a subcommand needs of the configuration beyond the file itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// The cluster key and the SNMP key files too (they are checked and must be readable):
    /// `run`, reload, `check-config`.
    Keys,
    /// Only the file (`status`, `journal`, `fence-test`): an operator without the right to
    /// read the keys can still find the control socket, the state directory, the relays.
    FileOnly,
}

/// The configuration file a subcommand uses: `--config FILE` when given, else
/// [`DEFAULT_PATH`]. Every subcommand finds it this way.
pub fn path_of(given: Option<&str>) -> PathBuf {
    PathBuf::from(given.unwrap_or(DEFAULT_PATH))
}

/// The one loader of every subcommand: read the file (bounded), parse and validate it, and
/// with [`Needs::Keys`] check the key files. `Err`: every problem, as `check-config` prints
/// them.
pub fn load_as(path: &Path, needs: Needs) -> Result<Config, Vec<Problem>> {
    let report = match needs {
        Needs::Keys => check(path, None),
        Needs::FileOnly => match read_config_file(path) {
            Ok(text) => {
                let checked = check_text(&text, path);
                let (problems, warnings) = checked.checker.finish_with_warnings();
                Report { config: checked.config.filter(|_| problems.is_empty()), problems, warnings }
            }
            Err(problems) => Report { config: None, problems, warnings: Vec::new() },
        },
    };
    match report.config {
        Some(config) if report.problems.is_empty() => Ok(config),
        _ => Err(report.problems),
    }
}

/// Whether the problems of a failed load say only that the file could not be read (a
/// subcommand answers "unreachable", not "invalid").
pub fn is_unreadable(problems: &[Problem]) -> bool {
    !problems.is_empty() && problems.iter().all(|p| p.kind == ProblemKind::Unreadable)
}

/// What [`check`] found.
#[derive(Debug)]
pub struct Report {
    /// The configuration, when there is no problem.
    pub config: Option<Config>,
    /// Every problem, in file order (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// What is worth knowing but does not make the file invalid, in file order.
    pub warnings: Vec<Problem>,
}

/// [`load`], and with `agents` (`check-config`) on a node also each resource's agent as
/// installed on this machine: the script, and the parameters against its meta-data.
pub fn check(path: &Path, agents: Option<&dyn AgentInspector>) -> Report {
    let text = match read_config_file(path) {
        Ok(text) => text,
        Err(problems) => return Report { config: None, problems, warnings: Vec::new() },
    };
    let mut checked = check_text(&text, path);
    if let Some((key_file, key_span)) = checked.key_file.take() {
        check_key_file(&mut checked.checker, &key_file, key_span, "key_file");
    }
    if let Some(service) = checked.config.as_ref().and_then(|c| c.fence_service.as_ref()) {
        let at = checked.fence_key_span.clone();
        let before = checked.checker.problems.len();
        check_key_file(&mut checked.checker, &service.key_file, at.clone(), "fence_service.key_file");
        let cluster_key = checked.config.as_ref().and_then(|c| load_key(&c.key_file).ok());
        let fence_key = load_key(&service.key_file).ok();
        if checked.checker.problems.len() == before
            && cluster_key.is_some()
            && cluster_key.map(|k| k.0) == fence_key.map(|k| k.0)
        {
            checked.checker.push(
                ProblemKind::BadValue,
                at,
                "fence_service.key_file",
                "the fence service's key is the cluster key: every client of the fence service could then speak for this cluster's members".into(),
                format!("make a separate key: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > {}; chmod 600 it, and copy it to the other cluster's nodes only", service.key_file.display()),
            );
        }
    }
    if let Some(snmp) = checked.config.as_ref().and_then(|c| c.snmp.as_ref()) {
        sections::check_snmp_key_files(&mut checked.checker, snmp, &checked.snmp_key_spans);
    }
    if let (Some(inspector), Some(group)) = (agents, checked.node_group.take()) {
        // The tree was parsed without error by check_text; parsed again for the locations.
        let (document, _) = DeTable::parse_recoverable(&text);
        agents::check_agents(&mut checked.checker, document.get_ref(), &group, inspector);
    }
    let (problems, warnings) = checked.checker.finish_with_warnings();
    let config = checked.config.filter(|_| problems.is_empty());
    Report { config, problems, warnings }
}

/// Read the cluster key from its file (hex text, whitespace ignored). Checks the content only;
/// [`load`] also checks the file's permissions. No message ever contains key material.
pub fn load_key(path: &Path) -> Result<ClusterKey, Problem> {
    let shown = path.display().to_string();
    let problem = |kind, message: String, hint: &str| Problem {
        kind,
        location: shown.clone(),
        message,
        hint: hint.to_string(),
    };
    let make_hint = format!(
        "make a key with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > {shown}; chmod 600 {shown}"
    );
    let file = std::fs::File::open(path).map_err(|e| {
        problem(ProblemKind::KeyFileMissing, format!("cannot open the key file: {e}"), &make_hint)
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| {
        problem(ProblemKind::KeyFileMissing, format!("cannot read the key file: {e}"), &make_hint)
    })?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(problem(
            ProblemKind::BadValue,
            format!("the key file is larger than {MAX_KEY_FILE_BYTES} bytes"),
            "the file holds only the key: 32 to 128 hex digits",
        ));
    }
    let mut digits: Vec<u8> = Vec::with_capacity(MAX_KEY_BYTES * 2);
    for (offset, &byte) in bytes.iter().enumerate() {
        if byte.is_ascii_whitespace() {
            continue;
        }
        let Some(value) = hex_value(byte) else {
            return Err(problem(
                ProblemKind::BadValue,
                format!("the key file has a character that is not a hex digit at byte {offset}"),
                "the file holds the key as hex digits (0-9, a-f); whitespace is ignored",
            ));
        };
        if digits.len() == MAX_KEY_BYTES * 2 {
            return Err(problem(
                ProblemKind::BadValue,
                format!("the key is longer than {MAX_KEY_BYTES} bytes ({} hex digits)", MAX_KEY_BYTES * 2),
                "use a key of 16 to 64 bytes (32 to 128 hex digits); 32 bytes is recommended",
            ));
        }
        digits.push(value);
    }
    if digits.len() % 2 == 1 {
        return Err(problem(
            ProblemKind::BadValue,
            format!("the key has an odd number of hex digits ({})", digits.len()),
            "each byte of the key is two hex digits; the file may be truncated",
        ));
    }
    let key_bytes = digits.len() / 2;
    if key_bytes < MIN_KEY_BYTES {
        return Err(problem(
            ProblemKind::KeyTooShort,
            format!("the key is too short: {key_bytes} bytes, at least {MIN_KEY_BYTES} are needed"),
            &format!("use a key of 16 to 64 bytes (32 to 128 hex digits); {make_hint}"),
        ));
    }
    let mut key = heapless::Vec::<u8, MAX_KEY_BYTES>::new();
    for pair in digits.chunks_exact(2) {
        let pushed = key.push(pair[0] << 4 | pair[1]);
        assert!(pushed.is_ok(), "key length was bounded above");
    }
    Ok(ClusterKey(key))
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Reads the configuration file, refusing one larger than [`MAX_CONFIG_BYTES`].
fn read_config_file(path: &Path) -> Result<String, Vec<Problem>> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        vec![Problem {
            kind: ProblemKind::Unreadable,
            location: shown.clone(),
            message: format!("cannot read the file: {e}"),
            hint: "check the path and the permissions".into(),
        }]
    };
    let too_large = || {
        vec![Problem {
            kind: ProblemKind::FileTooLarge,
            location: shown.clone(),
            message: format!("the file is larger than {MAX_CONFIG_BYTES} bytes"),
            hint: "is this the right file? a configuration is a few kilobytes".into(),
        }]
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    if metadata.is_dir() {
        return Err(unreadable(std::io::Error::other("it is a directory")));
    }
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes());
        let mut checker = Checker::new(&text, path);
        checker.push(
            ProblemKind::Syntax,
            Some(offset..offset),
            "",
            "the file is not valid UTF-8 text".into(),
            "save the file as UTF-8".into(),
        );
        checker.finish()
    })
}

/// Checks the key file named by the configuration; problems point at `key_file` in the
/// configuration and name the key file in the message.
fn check_key_file(checker: &mut Checker<'_>, key_file: &Path, key_span: Option<Span>, at: &str) {
    let shown = key_file.display();
    match std::fs::metadata(key_file) {
        Err(e) => {
            checker.push(
                ProblemKind::KeyFileMissing,
                key_span,
                at,
                format!("cannot read the key file {shown}: {e}"),
                format!(
                    "make a key with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > {shown}; chmod 600 {shown} (and copy the same file to every member); a relative key_file is resolved against the configuration file's directory"
                ),
            );
            return;
        }
        Ok(metadata) if !metadata.is_file() => {
            checker.push(
                ProblemKind::KeyFileMissing,
                key_span,
                at,
                format!("the key file {shown} is not a regular file"),
                "key_file names a file that holds the key in hex".into(),
            );
            return;
        }
        Ok(metadata) => {
            let mode = metadata.permissions().mode() & 0o7777;
            if mode & 0o007 != 0 {
                checker.push(
                    ProblemKind::KeyFileWorldReadable,
                    key_span.clone(),
                    at,
                    format!(
                        "the key file {shown} has mode {mode:04o}: every user of the machine can read or change the cluster key"
                    ),
                    format!("chmod 600 {shown}"),
                );
            }
        }
    }
    if let Err(mut problem) = load_key(key_file) {
        problem.location = checker.location(key_span.clone(), at);
        problem.message = format!("{} ({shown})", problem.message);
        checker.push_problem(key_span, problem);
    }
}

#[cfg(test)]
pub(crate) mod tests;
