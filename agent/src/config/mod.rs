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
//! [`parse_str`], [`load`], [`load_key`], [`check`], [`check_files`].

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

pub mod agents;
pub mod cross;
pub mod report;
mod sections;
pub mod syslog;

pub use agents::{AgentInspector, AgentReport};
pub use cross::{check_files, FileReport, FilesReport};

pub use sections::AUTHORITY_MS_MAX;

/// Default configuration path.
pub const DEFAULT_PATH: &str = "/etc/ha-agent/agent.toml";
/// A cluster has exactly three members: one witness and two nodes.
pub const MEMBERS_COUNT: usize = 3;
/// Bound on the links one member may configure.
pub const MAX_LINKS: usize = 8;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Witness,
    Node,
}

impl Role {
    /// The spelling used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Witness => "witness",
            Role::Node => "node",
        }
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Link id: unique in the cluster, identical at both ends (it is carried in every frame).
    pub id: u8,
    pub peer: MemberId,
    pub kind: LinkKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub interval_ms: u64,
    pub warn_ms: u64,
    pub dead_ms: u64,
    pub initdead_ms: u64,
}

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
    pub fence_service: Option<crate::fencesvc::config::FenceServiceConfig>,
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

/// What kind of problem: one variant per rule, so tests can assert on the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    Syntax,
    UnknownKey,
    MissingKey,
    BadValue,
    DuplicateMember,
    WrongMemberCount,
    UnknownMember,
    LinkToSelf,
    LinkToUnknownPeer,
    DuplicateLinkId,
    TooManyLinks,
    NoLinkToPeer,
    KeyFileMissing,
    KeyFileWorldReadable,
    KeyTooShort,
    DeadTooShort,
    WarnOutOfRange,
    IntervalTooShortForBaud,
    InitdeadTooShort,
    FileTooLarge,
    Unreadable,
    /// `authority.self_fence_ms < timing.dead_ms`.
    SelfFenceTooShort,
    /// `authority.margin_ms < timing.interval_ms`.
    MarginTooShort,
    /// A section or a name that this member's role (or the named member's role) rules out:
    /// `[resources]` on the witness, `[relay]` on a node, a relay channel or `preferred`
    /// naming the witness.
    WrongRole,
    /// `check-config` on a node: a resource's agent script is not there.
    AgentMissing,
    /// `check-config` on a node: a resource's agent is not an executable file.
    AgentNotExecutable,
    /// `check-config` on a node: a parameter the agent's meta-data does not declare.
    UnknownParameter,
    /// `check-config` on a node: a parameter the agent's meta-data marks required is absent.
    MissingParameter,
    /// `check-config` on a node (a warning): the agent's meta-data cannot be read.
    AgentMetaDataUnreadable,
    /// A warning: one link only to a member, so one cut cable or one dead port makes it look
    /// dead.
    OneLinkToPeer,
    /// A warning: a node without `[watchdog]`: nothing resets it if it hangs while it holds
    /// the service.
    NoWatchdog,
    /// A warning: a relay channel with `trust_unconfirmed = true`.
    UnconfirmedFenceAllowed,
    /// A warning: a command channel's `timeout_ms` is shorter than its fence agent may need.
    CommandTimeoutShort,
    /// Cross-file (`check_files`): two files for one member.
    SameMember,
    /// Cross-file: the cluster names differ.
    ClusterMismatch,
    /// Cross-file: the `[[members]]` (names, ids, roles) differ.
    MembersMismatch,
    /// Cross-file: the `[timing]` differs.
    TimingMismatch,
    /// Cross-file: the `[authority]` differs.
    AuthorityMismatch,
    /// Cross-file: the nodes' `[resources]` differ.
    ResourcesMismatch,
    /// Cross-file: a link whose two ends do not agree on id, kind or peer, one without the
    /// other end, or one id used by two pairs of members.
    LinkMismatch,
    /// Cross-file: a UDP link whose remote address is not the other end's local address.
    AddressMismatch,
    /// Cross-file: a serial link whose two ends use different baud rates.
    SerialMismatch,
    /// Cross-file: the key files hold different keys.
    KeyMismatch,
}

impl ProblemKind {
    /// Whether this kind is reported as a warning (the file stays valid).
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            ProblemKind::AgentMetaDataUnreadable
                | ProblemKind::OneLinkToPeer
                | ProblemKind::NoWatchdog
                | ProblemKind::UnconfirmedFenceAllowed
                | ProblemKind::CommandTimeoutShort
        )
    }
}

impl core::fmt::Display for ProblemKind {
    /// The variant's name, as the tables of docs/configuration.md spell it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

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

/// Read, parse and validate a configuration file, including the key file checks.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let report = check(path, None);
    match report.config {
        Some(config) if report.problems.is_empty() => Ok(config),
        _ => Err(report.problems),
    }
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

type Span = Range<usize>;
/// Entries of an array of tables: index, table, span for locations.
type Entries<'a, 'i> = Vec<(usize, &'a DeTable<'i>, Span)>;

const TOP_KEYS: &[&str] = &[
    "cluster",
    "member",
    "key_file",
    "state_dir",
    "control_socket",
    "timing",
    "shell",
    "members",
    "links",
    "authority",
    "resources",
    "relay",
    "watchdog",
    "snmp",
    "array",
    "syslog",
    "fence_service",
];
const TIMING_KEYS: &[&str] = &["interval_ms", "warn_ms", "dead_ms", "initdead_ms"];
const SHELL_KEYS: &[&str] = &["mlockall", "realtime_priority", "stall_warn_ms"];
const MEMBER_KEYS: &[&str] = &["name", "id", "role"];
const LINK_COMMON_KEYS: &[&str] = &["id", "peer", "kind"];
const LINK_KINDS: &[(&str, &[&str])] = &[
    ("serial", &["device", "baud"]),
    ("udp", &["local", "remote", "broadcast"]),
    ("ethernet", &["interface"]),
];

/// Collects problems, each with the byte offset it was found at so that the report reads in
/// file order.
struct Checker<'t> {
    text: &'t str,
    origin: &'t Path,
    problems: Vec<(usize, Problem)>,
    warnings: Vec<(usize, Problem)>,
}

impl<'t> Checker<'t> {
    fn new(text: &'t str, origin: &'t Path) -> Self {
        Checker { text, origin, problems: Vec::new(), warnings: Vec::new() }
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    /// `FILE:line N: key.path`, leaving out what is not known.
    fn location(&self, at: Option<Span>, path: &str) -> String {
        let mut location = self.origin.display().to_string();
        if let Some(span) = at {
            location.push_str(&format!(":line {}", self.line_of(span.start)));
        }
        if !path.is_empty() {
            location.push_str(": ");
            location.push_str(path);
        }
        location
    }

    fn push(&mut self, kind: ProblemKind, at: Option<Span>, path: &str, message: String, hint: String) {
        let location = self.location(at.clone(), path);
        self.push_problem(at, Problem { kind, location, message, hint });
    }

    fn push_problem(&mut self, at: Option<Span>, problem: Problem) {
        let offset = at.map_or(usize::MAX, |span| span.start);
        self.problems.push((offset, problem));
    }

    /// A warning: reported, but the file stays valid.
    fn warn(&mut self, kind: ProblemKind, at: Option<Span>, path: &str, message: String, hint: String) {
        assert!(kind.is_warning(), "{kind} is a problem, not a warning");
        let location = self.location(at.clone(), path);
        let offset = at.map_or(usize::MAX, |span| span.start);
        self.warnings.push((offset, Problem { kind, location, message, hint }));
    }

    /// The problems in file order (those without a line last), bounded by [`MAX_PROBLEMS`].
    fn finish(self) -> Vec<Problem> {
        self.finish_with_warnings().0
    }

    /// The problems and the warnings, each in file order and bounded by [`MAX_PROBLEMS`].
    fn finish_with_warnings(mut self) -> (Vec<Problem>, Vec<Problem>) {
        let in_order = |mut list: Vec<(usize, Problem)>| {
            list.sort_by_key(|(offset, _)| *offset);
            list.truncate(MAX_PROBLEMS);
            list.into_iter().map(|(_, problem)| problem).collect::<Vec<_>>()
        };
        let problems = in_order(std::mem::take(&mut self.problems));
        (problems, in_order(self.warnings))
    }

    /// Reports every key of `table` that is not in `valid`.
    fn unknown_keys(&mut self, table: &DeTable<'_>, prefix: &str, valid: &[&str], place: &str) {
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if valid.contains(&name) {
                continue;
            }
            let mut hint = format!("valid keys in {place}: {}", valid.join(", "));
            if let Some(close) = closest(name, valid) {
                hint = format!("did you mean `{close}`? {hint}");
            }
            self.push(
                ProblemKind::UnknownKey,
                Some(key.span()),
                &join(prefix, name),
                format!("unknown key `{name}`"),
                hint,
            );
        }
    }

    fn missing(&mut self, at: Option<Span>, path: &str, example: &str) {
        let key = path.rsplit('.').next().unwrap_or(path);
        self.push(
            ProblemKind::MissingKey,
            at,
            path,
            format!("required key `{key}` is missing"),
            format!("add `{example}`"),
        );
    }

