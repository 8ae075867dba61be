//! What a configuration problem is and where: its kind ([`ProblemKind`], one variant per
//! rule), the typed key path ([`KeyPath`], rendered `relay.channels[1].baud`), the problem as
//! a section's validator finds it ([`Found`]: kind, path, message, hint, no file and no line),
//! and the one [`Sink`] every validator writes to.
//!
//! Owns only these small types, below every module that validates a section (`config`,
//! `devices`, `snmp`: none of them depends on another for its problems; `config` re-exports
//! this module as `config::path`). It does not place a path in the file (the checker looks the
//! path up in the parsed tree, segment by segment, to find its line) and it holds no rule.
//! Validators outside `config` (`devices::config`, `devices::console::config`,
//! `snmp::config`, `core::resources::config`, `config::syslog`) write here instead of
//! returning text that would have to be parsed back.

#![forbid(unsafe_code)]

use core::fmt;

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

/// One step of a key path: a key of a table, or the index of an element of an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A key path from the root of the file, e.g. `relay.channels[1].baud`. Built with
/// [`KeyPath::root`], [`KeyPath::key`] and [`KeyPath::index`]; never parsed from text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The empty path: the file itself.
    pub fn empty() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// A path of one top-level key (`relay`).
    pub fn root(key: &str) -> KeyPath {
        KeyPath(vec![Segment::Key(key.to_string())])
    }

    /// This path and then `key`.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        KeyPath(segments)
    }

    /// This path and then element `index` of the array it names.
    pub fn index(&self, index: usize) -> KeyPath {
        assert!(!self.0.is_empty(), "an index follows the key of an array");
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The last key of the path (`baud` of `relay.channels[1].baud`, `channels` of
    /// `relay.channels[1]`), or "" for the empty path.
    pub fn last_key(&self) -> &str {
        self.0
            .iter()
            .rev()
            .find_map(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                Segment::Index(_) => None,
            })
            .unwrap_or("")
    }

    /// The path's text without its last segment's indexes: how `last_key` reads in a
    /// message about an element (`channels[1]`).
    pub fn last_shown(&self) -> String {
        let start = self.0.iter().rposition(|s| matches!(s, Segment::Key(_))).unwrap_or(0);
        KeyPath(self.0[start..].to_vec()).to_string()
    }

    /// Whether this path starts with `top` (its first key).
    pub fn is_under(&self, top: &str) -> bool {
        matches!(self.0.first(), Some(Segment::Key(k)) if k == top)
    }

    /// Whether the last segment is an index (`links[2]`).
    pub fn ends_in_index(&self) -> bool {
        matches!(self.0.last(), Some(Segment::Index(_)))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A problem as a validator finds it: what is wrong, at which key, and how to fix it. The
/// checker adds the file and the line when it turns it into a [`super::Problem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: ProblemKind,
    pub path: KeyPath,
    pub message: String,
    pub hint: String,
}

impl Found {
    pub fn new(
        kind: ProblemKind,
        path: KeyPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Found {
        Found { kind, path, message: message.into(), hint: hint.into() }
    }

    /// A value that breaks a rule ([`ProblemKind::BadValue`]), the most common kind.
    pub fn bad_value(path: KeyPath, message: impl Into<String>, hint: impl Into<String>) -> Found {
        Found::new(ProblemKind::BadValue, path, message, hint)
    }
}

impl fmt::Display for Found {
    /// `key.path: message` and the hint line, as `check-config` prints a problem without its file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}\n  hint: {}", self.path, self.message, self.hint)
    }
}

/// Where validators write what they find. The checker is one (it places each problem in the
/// file); a `Vec<Found>` is another, for a validator used alone.
pub trait Sink {
    fn found(&mut self, found: Found);
}

impl Sink for Vec<Found> {
    fn found(&mut self, found: Found) {
        self.push(found);
    }
}

/// Counts what passes through to another sink, so a caller can tell whether a validator found
/// anything.
pub struct Counting<'s> {
    pub inner: &'s mut dyn Sink,
    pub count: usize,
}

impl<'s> Counting<'s> {
    pub fn new(inner: &'s mut dyn Sink) -> Self {
        Counting { inner, count: 0 }
    }
}

impl Sink for Counting<'_> {
    fn found(&mut self, found: Found) {
        self.count += 1;
        self.inner.found(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_the_file_spells_them() {
        let channel = KeyPath::root("relay").key("channels").index(1);
        assert_eq!(channel.key("baud").to_string(), "relay.channels[1].baud");
        assert_eq!(channel.to_string(), "relay.channels[1]");
        assert_eq!(channel.last_key(), "channels");
        assert_eq!(channel.last_shown(), "channels[1]");
        assert_eq!(channel.key("baud").last_key(), "baud");
        assert!(channel.is_under("relay") && !channel.is_under("watchdog"));
        assert!(channel.ends_in_index() && !channel.key("baud").ends_in_index());
        assert_eq!(KeyPath::empty().to_string(), "");
        let params = KeyPath::root("resources").key("group").index(0).key("params").key("bad-name");
        assert_eq!(params.to_string(), "resources.group[0].params.bad-name");
    }
}
