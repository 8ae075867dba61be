//! Configuration: one TOML file per member, parsed at the edge into a validated [`Config`].
//!
//! Owns the schema, the defaults, every validation rule and the explanation of each problem
//! (location + message + hint) that `ha-agent check-config` prints. It reads the configuration
//! file and inspects the key file (existence, permissions, length); it opens no device and no
//! socket, and it does not decide anything at run time. The reference is
//! `docs/configuration.md`.
//!
//! CONTRACT (shared with the shell and the tests; keep stable): the types below and
//! [`parse_str`], [`load`], [`load_key`].

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::wire::ClusterKey;

/// Default configuration path.
pub const DEFAULT_PATH: &str = "/etc/ha-agent/agent.toml";
/// A cluster has exactly three members: one witness and two nodes.
pub const MEMBERS_COUNT: usize = 3;
/// Bound on the links one member may configure.
pub const MAX_LINKS: usize = 8;
/// Bound on the configuration file's size.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Identifier of a member on the wire (1..=255, unique in the cluster).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Witness,
    Node,
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
}

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

/// Parse and validate configuration text. Pure: does not touch the filesystem (the key file
/// checks are in [`load`]). `origin` only names the file in problem locations.
pub fn parse_str(text: &str, origin: &Path) -> Result<Config, Vec<Problem>> {
    let _ = (text, origin);
    Err(vec![Problem {
        kind: ProblemKind::Syntax,
        location: origin.display().to_string(),
        message: "configuration parser not implemented yet".into(),
        hint: String::new(),
    }])
}

/// Read, parse and validate a configuration file, including the key file checks.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Problem {
            kind: ProblemKind::Unreadable,
            location: path.display().to_string(),
            message: format!("cannot read the file: {e}"),
            hint: "check the path and the permissions".into(),
        }]
    })?;
    parse_str(&text, path)
}

/// Read the cluster key from its file (hex text, whitespace ignored).
pub fn load_key(path: &Path) -> Result<ClusterKey, Problem> {
    let _ = path;
    Err(Problem {
        kind: ProblemKind::KeyFileMissing,
        location: path.display().to_string(),
        message: "not implemented".into(),
        hint: String::new(),
    })
}

pub mod report;