    fn wrong_type(&mut self, at: Span, path: &str, expected: &str, found: &DeValue<'_>) {
        let hint = match expected {
            "a string" => "write the value in double quotes, e.g. \"text\"",
            "a whole number" => "write digits without quotes, e.g. 200",
            "true or false" => "write true or false without quotes",
            _ => "see docs/configuration.md for the schema",
        };
        self.push(
            ProblemKind::BadValue,
            Some(at),
            path,
            format!("`{}` must be {expected}, not {}", last_key(path), describe_type(found)),
            hint.to_string(),
        );
    }

    /// A string value. `required` is an example line for the hint when it is missing.
    fn string<'a>(
        &mut self,
        table: &'a DeTable<'_>,
        key: &str,
        prefix: &str,
        parent: Option<Span>,
        required: Option<&str>,
    ) -> Option<(&'a str, Span)> {
        let path = join(prefix, key);
        let Some((key_span, value)) = lookup(table, key) else {
            if let Some(example) = required {
                self.missing(parent, &path, example);
            }
            return None;
        };
        match value.as_str() {
            Some(text) => Some((text, key_span)),
            None => {
                self.wrong_type(key_span, &path, "a string", value);
                None
            }
        }
    }

    /// A whole number within `bounds`.
    fn integer(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        prefix: &str,
        parent: Option<Span>,
        required: Option<&str>,
        bounds: RangeInclusive<i64>,
    ) -> Option<(i64, Span)> {
        let path = join(prefix, key);
        let Some((key_span, value)) = lookup(table, key) else {
            if let Some(example) = required {
                self.missing(parent, &path, example);
            }
            return None;
        };
        let Some(integer) = value.as_integer() else {
            self.wrong_type(key_span, &path, "a whole number", value);
            return None;
        };
        let parsed = i64::from_str_radix(integer.as_str(), integer.radix()).ok();
        match parsed {
            Some(number) if bounds.contains(&number) => Some((number, key_span)),
            _ => {
                self.push(
                    ProblemKind::BadValue,
                    Some(key_span),
                    &path,
                    format!("`{key} = {integer}` is out of range"),
                    format!("use a whole number from {} to {}", bounds.start(), bounds.end()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, table: &DeTable<'_>, key: &str, prefix: &str) -> Option<(bool, Span)> {
        let path = join(prefix, key);
        let (key_span, value) = lookup(table, key)?;
        match value.as_bool() {
            Some(flag) => Some((flag, key_span)),
            None => {
                self.wrong_type(key_span, &path, "true or false", value);
                None
            }
        }
    }

    /// An optional sub-table (`[timing]`, `[shell]`).
    fn table<'a, 'i>(&mut self, root: &'a DeTable<'i>, key: &str) -> Option<(&'a DeTable<'i>, Span)> {
        let (key_span, value) = lookup(root, key)?;
        match value.as_table() {
            Some(table) => Some((table, key_span)),
            None => {
                self.push(
                    ProblemKind::BadValue,
                    Some(key_span),
                    key,
                    format!("`{key}` must be a table, not {}", describe_type(value)),
                    format!("write it as a [{key}] section"),
                );
                None
            }
        }
    }

    /// An array of tables (`[[members]]`, `[[links]]`): each element with its index, the
    /// table when it is one, and a span for its location.
    fn array_of_tables<'a, 'i>(
        &mut self,
        root: &'a DeTable<'i>,
        key: &str,
    ) -> Option<(Span, Entries<'a, 'i>)> {
        let (key_span, value) = lookup(root, key)?;
        let Some(array) = value.as_array() else {
            self.push(
                ProblemKind::BadValue,
                Some(key_span),
                key,
                format!("`{key}` must be a list of tables, not {}", describe_type(value)),
                format!("write each entry as a [[{key}]] section"),
            );
            return None;
        };
        let mut tables = Vec::with_capacity(array.len());
        for (index, element) in array.iter().enumerate() {
            let span = element_span(element.span(), &key_span);
            match element.get_ref().as_table() {
                Some(table) => tables.push((index, table, span)),
                None => self.push(
                    ProblemKind::BadValue,
                    Some(span),
                    &format!("{key}[{index}]"),
                    format!("`{key}[{index}]` must be a table, not {}", describe_type(element.get_ref())),
                    format!("write each entry as a [[{key}]] section"),
                ),
            }
        }
        Some((key_span, tables))
    }

    /// A name of 1..=32 characters among `[A-Za-z0-9._-]`.
    fn name(&mut self, value: &str, at: Span, path: &str) -> bool {
        if is_valid_name(value) {
            return true;
        }
        self.push(
            ProblemKind::BadValue,
            Some(at),
            path,
            format!("`{}` is not a valid name: {:?}", last_key(path), value),
            format!("use 1 to {MAX_NAME_CHARS} characters among A-Z a-z 0-9 . _ -"),
        );
        false
    }
}

fn lookup<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<(Span, &'a DeValue<'i>)> {
    table.get_key_value(key).map(|(k, v)| (k.span(), v.get_ref()))
}

/// The span of an array element, or of the array's key when the parser gave the element none.
fn element_span(span: Span, fallback: &Span) -> Span {
    if span.is_empty() && span.start == 0 {
        fallback.clone()
    } else {
        span
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn describe_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The closest candidate within a small edit distance, for "did you mean".
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = if word.len() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Relative paths are resolved against the configuration file's directory.
fn resolve(origin: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        origin.parent().unwrap_or(Path::new("")).join(path)
    }
}

fn is_broadcast(address: &SocketAddr) -> bool {
    match address.ip() {
        IpAddr::V4(ip) => ip.octets()[3] == 255,
        IpAddr::V6(_) => false,
    }
}

/// Result of checking a text: the config when every part could be built, the problems, and
/// the key file to check when its path is known.
struct Checked<'t> {
    checker: Checker<'t>,
    config: Option<Config>,
    key_file: Option<(PathBuf, Option<Span>)>,
    /// Where each SNMP key file is named, for the checks of [`load`].
    snmp_key_spans: Vec<(String, Option<Span>)>,
    /// A node's valid resource group, for the agent checks of [`check`].
    node_group: Option<crate::core::resources::GroupSpec>,
    /// Where `fence_service.key_file` is (or the section), for the checks of [`check`].
    fence_key_span: Option<Span>,
}

struct ParsedMember {
    index: usize,
    name: Option<(String, Span)>,
    id: Option<(u8, Span)>,
    role: Option<Role>,
}

struct ParsedLink {
    index: usize,
    id: Option<u8>,
    peer: Option<String>,
    kind: Option<LinkKind>,
    /// Where a serial link's baud is (or the link itself when the default is used).
    baud_span: Span,
}

/// Where each timing value came from (`None`: the default), for locations of problems.
#[derive(Default)]
struct TimingSpans {
    table: Option<Span>,
    interval_ms: Option<Span>,
    warn_ms: Option<Span>,
    dead_ms: Option<Span>,
    initdead_ms: Option<Span>,
}

fn check_text<'t>(text: &'t str, origin: &'t Path) -> Checked<'t> {
    let mut checker = Checker::new(text, origin);
    let (document, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for error in errors {
            let hint = if error.message().contains("duplicate") {
                "each key, and each [section], appears once; merge or remove the repeated one"
            } else {
                "strings need double quotes, sections are written [name] or [[name]], one key = value per line"
            };
            checker.push(
                ProblemKind::Syntax,
                error.span(),
                "",
                format!("TOML syntax error: {}", error.message()),
                hint.into(),
            );
        }
        return Checked {
            checker,
            config: None,
            key_file: None,
            snmp_key_spans: Vec::new(),
            node_group: None,
            fence_key_span: None,
        };
    }
    let root = document.get_ref();
    checker.unknown_keys(root, "", TOP_KEYS, "the top level");

    let cluster = checker
        .string(root, "cluster", "", None, Some("cluster = \"payments\""))
        .filter(|(name, span)| checker.name(name, span.clone(), "cluster"))
        .map(|(name, _)| name.to_string());
    let me_name = checker
        .string(root, "member", "", None, Some("member = \"witness\" (this member's name)"))
        .filter(|(name, span)| checker.name(name, span.clone(), "member"));

    let mut paths = BTreeMap::new();
    for (key, default) in [
        ("key_file", DEFAULT_KEY_FILE),
        ("state_dir", DEFAULT_STATE_DIR),
        ("control_socket", DEFAULT_CONTROL_SOCKET),
    ] {
        let value = match checker.string(root, key, "", None, None) {
            None if root.contains_key(key) => None,
            None => Some((resolve(origin, default), None)),
            Some(("", span)) => {
                checker.push(
                    ProblemKind::BadValue,
                    Some(span),
                    key,
                    format!("`{key}` is empty"),
                    format!("leave it out for the default {default:?}, or name a path"),
                );
                None
            }
            Some((path, span)) => Some((resolve(origin, path), Some(span))),
        };
        paths.insert(key, value);
    }
    let key_file = paths.get("key_file").cloned().flatten();

    let (timing, interval_ms) = check_timing(&mut checker, root);
    let shell = check_shell(&mut checker, root);
    let members = check_members(&mut checker, root);

    // This member.
    let mut me: Option<&ParsedMember> = None;
    if let Some((name, span)) = &me_name {
        let known = member_names(&members);
        me = members.iter().find(|m| m.name.as_ref().is_some_and(|(n, _)| n == name));
        if me.is_none() && !known.is_empty() {
            let mut hint = format!(
                "`member` names this member; it must be one of the [[members]] names: {}",
                known.join(", ")
            );
            if let Some(close) = closest(name, &known) {
                hint = format!("did you mean {close:?}? {hint}");
            }
            checker.push(
                ProblemKind::UnknownMember,
                Some(span.clone()),
                "member",
                format!("member {name:?} is not listed in [[members]]"),
                hint,
            );
        }
    }
    let me_name: Option<&str> = me_name.map(|(name, _)| name);

    let links = check_links(&mut checker, root, &members, me_name);

    // Every other member needs a link, or it could never be reached.
    if let Some(me) = me {
        for member in &members {
            let Some((name, _)) = &member.name else {
                continue;
            };
            if member.index == me.index || links.iter().any(|l| l.peer.as_deref() == Some(name)) {
                continue;
            }
            let at = lookup(root, "links").map(|(span, _)| span);
            checker.push(
                ProblemKind::NoLinkToPeer,
                at,
                "links",
                format!(
                    "no link to member {name:?}: it could never be reached, so it would always count as dead"
                ),
                format!("add a [[links]] section with peer = {name:?} (and the same link at {name:?}'s end)"),
            );
        }
    }

    // One link to a member is a single point of failure of its detection.
    if let Some(me) = me {
        for member in members.iter().filter(|m| m.index != me.index) {
            let Some((name, _)) = &member.name else {
                continue;
            };
            let mut to_member = links.iter().filter(|l| l.peer.as_deref() == Some(name.as_str()));
            let (Some(only), None) = (to_member.next(), to_member.next()) else {
                continue;
            };
            let path = format!("links[{}]", only.index);
            checker.warn(
                ProblemKind::OneLinkToPeer,
                sections::span_of_path(root, &path),
                &path,
                format!(
                    "only one link to {name:?}: one cut cable or one dead port, and {name:?} looks dead (a node is fenced, a holder loses the service)"
                ),
                format!(
                    "add a second [[links]] to {name:?} of another kind (serial and udp), on separate cables and ports, at both ends"
                ),
            );
        }
    }

    // A serial link must carry one largest frame within one interval.
    if let Some(interval_ms) = interval_ms {
        for link in &links {
            let Some(LinkKind::Serial { baud, .. }) = &link.kind else {
                continue;
            };
            let wire_ms = serial_wire_ms(*baud);
            if interval_ms >= wire_ms {
                continue;
            }
            let fitting_baud = STANDARD_BAUDS.iter().find(|b| serial_wire_ms(**b) <= interval_ms);
            let hint = match fitting_baud {
                Some(b) => {
                    format!("use baud = {b} or faster, or set timing.interval_ms to at least {wire_ms}")
                }
                None => {
                    format!("no standard rate is fast enough; set timing.interval_ms to at least {wire_ms}")
                }
            };
            checker.push(
                ProblemKind::IntervalTooShortForBaud,
                Some(link.baud_span.clone()),
                &format!("links[{}].baud", link.index),
                format!(
                    "interval too short for the baud rate: at {baud} baud the largest frame ({MAX_SERIAL_BYTES} bytes, 8N1) takes {wire_ms} ms on the wire, longer than interval_ms = {interval_ms}"
                ),
                hint,
            );
        }
    }

    // The sections around the authority.
    let context =
        sections::Context { members: &members, links: &links, role: me.and_then(|m| m.role), timing };
    let authority = sections::check_authority(&mut checker, root, &context);
    let resources = sections::check_resources(&mut checker, root, &context);
    let (relay, watchdog) = sections::check_devices(&mut checker, root, &context);
    let snmp = sections::check_snmp(&mut checker, root, origin);
    let array = sections::check_array(&mut checker, root, &context);
    let syslog = sections::check_syslog(&mut checker, root);
    let own_relay = relay.clone().flatten();
    let fence_service =
        sections::check_fence_service(&mut checker, root, &context, own_relay.as_ref(), origin);
    let fence_key_span = sections::span_of_path(root, "fence_service.key_file")
        .or_else(|| sections::span_of_path(root, "fence_service"));
    let snmp_key_spans = match &snmp {
        Some(Some(snmp)) => sections::snmp_key_spans(root, snmp),
        _ => Vec::new(),
    };
    if context.role == Some(Role::Node)
        && !root.contains_key("watchdog")
        && !authority.as_ref().is_some_and(|a| a.require_watchdog)
    {
        checker.warn(
            ProblemKind::NoWatchdog,
            None,
            "watchdog",
            "a node without [watchdog]: if this node hangs while it holds the service, nothing resets it, and the witness can take over only after a fence or the unknown_fence_bound_ms".into(),
            "add a [watchdog] section (device = \"/dev/watchdog\", timeout_s = 10; docs/devices.md), and consider authority.require_watchdog = true".into(),
        );
    }
    let node_group = match (context.role, &resources) {
        (Some(Role::Node), Some(Some(group))) => Some(group.clone()),
        _ => None,
    };

    // Build the configuration only if every part is there.
    let config = (|| {
        let cluster = cluster?;
        let me = me?;
        let mut built_members = Vec::with_capacity(members.len());
        for m in &members {
            built_members.push(Member {
                name: m.name.clone()?.0,
                id: MemberId(m.id.as_ref()?.0),
                role: m.role?,
            });
        }
        let mut built_links = Vec::with_capacity(links.len());
        for l in &links {
            let peer =
                members.iter().find(|m| m.name.as_ref().map(|(n, _)| n.as_str()) == l.peer.as_deref())?;
            built_links.push(LinkConfig {
                id: l.id?,
                peer: MemberId(peer.id.as_ref()?.0),
                kind: l.kind.clone()?,
            });
        }
        let path = |key: &str| paths.get(key).cloned().flatten().map(|(p, _)| p);
        Some(Config {
            cluster_id: cluster_id_of(&cluster),
            cluster,
            me: MemberId(me.id.as_ref()?.0),
            members: built_members,
            links: built_links,
            timing: timing?,
            key_file: path("key_file")?,
            state_dir: path("state_dir")?,
            control_socket: path("control_socket")?,
            shell: shell?,
            authority: authority?,
            resources: resources?,
            relay: relay?,
            watchdog: watchdog?,
            snmp: snmp?,
            array: array?,
            syslog: syslog?,
            fence_service: fence_service?,
        })
    })();
    if config.is_none() && checker.problems.is_empty() {
        checker.push(
            ProblemKind::BadValue,
            None,
            "",
            "internal error: the configuration is incomplete but no problem was found".into(),
            "please report this with the configuration file".into(),
        );
    }
    Checked { checker, config, key_file, snmp_key_spans, node_group, fence_key_span }
}

/// The `[timing]` table: the timing when it is valid, and the interval alone when that is
/// usable (for the serial wire-time check, which is reported on the link).
fn check_timing(checker: &mut Checker<'_>, root: &DeTable<'_>) -> (Option<Timing>, Option<u64>) {
    let mut spans = TimingSpans::default();
    let table = match checker.table(root, "timing") {
        Some((table, span)) => {
            spans.table = Some(span);
            Some(table)
        }
        None if root.contains_key("timing") => return (None, None),
        None => None,
    };
    let mut timing = DEFAULT_TIMING;
    let mut parsed_all = true;
    if let Some(table) = table {
        checker.unknown_keys(table, "timing", TIMING_KEYS, "[timing]");
        for key in TIMING_KEYS {
            let (field, span) = match *key {
                "interval_ms" => (&mut timing.interval_ms, &mut spans.interval_ms),
                "warn_ms" => (&mut timing.warn_ms, &mut spans.warn_ms),
                "dead_ms" => (&mut timing.dead_ms, &mut spans.dead_ms),
                _ => (&mut timing.initdead_ms, &mut spans.initdead_ms),
            };
            match checker.integer(table, key, "timing", None, None, 0..=i64::MAX) {
                Some((value, at)) => {
                    *field = value as u64;
                    *span = Some(at);
                }
                None if table.contains_key(*key) => parsed_all = false,
                None => {}
            }
        }
    }
    if !parsed_all {
        return (None, None);
    }
    let Timing { interval_ms, warn_ms, dead_ms, initdead_ms } = timing;
    let shown = |name: &str, value: u64, span: &Option<Span>| match span {
        Some(_) => format!("{name} = {value}"),
        None => format!("{name} = {value} (the default)"),
    };
    let mut valid = true;
    let interval_usable = (INTERVAL_MS_MIN..=INTERVAL_MS_MAX).contains(&interval_ms);
    if !interval_usable {
        valid = false;
        checker.push(
            ProblemKind::BadValue,
            spans.interval_ms.clone(),
            "timing.interval_ms",
            format!("interval_ms = {interval_ms} is out of range"),
            format!(
                "use {INTERVAL_MS_MIN} to {INTERVAL_MS_MAX} ms: shorter floods the links and the loop, longer detects failures too late"
            ),
        );
    }
    let dead_min_ms = interval_ms.saturating_mul(DEAD_INTERVALS_MIN);
    if dead_ms < dead_min_ms {
        valid = false;
        checker.push(
            ProblemKind::DeadTooShort,
            spans.dead_ms.clone().or(spans.interval_ms.clone()).or(spans.table.clone()),
            "timing.dead_ms",
            format!(
                "dead_ms is shorter than {DEAD_INTERVALS_MIN} intervals: {} < {DEAD_INTERVALS_MIN} x {}",
                shown("dead_ms", dead_ms, &spans.dead_ms),
                shown("interval_ms", interval_ms, &spans.interval_ms)
            ),
            format!(
                "set dead_ms to at least {dead_min_ms} (or shorten interval_ms), so that two lost heartbeats in a row do not declare a peer dead"
            ),
        );
    }
    if !(interval_ms < warn_ms && warn_ms < dead_ms) {
        valid = false;
        checker.push(
            ProblemKind::WarnOutOfRange,
            spans.warn_ms.clone().or(spans.dead_ms.clone()).or(spans.interval_ms.clone()).or(spans.table.clone()),
            "timing.warn_ms",
            format!(
                "warn_ms out of range: {} must be greater than {} and less than {}",
                shown("warn_ms", warn_ms, &spans.warn_ms),
                shown("interval_ms", interval_ms, &spans.interval_ms),
                shown("dead_ms", dead_ms, &spans.dead_ms)
            ),
            "warn_ms is the silence after which a link is reported late, before it is declared dead at dead_ms; pick a value between the two (e.g. half of dead_ms)".into(),
        );
    }
    if initdead_ms < dead_ms {
        valid = false;
        checker.push(
            ProblemKind::InitdeadTooShort,
            spans.initdead_ms.clone().or(spans.dead_ms.clone()).or(spans.table.clone()),
            "timing.initdead_ms",
            format!(
                "initdead_ms is shorter than dead_ms: {} < {}",
                shown("initdead_ms", initdead_ms, &spans.initdead_ms),
                shown("dead_ms", dead_ms, &spans.dead_ms)
            ),
            format!(
                "set initdead_ms to at least {dead_ms}: after a start, peers get at least as long to appear as they get to stay silent later"
            ),
        );
    }
    (valid.then_some(timing), interval_usable.then_some(interval_ms))
}

/// The optional `[shell]` table.
fn check_shell(checker: &mut Checker<'_>, root: &DeTable<'_>) -> Option<ShellConfig> {
    let table = match checker.table(root, "shell") {
        Some((table, _)) => table,
        None if root.contains_key("shell") => return None,
        None => return Some(DEFAULT_SHELL),
    };
    checker.unknown_keys(table, "shell", SHELL_KEYS, "[shell]");
    let mut shell = DEFAULT_SHELL;
    let mut valid = true;
    match checker.boolean(table, "mlockall", "shell") {
        Some((flag, _)) => shell.mlockall = flag,
        None => valid &= !table.contains_key("mlockall"),
    }
    match checker.integer(table, "realtime_priority", "shell", None, None, 0..=99) {
        Some((priority, _)) => shell.realtime_priority = priority as u8,
        None => valid &= !table.contains_key("realtime_priority"),
    }
    let stall_bounds = STALL_WARN_MS_MIN as i64..=STALL_WARN_MS_MAX as i64;
    match checker.integer(table, "stall_warn_ms", "shell", None, None, stall_bounds) {
        Some((stall_ms, _)) => shell.stall_warn_ms = stall_ms as u64,
        None => valid &= !table.contains_key("stall_warn_ms"),
    }
    valid.then_some(shell)
}

/// The `[[members]]` list: each entry, then duplicates and the 1 witness + 2 nodes rule.
fn check_members(checker: &mut Checker<'_>, root: &DeTable<'_>) -> Vec<ParsedMember> {
    let Some((key_span, tables)) = checker.array_of_tables(root, "members") else {
        if !root.contains_key("members") {
            checker.missing(
                None,
                "members",
                "[[members]] sections for the witness and the two nodes, each with name, id and role",
            );
        }
        return Vec::new();
    };
    let mut parsed = Vec::with_capacity(tables.len());
    for (index, table, span) in tables {
        let prefix = format!("members[{index}]");
        checker.unknown_keys(table, &prefix, MEMBER_KEYS, "[[members]]");
        let name_path = join(&prefix, "name");
        let name = checker
            .string(table, "name", &prefix, Some(span.clone()), Some("name = \"node-a\""))
            .filter(|(name, at)| checker.name(name, at.clone(), &name_path))
            .map(|(name, at)| (name.to_string(), at));
        let id = checker
            .integer(table, "id", &prefix, Some(span.clone()), Some("id = 2"), 1..=255)
            .map(|(id, at)| (id as u8, at));
        let role = match checker.string(table, "role", &prefix, Some(span.clone()), Some("role = \"node\"")) {
            Some(("witness", _)) => Some(Role::Witness),
            Some(("node", _)) => Some(Role::Node),
            Some((other, at)) => {
                checker.push(
                    ProblemKind::BadValue,
                    Some(at),
                    &join(&prefix, "role"),
                    format!("`role` must be \"witness\" or \"node\", not {other:?}"),
                    "a cluster has one witness (the management box) and two nodes (the servers)".into(),
                );
                None
            }
            None => None,
        };
        parsed.push(ParsedMember { index, name, id, role });
    }
    for (position, member) in parsed.iter().enumerate() {
        let earlier = &parsed[..position];
        if let Some((name, at)) = &member.name {
            if let Some(first) = earlier.iter().find(|m| m.name.as_ref().is_some_and(|(n, _)| n == name)) {
                checker.push(
                    ProblemKind::DuplicateMember,
                    Some(at.clone()),
                    &format!("members[{}].name", member.index),
                    format!("member {name:?} is listed twice (also as members[{}])", first.index),
                    "list each member once: one witness and two nodes, the same three in every member's file"
                        .into(),
                );
            }
        }
        if let Some((id, at)) = &member.id {
            if let Some(first) = earlier.iter().find(|m| m.id.as_ref().is_some_and(|(i, _)| i == id)) {
                checker.push(
                    ProblemKind::DuplicateMember,
                    Some(at.clone()),
                    &format!("members[{}].id", member.index),
                    format!("member id {id} is used twice (also by members[{}])", first.index),
                    "give each member its own id from 1 to 255".into(),
                );
            }
        }
    }
    let witnesses = parsed.iter().filter(|m| m.role == Some(Role::Witness)).count();
    let nodes = parsed.iter().filter(|m| m.role == Some(Role::Node)).count();
    let all_roles_known = parsed.iter().all(|m| m.role.is_some());
    if parsed.len() != MEMBERS_COUNT || (all_roles_known && (witnesses != 1 || nodes != 2)) {
        checker.push(
            ProblemKind::WrongMemberCount,
            Some(key_span),
            "members",
            format!(
                "wrong member count: {} members ({witnesses} witness, {nodes} nodes); a cluster has exactly {MEMBERS_COUNT}: one witness and two nodes",
                parsed.len()
            ),
            "list the same three [[members]] in every member's file".into(),
        );
    }
    parsed
}

/// The member names, each once, in file order.
fn member_names(members: &[ParsedMember]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::with_capacity(members.len());
    for (name, _) in members.iter().filter_map(|m| m.name.as_ref()) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
}

/// The `[[links]]` list of this member.
fn check_links(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    members: &[ParsedMember],
    me: Option<&str>,
) -> Vec<ParsedLink> {
    let Some((_, tables)) = checker.array_of_tables(root, "links") else {
        return Vec::new();
    };
    if let Some((_, _, span)) = tables.get(MAX_LINKS) {
        checker.push(
            ProblemKind::TooManyLinks,
            Some(span.clone()),
            &format!("links[{MAX_LINKS}]"),
            format!("too many links: {} configured, at most {MAX_LINKS}", tables.len()),
            "one or two links per peer is enough; remove some".into(),
        );
    }
    let names = member_names(members);
    let mut parsed: Vec<ParsedLink> = Vec::with_capacity(tables.len());
    // (link id, index) and (endpoint, index) of the links seen so far, for duplicates.
    let mut ids: Vec<(u8, usize)> = Vec::new();
    let mut endpoints: Vec<(String, usize)> = Vec::new();
    for (index, table, span) in tables {
        let prefix = format!("links[{index}]");
        let parent = Some(span.clone());
        let kind_name = checker.string(
            table,
            "kind",
            &prefix,
            parent.clone(),
            Some("kind = \"serial\" (or \"udp\", \"ethernet\")"),
        );
        let kind_keys = match kind_name {
            Some((name, at)) => match LINK_KINDS.iter().find(|(k, _)| *k == name) {
                Some(found) => Some(*found),
                None => {
                    checker.push(
                        ProblemKind::BadValue,
                        Some(at),
                        &join(&prefix, "kind"),
                        format!("`kind` must be \"serial\", \"udp\" or \"ethernet\", not {name:?}"),
                        "see docs/configuration.md for the keys of each kind".into(),
                    );
                    None
                }
            },
            None => None,
        };
        link_unknown_keys(checker, table, &prefix, kind_keys);

        let id = checker
            .integer(table, "id", &prefix, parent.clone(), Some("id = 1"), 1..=255)
            .map(|(id, at)| (id as u8, at));
        if let Some((id, at)) = &id {
            if let Some((_, first)) = ids.iter().find(|(seen, _)| seen == id) {
                checker.push(
                    ProblemKind::DuplicateLinkId,
                    Some(at.clone()),
                    &join(&prefix, "id"),
                    format!("duplicate link id: {id} is used twice (also by links[{first}])"),
                    "a link id is unique in the cluster and the same at both ends of the link".into(),
                );
            }
            ids.push((*id, index));
        }

        let peer = match checker.string(table, "peer", &prefix, parent.clone(), Some("peer = \"node-a\"")) {
            Some((peer, at)) if Some(peer) == me => {
                checker.push(
                    ProblemKind::LinkToSelf,
                    Some(at),
                    &join(&prefix, "peer"),
                    format!("link to self: peer {peer:?} is this member"),
                    "peer names the member at the other end of the link".into(),
                );
                None
            }
            Some((peer, at)) if !names.is_empty() && !names.contains(&peer) => {
                let others: Vec<&str> = names.iter().copied().filter(|n| Some(*n) != me).collect();
                let mut hint = format!("peer must be one of the other [[members]]: {}", others.join(", "));
                if let Some(close) = closest(peer, &others) {
                    hint = format!("did you mean {close:?}? {hint}");
                }
                checker.push(
                    ProblemKind::LinkToUnknownPeer,
                    Some(at),
                    &join(&prefix, "peer"),
                    format!("link to unknown peer {peer:?}: no such member in [[members]]"),
                    hint,
                );
                None
            }
            Some((peer, _)) => Some(peer.to_string()),
            None => None,
        };

        let mut baud_span = span.clone();
        let kind = match kind_keys.map(|(name, _)| name) {
            Some("serial") => {
                let device = checker
                    .string(table, "device", &prefix, parent.clone(), Some("device = \"/dev/ttyS1\""))
                    .and_then(|(device, at)| non_empty(checker, device, at, &join(&prefix, "device")));
                let baud = match checker.integer(table, "baud", &prefix, None, None, 0..=i64::from(u32::MAX))
                {
                    Some((baud, at)) => {
                        baud_span = at.clone();
                        let baud = baud as u32;
                        if STANDARD_BAUDS.contains(&baud) {
                            Some(baud)
                        } else {
                            checker.push(
                                ProblemKind::BadValue,
                                Some(at),
                                &join(&prefix, "baud"),
                                format!("baud = {baud} is not a standard rate"),
                                format!("use one of {STANDARD_BAUDS:?}"),
                            );
                            None
                        }
                    }
                    None if table.contains_key("baud") => None,
                    None => Some(DEFAULT_BAUD),
                };
                if let Some((device, at)) = &device {
                    check_endpoint(
                        checker,
                        &mut endpoints,
                        format!("serial {device}"),
                        index,
                        at,
                        &join(&prefix, "device"),
                        "each serial link needs its own port",
                    );
                }
                match (device, baud) {
                    (Some((device, _)), Some(baud)) => {
                        Some(LinkKind::Serial { device: PathBuf::from(device), baud })
                    }
                    _ => None,
                }
            }
            Some("udp") => {
                let local = udp_address(checker, table, "local", &prefix, parent.clone());
                let remote = udp_address(checker, table, "remote", &prefix, parent.clone());
                let broadcast = match checker.boolean(table, "broadcast", &prefix) {
                    Some((flag, _)) => Some(flag),
                    None if table.contains_key("broadcast") => None,
                    None => Some(false),
                };
                // Several UDP links may share a local address: the shell opens one socket per
                // local address and tells the links apart by the authenticated link id.
                let mut valid = true;
                if let (Some((local, _)), Some((remote, at))) = (&local, &remote) {
                    if local.is_ipv4() != remote.is_ipv4() {
                        valid = false;
                        checker.push(
                            ProblemKind::BadValue,
                            Some(at.clone()),
                            &join(&prefix, "remote"),
                            format!("local {local} and remote {remote} are of different IP versions"),
                            "use IPv4 at both ends or IPv6 at both ends".into(),
                        );
                    }
                }
                if let (Some((remote, at)), Some(false)) = (&remote, broadcast) {
                    if is_broadcast(remote) {
                        valid = false;
                        checker.push(
                            ProblemKind::BadValue,
                            Some(at.clone()),
                            &join(&prefix, "remote"),
                            format!("remote {remote} is a broadcast address but broadcast is false"),
                            "add `broadcast = true` to this link, or use the peer's own address".into(),
                        );
                    }
                }
                match (local, remote, broadcast) {
                    (Some((local, _)), Some((remote, _)), Some(broadcast)) if valid => {
                        Some(LinkKind::Udp { local, remote, broadcast })
                    }
                    _ => None,
                }
            }
            Some(_) => {
                let path = join(&prefix, "interface");
                match checker.string(
                    table,
                    "interface",
                    &prefix,
                    parent.clone(),
                    Some("interface = \"eth1\""),
                ) {
                    Some((interface, at)) => {
                        let valid = (1..=MAX_INTERFACE_CHARS).contains(&interface.len())
                            && interface != "."
                            && interface != ".."
                            && !interface.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control());
                        if valid {
                            Some(LinkKind::Ethernet { interface: interface.to_string() })
                        } else {
                            checker.push(
                                ProblemKind::BadValue,
                                Some(at),
                                &path,
                                format!("`interface` is not a valid interface name: {interface:?}"),
                                format!("use the name `ip link` shows: 1 to {MAX_INTERFACE_CHARS} characters, no '/' and no spaces"),
                            );
                            None
                        }
                    }
                    None => None,
                }
            }
            None => None,
        };
        parsed.push(ParsedLink { index, id: id.map(|(id, _)| id), peer, kind, baud_span });
    }
    parsed
}

/// Unknown keys of one link: keys of another kind are named as such.
fn link_unknown_keys(
    checker: &mut Checker<'_>,
    table: &DeTable<'_>,
    prefix: &str,
    kind: Option<(&str, &[&str])>,
) {
    for (key, _) in table.iter() {
        let name: &str = key.get_ref();
        if LINK_COMMON_KEYS.contains(&name) {
            continue;
        }
        let owner = LINK_KINDS.iter().find(|(_, keys)| keys.contains(&name)).map(|(k, _)| *k);
        let (message, valid): (String, Vec<&str>) = match kind {
            Some((kind, keys)) if !keys.contains(&name) => {
                let message = match owner {
                    Some(owner) => format!(
                        "unknown key `{name}`: it belongs to {owner} links, and this is a {kind} link"
                    ),
                    None => format!("unknown key `{name}`"),
                };
                (message, LINK_COMMON_KEYS.iter().chain(keys.iter()).copied().collect())
            }
            Some(_) => continue,
            None if owner.is_some() => continue,
            None => (
                format!("unknown key `{name}`"),
                LINK_COMMON_KEYS
                    .iter()
                    .chain(LINK_KINDS.iter().flat_map(|(_, keys)| keys.iter()))
                    .copied()
                    .collect(),
            ),
        };
        let place = match kind {
            Some((kind, _)) => format!("a {kind} link"),
            None => "[[links]]".to_string(),
        };
        let mut hint = format!("valid keys in {place}: {}", valid.join(", "));
        if let Some(close) = closest(name, &valid) {
            hint = format!("did you mean `{close}`? {hint}");
        }
        checker.push(ProblemKind::UnknownKey, Some(key.span()), &join(prefix, name), message, hint);
    }
}

fn non_empty<'a>(checker: &mut Checker<'_>, value: &'a str, at: Span, path: &str) -> Option<(&'a str, Span)> {
    if value.is_empty() {
        checker.push(
            ProblemKind::BadValue,
            Some(at),
            path,
            format!("`{}` is empty", last_key(path)),
            "name the device, e.g. \"/dev/ttyS1\"".into(),
        );
        return None;
    }
    Some((value, at))
}

/// Reports a second link that uses the same device, address or port as an earlier one.
fn check_endpoint(
    checker: &mut Checker<'_>,
    endpoints: &mut Vec<(String, usize)>,
    endpoint: String,
    index: usize,
    at: &Span,
    path: &str,
    hint: &str,
) {
    if let Some((_, first)) = endpoints.iter().find(|(seen, _)| *seen == endpoint) {
        checker.push(
            ProblemKind::BadValue,
            Some(at.clone()),
            path,
            format!("{endpoint} is already used by links[{first}]"),
            hint.to_string(),
        );
    }
    endpoints.push((endpoint, index));
}

/// A UDP `ip:port` with a non-zero port.
fn udp_address(
    checker: &mut Checker<'_>,
    table: &DeTable<'_>,
    key: &str,
    prefix: &str,
    parent: Option<Span>,
) -> Option<(SocketAddr, Span)> {
    let example = format!("{key} = \"10.0.0.1:694\"");
    let (text, at) = checker.string(table, key, prefix, parent, Some(&example))?;
    let path = join(prefix, key);
    match text.parse::<SocketAddr>() {
        Ok(address) if address.port() != 0 => Some((address, at)),
        Ok(_) => {
            checker.push(
                ProblemKind::BadValue,
                Some(at),
                &path,
                format!("`{key}` has port 0: {text:?}"),
                "use a fixed port, the same one the other end sends to (694 is customary)".into(),
            );
            None
        }
        Err(_) => {
            checker.push(
                ProblemKind::BadValue,
                Some(at),
                &path,
                format!("`{key}` is not an ip:port address: {text:?}"),
                "write it as \"10.0.0.1:694\" (IPv6: \"[fd00::1]:694\"); names are not resolved".into(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITNESS: &str = include_str!("../../../docs/examples/witness.toml");
    const NODE_A: &str = include_str!("../../../docs/examples/node-a.toml");
    const NODE_B: &str = include_str!("../../../docs/examples/node-b.toml");

    /// A small valid witness configuration that relies on every default.
    const MINIMAL: &str = r#"
cluster = "c1"
member = "w"
[[members]]
name = "w"
id = 1
role = "witness"
[[members]]
name = "a"
id = 2
role = "node"
[[members]]
name = "b"
id = 3
role = "node"
[[links]]
id = 1
peer = "a"
kind = "serial"
device = "/dev/ttyS1"
[[links]]
id = 2
peer = "b"
kind = "ethernet"
interface = "eth1"
"#;

    fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        parse_str(text, Path::new("/etc/ha-agent/agent.toml"))
    }

    fn kinds(problems: &[Problem]) -> Vec<ProblemKind> {
        problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn examples_parse() {
        let origin = Path::new("docs/examples/witness.toml");
        let witness = parse_str(WITNESS, origin).expect("witness example is valid");
        assert_eq!(witness.cluster, "payments");
        assert_eq!(witness.me, MemberId(1));
        assert_eq!(witness.me().role, Role::Witness);
        assert_eq!(witness.members.len(), MEMBERS_COUNT);
        assert_eq!(witness.key_file, PathBuf::from("docs/examples/cluster.key"));
        let ids: Vec<u8> = witness.links.iter().map(|l| l.id).collect();
        assert_eq!(ids, [1, 2, 11, 12]);
        assert_eq!(
            witness.links[0].kind,
            LinkKind::Serial { device: PathBuf::from("/dev/ttyS1"), baud: 115_200 }
        );
        assert_eq!(
            witness.links[2].kind,
            LinkKind::Udp {
                local: "10.10.11.1:694".parse().unwrap(),
                remote: "10.10.11.2:694".parse().unwrap(),
                broadcast: false
            }
        );
        assert_eq!(witness.links[2].peer, MemberId(2));
        assert_eq!(witness.authority.preferred.as_deref(), Some("node-a"));
        let relay = witness.relay.as_ref().expect("the witness has relays");
        let fenced: Vec<&str> = relay.channels.iter().map(|c| c.node.as_str()).collect();
        assert_eq!(fenced, ["node-a", "node-b"]);
        assert!(relay.channels.iter().all(|c| c.device.as_deref() == Some(Path::new("/dev/ttyS3"))));
        let snmp = witness.snmp.as_ref().expect("the witness notifies");
        assert_eq!(snmp.targets.len(), 1);
        assert_eq!(snmp.targets[0].address, "192.0.2.10:162".parse().unwrap());
        assert_eq!((witness.resources.as_ref(), witness.watchdog.as_ref()), (None, None));

        let node_a = parse_str(NODE_A, Path::new("node-a.toml")).expect("node-a example is valid");
        let node_b = parse_str(NODE_B, Path::new("node-b.toml")).expect("node-b example is valid");
        assert_eq!((node_a.me, node_a.me().role), (MemberId(2), Role::Node));
        assert_eq!((node_b.me, node_b.me().role), (MemberId(3), Role::Node));
        for node in [&node_a, &node_b] {
            let group = node.resources.as_ref().expect("nodes run the group");
            let names: Vec<&str> = group.resources.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(names, ["volume", "service"]);
            let agents: Vec<String> = group.resources.iter().map(|r| r.agent.to_string()).collect();
            assert_eq!(agents, ["ocf:heartbeat:Dummy", "ocf:heartbeat:Dummy"]);
            let watchdog = node.watchdog.as_ref().expect("nodes have a watchdog");
            assert_eq!(watchdog.timeout_s, 10);
            assert_eq!(node.relay, None);
            // One [authority] in every file: the witness's deadlines use the nodes' values.
            assert_eq!(node.authority, witness.authority);
        }
        // The same members everywhere, and each link id names the same pair at both ends.
        assert_eq!(witness.members, node_a.members);
        assert_eq!(witness.members, node_b.members);
        let pair = |config: &Config, id: u8| {
            let link = config.links.iter().find(|l| l.id == id).expect("link present");
            let mut pair = [config.me, link.peer];
            pair.sort();
            pair
        };
        for (id, a, b) in [(1, &witness, &node_a), (2, &witness, &node_b), (3, &node_a, &node_b)] {
            assert_eq!(pair(a, id), pair(b, id), "serial link {id}");
        }
        for (id, a, b) in [(11, &witness, &node_a), (12, &witness, &node_b), (13, &node_a, &node_b)] {
            assert_eq!(pair(a, id), pair(b, id), "udp link {id}");
        }
    }

    #[test]
    fn cluster_id_is_sha256_prefix() {
        // Computed independently: python3 -c "hashlib.sha256(b'payments').digest()[:4]".
        assert_eq!(cluster_id_of("payments"), 0xdf38_4ae9);
        assert_eq!(parse_str(WITNESS, Path::new("w.toml")).unwrap().cluster_id, 0xdf38_4ae9);
    }

    #[test]
    fn defaults_apply() {
        let config = parse(MINIMAL).expect("minimal configuration is valid");
        assert_eq!(config.timing, DEFAULT_TIMING);
        assert_eq!(
            config.timing,
            Timing { interval_ms: 200, warn_ms: 500, dead_ms: 1000, initdead_ms: 5000 }
        );
        assert_eq!(config.shell, ShellConfig { mlockall: true, realtime_priority: 0, stall_warn_ms: 100 });
        assert_eq!(config.authority, DEFAULT_AUTHORITY);
        assert_eq!((config.resources, config.relay, config.watchdog, config.snmp), (None, None, None, None));
        assert_eq!(config.key_file, PathBuf::from("/etc/ha-agent/cluster.key"));
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/ha-agent"));
        assert_eq!(config.control_socket, PathBuf::from("/run/ha-agent/control.sock"));
        assert_eq!(
            config.links[0].kind,
            LinkKind::Serial { device: "/dev/ttyS1".into(), baud: DEFAULT_BAUD }
        );
        assert_eq!(config.links[1].kind, LinkKind::Ethernet { interface: "eth1".into() });
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let text = format!("key_file = \"keys/k.hex\"\nstate_dir = \"state\"\n{MINIMAL}");
        let config = parse_str(&text, Path::new("/srv/cfg/agent.toml")).unwrap();
        assert_eq!(config.key_file, PathBuf::from("/srv/cfg/keys/k.hex"));
        assert_eq!(config.state_dir, PathBuf::from("/srv/cfg/state"));
        let config = parse_str(&text, Path::new("agent.toml")).unwrap();
        assert_eq!(config.key_file, PathBuf::from("keys/k.hex"));
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let text = MINIMAL
            .replace("cluster = \"c1\"", "cluster = \"c1\"\nbogus = 1")
            .replace("id = 2\nrole", "id = 300\nrole")
            .replace("peer = \"b\"", "peer = \"w\"");
        let problems = parse(&text).unwrap_err();
        assert_eq!(
            kinds(&problems),
            // NoLinkToPeer points at the first [[links]] header, before the link to self.
            [
                ProblemKind::UnknownKey,
                ProblemKind::BadValue,
                ProblemKind::NoLinkToPeer,
                ProblemKind::LinkToSelf
            ]
        );
        assert_eq!(problems[0].location, "/etc/ha-agent/agent.toml:line 3: bogus");
        assert_eq!(problems[1].location, "/etc/ha-agent/agent.toml:line 11: members[1].id");
        assert_eq!(problems[2].location, "/etc/ha-agent/agent.toml:line 17: links");
        assert!(problems[2].message.contains("\"b\""), "{}", problems[2].message);
    }

    #[test]
    fn authority_values_are_parsed() {
        let text = format!(
            "{MINIMAL}[authority]\nself_fence_ms = 3000\nstop_timeout_ms = 90000\nmargin_ms = 500\npreferred = \"b\"\nauto_failback = true\nwait_for_all = true\npower_on_after_fence = false\nunknown_fence_bound_ms = 120000\nfence_retry_initial_ms = 2000\nfence_retry_max_ms = 2000\nrequire_watchdog = true\n"
        );
        let config = parse(&text).expect("valid authority");
        assert_eq!(
            config.authority,
            AuthorityConfig {
                self_fence_ms: 3000,
                stop_timeout_ms: 90_000,
                margin_ms: 500,
                preferred: Some("b".into()),
                auto_failback: true,
                wait_for_all: true,
                power_on_after_fence: false,
                unknown_fence_bound_ms: 120_000,
                fence_retry_initial_ms: 2000,
                fence_retry_max_ms: 2000,
                require_watchdog: true,
            }
        );
    }

    #[test]
    fn authority_bounds_hold_at_their_edges() {
        let with = |line: &str| parse(&format!("{MINIMAL}[authority]\n{line}\n"));
        // self_fence_ms = dead_ms and margin_ms = interval_ms are the smallest valid values.
        assert!(with("self_fence_ms = 1000").is_ok());
        assert_eq!(kinds(&with("self_fence_ms = 999").unwrap_err()), [ProblemKind::SelfFenceTooShort]);
        assert!(with("margin_ms = 200").is_ok());
        assert_eq!(kinds(&with("margin_ms = 199").unwrap_err()), [ProblemKind::MarginTooShort]);
        assert!(with(&format!("stop_timeout_ms = {AUTHORITY_MS_MAX}")).is_ok());
        assert!(with("unknown_fence_bound_ms = 62000").is_ok());
        for bad in [
            format!("stop_timeout_ms = {}", AUTHORITY_MS_MAX + 1),
            "stop_timeout_ms = 0".to_string(),
            "fence_retry_initial_ms = 0".to_string(),
            "margin_ms = -1".to_string(),
            // Below self_fence_ms + stop_timeout_ms = 2000 + 60000 (the defaults).
            "unknown_fence_bound_ms = 61999".to_string(),
            "auto_failback = \"yes\"".to_string(),
            "preferred = 2".to_string(),
        ] {
            assert_eq!(kinds(&with(&bad).unwrap_err()), [ProblemKind::BadValue], "{bad}");
        }
        assert_eq!(kinds(&with("auto_failback = true").unwrap_err()), [ProblemKind::MissingKey]);
        // The witness has no resources: require_watchdog does not concern it.
        assert!(with("require_watchdog = true").is_ok());
    }

    #[test]
    fn a_default_that_breaks_a_rule_is_named_as_the_default() {
        // dead_ms = 3000 makes the default self_fence_ms (2000) too short; nothing in the file
        // is wrong at a line, so the problem has none.
        let text = format!(
            "{MINIMAL}[timing]\ninterval_ms = 200\nwarn_ms = 1000\ndead_ms = 3000\ninitdead_ms = 5000\n"
        );
        let problems = parse(&text).unwrap_err();
        assert_eq!(kinds(&problems), [ProblemKind::SelfFenceTooShort]);
        assert_eq!(problems[0].location, "/etc/ha-agent/agent.toml: authority.self_fence_ms");
        assert!(
            problems[0].message.contains("self_fence_ms = 2000 (the default)"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn serde_sections_report_every_section_at_once() {
        // One problem per broken section: serde stops at a section's first error, but each
        // section is deserialized on its own.
        let text = format!(
            "{MINIMAL}[watchdog]\ntimeout = 5\n[snmp]\ncolour = 1\n[[relay.channels]]\nnode = \"a\"\nboard = \"x10\"\n"
        );
        let problems = parse(&text).unwrap_err();
        let locations: Vec<&str> = problems.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "/etc/ha-agent/agent.toml:line 27: watchdog.timeout",
                "/etc/ha-agent/agent.toml:line 29: snmp.colour",
                "/etc/ha-agent/agent.toml:line 32: relay.channels[0].board",
            ]
        );
        assert_eq!(
            kinds(&problems),
            [ProblemKind::UnknownKey, ProblemKind::UnknownKey, ProblemKind::BadValue]
        );
    }

    #[test]
    fn relative_snmp_key_files_resolve_against_the_config_directory() {
        let text = format!(
            "{MINIMAL}[[snmp.targets]]\nname = \"s\"\nversion = \"v3\"\naddress = \"192.0.2.11:162\"\nkind = \"trap\"\nuser = \"u\"\nauth = \"sha1\"\nauth_key_file = \"keys/auth\"\n"
        );
        let config = parse_str(&text, Path::new("/srv/cfg/agent.toml")).unwrap();
        let target = &config.snmp.unwrap().targets[0];
        assert_eq!(target.auth_key_file.as_deref(), Some(Path::new("/srv/cfg/keys/auth")));
    }

    #[test]
    fn serial_interval_boundary_is_the_wire_time() {
        let baud = 9600;
        let wire_ms = serial_wire_ms(baud);
        // Exactly the wire time of the largest frame, rounded up.
        let bits_ms = MAX_SERIAL_BYTES as u64 * SERIAL_BITS_PER_BYTE * 1000;
        assert!(wire_ms * u64::from(baud) >= bits_ms && (wire_ms - 1) * u64::from(baud) < bits_ms);
        let with_interval = |interval_ms: u64| {
            let timing = format!(
                "[timing]\ninterval_ms = {interval_ms}\nwarn_ms = {}\ndead_ms = {}\ninitdead_ms = {}\n",
                interval_ms * 2,
                interval_ms * 3,
                interval_ms * 3
            );
            parse(&format!("{}\n{timing}", MINIMAL.replace("/dev/ttyS1\"", "/dev/ttyS1\"\nbaud = 9600")))
        };
        assert!(with_interval(wire_ms).is_ok());
        let problems = with_interval(wire_ms - 1).unwrap_err();
        assert_eq!(kinds(&problems), [ProblemKind::IntervalTooShortForBaud]);
    }

    #[test]
    fn udp_broadcast_needs_the_flag() {
        let udp = "kind = \"udp\"\nlocal = \"10.0.0.1:694\"\nremote = \"10.0.0.255:694\"";
        let text = MINIMAL.replace("kind = \"ethernet\"\ninterface = \"eth1\"", udp);
        assert_eq!(kinds(&parse(&text).unwrap_err()), [ProblemKind::BadValue]);
        let config = parse(&format!("{text}\nbroadcast = true")).unwrap();
        assert!(matches!(config.links[1].kind, LinkKind::Udp { broadcast: true, .. }));
    }

    #[test]
    fn too_many_links() {
        let mut text = MINIMAL.to_string();
        for id in 10..10 + MAX_LINKS {
            text.push_str(&format!(
                "[[links]]\nid = {id}\npeer = \"a\"\nkind = \"ethernet\"\ninterface = \"eth{id}\"\n"
            ));
        }
        let problems = parse(&text).unwrap_err();
        assert_eq!(kinds(&problems), [ProblemKind::TooManyLinks]);
        assert!(problems[0].location.ends_with(&format!("links[{MAX_LINKS}]")));
    }

    #[test]
    fn did_you_mean() {
        assert_eq!(closest("intervall_ms", TIMING_KEYS), Some("interval_ms"));
        assert_eq!(closest("colour", TIMING_KEYS), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ha-agent-config-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn key_file_hex_with_whitespace() {
        let dir = temp_dir("key");
        let path = dir.join("k");
        std::fs::write(&path, "00 01 02 03 04 05 06 07\n08090a0b0c0d0E0F\n").unwrap();
        let key = load_key(&path).expect("16-byte key");
        assert_eq!(key.0.as_slice(), (0u8..16).collect::<Vec<_>>().as_slice());

        std::fs::write(&path, "00112233").unwrap();
        assert_eq!(load_key(&path).unwrap_err().kind, ProblemKind::KeyTooShort);
        std::fs::write(&path, "0".repeat(129)).unwrap();
        assert_eq!(load_key(&path).unwrap_err().kind, ProblemKind::BadValue);
        std::fs::write(&path, "0".repeat(31)).unwrap();
        assert_eq!(load_key(&path).unwrap_err().kind, ProblemKind::BadValue);
        // A bad character is located, never echoed, and neither is the rest of the key.
        std::fs::write(&path, "5ec2e7a5ec2e7a5ec2e7a5ec2e7aZZ5ec2e7").unwrap();
        let problem = load_key(&path).unwrap_err();
        assert_eq!(problem.kind, ProblemKind::BadValue);
        let shown = problem.to_string();
        assert!(!shown.contains("ZZ") && !shown.contains("5ec2e7"), "{shown}");
        assert_eq!(load_key(&dir.join("absent")).unwrap_err().kind, ProblemKind::KeyFileMissing);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fence_service_rules_and_its_key() {
        let plug = |node: &str, device: &str| {
            format!("\n[[fence_service.plugs]]\nnode = \"{node}\"\nboard = \"modbus\"\ndevice = \"{device}\"\nchannel = 5\n")
        };
        let section = |plugs: &str| {
            format!("\n[fence_service]\nlisten = \"0.0.0.0:7790\"\nkey_file = \"fence.key\"\nclients = [\"10.0.0.21\"]\n{plugs}")
        };
        let problems = |text: &str| check_text(text, Path::new("w.toml")).checker.finish();
        // Valid on the witness, with its key file resolved next to the configuration.
        let good = format!("{WITNESS}{}", section(&plug("pm-a", "/dev/ttyUSB7")));
        let config = parse_str(&good, Path::new("/etc/x/w.toml")).unwrap();
        assert_eq!(config.fence_service.unwrap().key_file, PathBuf::from("/etc/x/fence.key"));
        // A member's name, a device of [relay], a heartbeat link's port.
        for (bad, kind, at) in [
            (plug("node-a", "/dev/ttyUSB7"), ProblemKind::WrongRole, "fence_service.plugs[0].node"),
            (plug("pm-a", "/dev/ttyS3"), ProblemKind::BadValue, "fence_service.plugs[0]"),
            (plug("pm-a", "/dev/ttyS1"), ProblemKind::BadValue, "fence_service.plugs[0].device"),
        ] {
            let found = problems(&format!("{WITNESS}{}", section(&bad)));
            assert_eq!(kinds(&found), [kind], "{found:?}");
            assert!(found[0].location.ends_with(at), "{}", found[0]);
        }
        // GPIO: a plug's output line is a [relay] channel's sense line.
        let gpio_relay = WITNESS.replacen(
            "board = \"modbus\"\ndevice = \"/dev/ttyS3\"\nbaud = 9600\naddress = 1\nchannel = 1\n",
            "board = \"gpio\"\nchip = \"/dev/gpiochip0\"\nline = 3\nsense_line = 4\n",
            1,
        );
        assert_ne!(gpio_relay, WITNESS);
        let gpio_plug = |line: u32| {
            format!("\n[[fence_service.plugs]]\nnode = \"pm-a\"\nboard = \"gpio\"\nchip = \"/dev/gpiochip0\"\nline = {line}\n")
        };
        assert_eq!(problems(&format!("{gpio_relay}{}", section(&gpio_plug(5)))), []);
        let found = problems(&format!("{gpio_relay}{}", section(&gpio_plug(4))));
        assert_eq!(kinds(&found), [ProblemKind::BadValue], "{found:?}");
        assert!(found[0].location.ends_with("fence_service.plugs[0]"), "{}", found[0]);
        // On a node.
        let found = problems(&format!("{NODE_A}{}", section(&plug("pm-a", "/dev/ttyUSB7"))));
        assert_eq!(kinds(&found), [ProblemKind::WrongRole]);

        // The key file: checked like the cluster key, and never the cluster key itself.
        let dir = temp_dir("fence-key");
        let path = dir.join("w.toml");
        std::fs::write(&path, &good).unwrap();
        std::fs::write(dir.join("cluster.key"), "00".repeat(32)).unwrap();
        std::fs::set_permissions(dir.join("cluster.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let report = check(&path, None);
        assert_eq!(kinds(&report.problems), [ProblemKind::KeyFileMissing], "{:?}", report.problems);
        assert!(report.problems[0].location.ends_with("fence_service.key_file"), "{}", report.problems[0]);
        std::fs::write(dir.join("fence.key"), "00".repeat(32)).unwrap();
        std::fs::set_permissions(dir.join("fence.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let report = check(&path, None);
        assert_eq!(kinds(&report.problems), [ProblemKind::BadValue], "{:?}", report.problems);
        assert!(report.problems[0].message.contains("is the cluster key"), "{}", report.problems[0]);
        std::fs::write(dir.join("fence.key"), "11".repeat(32)).unwrap();
        assert!(check(&path, None).problems.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The warnings of a text that is valid.
    fn warnings(text: &str) -> Vec<Problem> {
        let checked = check_text(text, Path::new("agent.toml"));
        let (problems, warnings) = checked.checker.finish_with_warnings();
        assert!(problems.is_empty(), "{problems:?}");
        warnings
    }

    #[test]
    fn the_examples_give_no_warning() {
        for text in [WITNESS, NODE_A, NODE_B] {
            assert_eq!(warnings(text), []);
        }
    }

    #[test]
    fn one_link_to_a_member_is_a_warning() {
        let found = warnings(MINIMAL);
        assert_eq!(kinds(&found), [ProblemKind::OneLinkToPeer, ProblemKind::OneLinkToPeer]);
        assert_eq!(found[0].location, "agent.toml:line 16: links[0]");
        assert!(found[0].message.starts_with("only one link to \"a\""), "{}", found[0]);
        assert!(found[1].message.starts_with("only one link to \"b\""), "{}", found[1]);
        let two_to_a =
            format!("{MINIMAL}[[links]]\nid = 3\npeer = \"a\"\nkind = \"ethernet\"\ninterface = \"eth2\"\n");
        assert_eq!(kinds(&warnings(&two_to_a)), [ProblemKind::OneLinkToPeer]);
        assert!(parse(&two_to_a).is_ok(), "a warning leaves the file valid");
    }

    #[test]
    fn a_node_without_watchdog_is_a_warning_unless_it_is_required() {
        let without = NODE_A.replace("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout_s = 10\n", "");
        assert_ne!(without, NODE_A);
        let found = warnings(&without);
        assert_eq!(kinds(&found), [ProblemKind::NoWatchdog]);
        assert_eq!(found[0].location, "agent.toml: watchdog");
        // With require_watchdog it is a problem, reported once, not also a warning.
        let required = without.replace("require_watchdog = false", "require_watchdog = true");
        let checked = check_text(&required, Path::new("agent.toml"));
        let (problems, warned) = checked.checker.finish_with_warnings();
        assert_eq!((kinds(&problems), kinds(&warned)), (vec![ProblemKind::MissingKey], vec![]));
        // The witness needs none.
        assert_eq!(warnings(WITNESS), []);
    }

    #[test]
    fn relay_warnings_and_the_command_channel_default() {
        let relay = |channel: &str| {
            WITNESS.replacen(
                "[[relay.channels]]\nnode = \"node-b\"\nboard = \"modbus\"\ndevice = \"/dev/ttyS3\"\nbaud = 9600\naddress = 1\nchannel = 1\n",
                &format!("[[relay.channels]]\nnode = \"node-b\"\n{channel}\n"),
                1,
            )
        };
        let command = "board = \"command\"\ncommand = \"/usr/sbin/fence_ipmilan\"\nplug = \"2\"";
        // The default timeout fits a fence agent with fence-agents' defaults.
        let default = relay(command);
        assert_ne!(default, WITNESS);
        assert_eq!(warnings(&default), []);
        let config = parse_str(&default, Path::new("w.toml")).unwrap();
        let channels = &config.relay.as_ref().unwrap().channels;
        assert_eq!(channels[1].exchange_timeout_ms(), crate::devices::config::COMMAND_TIMEOUT_MS_DEFAULT);
        assert_eq!(channels[1].fence_agent_needs_ms(), Some(25_000));
        assert_eq!(channels[0].exchange_timeout_ms(), 1000, "a relay board keeps its short exchange");
        assert_eq!(channels[0].fence_agent_needs_ms(), None);

        // A relay board's timeout on a command channel.
        let short = relay(&format!("{command}\ntimeout_ms = 1000"));
        let found = warnings(&short);
        assert_eq!(kinds(&found), [ProblemKind::CommandTimeoutShort]);
        assert!(found[0].location.ends_with(": relay.channels[1].timeout_ms"), "{}", found[0]);
        assert!(
            found[0]
                .message
                .starts_with("timeout_ms = 1000 is shorter than the fence agent may need: 25000 ms"),
            "{}",
            found[0]
        );
        // The default, against an agent told to wait longer for the power.
        let slow =
            relay(&format!("{command}\noptions = {{ power_timeout = \"40\", login_timeout = \"10\" }}"));
        let found = warnings(&slow);
        assert_eq!(kinds(&found), [ProblemKind::CommandTimeoutShort]);
        assert!(
            found[0].message.starts_with(
                "timeout_ms = 30000 (the default) is shorter than the fence agent may need: 50000 ms"
            ),
            "{}",
            found[0]
        );

        let trusting = relay(&format!("{command}\ntrust_unconfirmed = true"));
        let found = warnings(&trusting);
        assert_eq!(kinds(&found), [ProblemKind::UnconfirmedFenceAllowed]);
        assert!(found[0].location.ends_with(": relay.channels[1].trust_unconfirmed"), "{}", found[0]);
        assert!(found.iter().all(|w| w.kind.is_warning()));
    }

    #[test]
    fn load_refuses_a_large_file() {
        let dir = temp_dir("large");
        let path = dir.join("agent.toml");
        std::fs::write(&path, format!("{MINIMAL}\n#{}", "x".repeat(MAX_CONFIG_BYTES as usize))).unwrap();
        assert_eq!(kinds(&load(&path).unwrap_err()), [ProblemKind::FileTooLarge]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
