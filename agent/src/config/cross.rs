//! `check-config` across files: the witness's and the nodes' configurations checked against
//! each other (`ha-agent check-config witness.toml node-a.toml node-b.toml`).
//!
//! Owns the rules that no single file can check: one file per member, the same cluster,
//! members, `[timing]`, `[authority]`, the nodes' same `[resources]`, the same key (compared
//! by a fingerprint, a SHA-256 of the key under a domain prefix, never printed), and each link
//! seen from both ends (one id, one pair of members, one kind, a UDP remote that is the other
//! end's local address, one baud rate on a serial pair). Each file is first checked alone with
//! [`super::check`]; the cross rules run on the files that are valid. Every problem names the
//! file, its line and key path, the member and the other file. It does not print (that is
//! `report`) and runs no resource agent.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::de::DeTable;

use super::path::KeyPath;
use super::{AgentInspector, AuthorityConfig, Config, LinkKind, Problem, ProblemKind, Report, Timing};

/// Domain prefix of a key's fingerprint: the fingerprint is of no use for anything else.
const KEY_FINGERPRINT_PREFIX: &[u8] = b"ha-agent cluster key fingerprint\0";

/// One file and what checking it alone found.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub report: Report,
}

/// What [`check_files`] found: each file alone, then the files against each other.
#[derive(Debug)]
pub struct FilesReport {
    pub files: Vec<FileReport>,
    /// The cross-file problems (among the valid files), in the order of the files.
    pub cross: Vec<Problem>,
}

impl FilesReport {
    /// Whether every file is valid and they agree.
    pub fn is_valid(&self) -> bool {
        self.cross.is_empty() && self.files.iter().all(|f| f.report.config.is_some())
    }
}

/// Checks each file alone (with `agents`, when given, on the nodes' resource agents), then the
/// valid ones against each other.
pub fn check_files(paths: &[PathBuf], agents: Option<&dyn AgentInspector>) -> FilesReport {
    let files: Vec<FileReport> = paths
        .iter()
        .map(|path| FileReport { path: path.clone(), report: super::check(path, agents) })
        .collect();
    let valid: Vec<Member<'_>> = files
        .iter()
        .filter_map(|file| {
            let config = file.report.config.as_ref()?;
            // The file was read and its key loaded by `check` a moment ago; a file changed since
            // is read as it is now.
            let text = super::read_config_file(&file.path).ok()?;
            let key = super::load_key(&config.key_file).ok()?;
            Some(Member {
                path: &file.path,
                text,
                config,
                key_fingerprint: Sha256::new()
                    .chain_update(KEY_FINGERPRINT_PREFIX)
                    .chain_update(&key.0)
                    .finalize()
                    .into(),
            })
        })
        .collect();
    let cross = cross_check(&valid);
    FilesReport { files, cross }
}

/// A valid file, with what the cross rules need.
struct Member<'a> {
    path: &'a Path,
    text: String,
    config: &'a Config,
    key_fingerprint: [u8; 32],
}

impl Member<'_> {
    fn name(&self) -> &str {
        &self.config.me().name
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// `FILE:line N: key.path`, the line of the key (or of the nearest enclosing key present).
    fn location(&self, key_path: &KeyPath) -> String {
        let (document, _) = DeTable::parse_recoverable(&self.text);
        let span = super::sections::span_of(document.get_ref(), key_path);
        let mut location = self.shown();
        if let Some(span) = span {
            let line = self.text.as_bytes()[..span.start.min(self.text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            location.push_str(&format!(":line {line}"));
        }
        location.push_str(": ");
        location.push_str(&key_path.to_string());
        location
    }

    fn problem(&self, kind: ProblemKind, key_path: KeyPath, message: String, hint: String) -> Problem {
        Problem {
            kind,
            location: self.location(&key_path),
            message: format!("{}: {message}", self.name()),
            hint,
        }
    }

    fn member_name(&self, id: super::MemberId) -> &str {
        self.config.member(id).map_or("?", |m| m.name.as_str())
    }
}

fn cross_check(files: &[Member<'_>]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(reference) = files.first() else {
        return problems;
    };
    for (index, file) in files.iter().enumerate() {
        if let Some(earlier) = files[..index].iter().find(|f| f.name() == file.name()) {
            problems.push(file.problem(
                ProblemKind::SameMember,
                KeyPath::root("member"),
                format!("{} is also the member of {}", file.name(), earlier.shown()),
                "give one file per member: the witness's and each node's".into(),
            ));
        }
    }
    for file in &files[1..] {
        same_cluster(file, reference, &mut problems);
        same_members(file, reference, &mut problems);
        same_timing(file, reference, &mut problems);
        same_authority(file, reference, &mut problems);
        if file.key_fingerprint != reference.key_fingerprint {
            problems.push(file.problem(
                ProblemKind::KeyMismatch,
                KeyPath::root("key_file"),
                format!(
                    "the key in {} is not the key of {} ({}): frames of one would fail authentication at the other",
                    file.config.key_file.display(),
                    reference.name(),
                    reference.shown()
                ),
                "copy one key file to every member (docs/configuration.md, Key file)".into(),
            ));
        }
    }
    // The nodes run one group: compare each node with the first node.
    let mut nodes = files.iter().filter(|f| f.config.resources.is_some());
    if let Some(first) = nodes.next() {
        for node in nodes {
            if node.config.resources != first.config.resources {
                problems.push(node.problem(
                    ProblemKind::ResourcesMismatch,
                    KeyPath::root("resources"),
                    format!("[resources] differs from {}'s ({})", first.name(), first.shown()),
                    "both nodes list the same group (names, agents, parameters, timeouts): the service must start the same way on either".into(),
                ));
            }
        }
    }
    for (index, file) in files.iter().enumerate() {
        links_agree(index, file, files, &mut problems);
    }
    problems
}

fn same_cluster(file: &Member<'_>, reference: &Member<'_>, problems: &mut Vec<Problem>) {
    if file.config.cluster != reference.config.cluster {
        problems.push(file.problem(
            ProblemKind::ClusterMismatch,
            KeyPath::root("cluster"),
            format!(
                "cluster {:?} here, {:?} in {}: frames of one cluster are ignored by the other",
                file.config.cluster,
                reference.config.cluster,
                reference.shown()
            ),
            "use one cluster name in the three files".into(),
        ));
    }
}

fn same_members(file: &Member<'_>, reference: &Member<'_>, problems: &mut Vec<Problem>) {
    for (index, member) in file.config.members.iter().enumerate() {
        let Some(other) = reference.config.members.iter().find(|m| m.name == member.name) else {
            problems.push(file.problem(
                ProblemKind::MembersMismatch,
                KeyPath::root("members").index(index).key("name"),
                format!("member {:?} is not a member in {}", member.name, reference.shown()),
                "list the same three [[members]] (name, id, role) in the three files".into(),
            ));
            continue;
        };
        if other.id != member.id {
            problems.push(file.problem(
                ProblemKind::MembersMismatch,
                KeyPath::root("members").index(index).key("id"),
                format!(
                    "member {:?} has id {} here, {} in {}",
                    member.name,
                    member.id.0,
                    other.id.0,
                    reference.shown()
                ),
                "ids are carried in every frame: use the same id for a member in the three files".into(),
            ));
        }
        if other.role != member.role {
            problems.push(file.problem(
                ProblemKind::MembersMismatch,
                KeyPath::root("members").index(index).key("role"),
                format!(
                    "member {:?} is a {} here, a {} in {}",
                    member.name,
                    member.role,
                    other.role,
                    reference.shown()
                ),
                "list the same three [[members]] (name, id, role) in the three files".into(),
            ));
        }
    }
}

fn timing_fields(timing: &Timing) -> [(&'static str, u64); 4] {
    [
        ("interval_ms", timing.interval_ms),
        ("warn_ms", timing.warn_ms),
        ("dead_ms", timing.dead_ms),
        ("initdead_ms", timing.initdead_ms),
    ]
}

fn same_timing(file: &Member<'_>, reference: &Member<'_>, problems: &mut Vec<Problem>) {
    let theirs = timing_fields(&reference.config.timing);
    for ((key, mine), (_, other)) in timing_fields(&file.config.timing).into_iter().zip(theirs) {
        if mine != other {
            problems.push(file.problem(
                ProblemKind::TimingMismatch,
                KeyPath::root("timing").key(key),
                format!("{key} = {mine} here, {other} in {}", reference.shown()),
                "use one [timing] in the three files: each member declares the others dead after its own dead_ms, and the deadlines of the safety rules add them up".into(),
            ));
        }
    }
}

fn authority_fields(a: &AuthorityConfig) -> [(&'static str, String); 11] {
    [
        ("self_fence_ms", a.self_fence_ms.to_string()),
        ("stop_timeout_ms", a.stop_timeout_ms.to_string()),
        ("margin_ms", a.margin_ms.to_string()),
        ("preferred", a.preferred.as_deref().map_or("none".into(), |p| format!("{p:?}"))),
        ("auto_failback", a.auto_failback.to_string()),
        ("wait_for_all", a.wait_for_all.to_string()),
        ("power_on_after_fence", a.power_on_after_fence.to_string()),
        ("unknown_fence_bound_ms", a.unknown_fence_bound_ms.to_string()),
        ("fence_retry_initial_ms", a.fence_retry_initial_ms.to_string()),
        ("fence_retry_max_ms", a.fence_retry_max_ms.to_string()),
        ("require_watchdog", a.require_watchdog.to_string()),
    ]
}

fn same_authority(file: &Member<'_>, reference: &Member<'_>, problems: &mut Vec<Problem>) {
    let theirs = authority_fields(&reference.config.authority);
    for ((key, mine), (_, other)) in authority_fields(&file.config.authority).into_iter().zip(theirs) {
        if mine != other {
            problems.push(file.problem(
                ProblemKind::AuthorityMismatch,
                KeyPath::root("authority").key(key),
                format!("{key} = {mine} here, {other} in {}", reference.shown()),
                "use one [authority] in the three files: the nodes advertise their fence bound from it and the witness's deadlines rely on it".into(),
            ));
        }
    }
}

/// Each link of `file` against the other end, in its peer's file when that file is given.
fn links_agree(index: usize, file: &Member<'_>, files: &[Member<'_>], problems: &mut Vec<Problem>) {
    for (link_index, link) in file.config.links.iter().enumerate() {
        let peer = file.member_name(link.peer);
        let Some(other) = files.iter().find(|f| f.name() == peer) else {
            continue;
        };
        let kind = &link.kind.name();
        let at = |key: &str| KeyPath::root("links").index(link_index).key(key);
        let Some((other_index, other_link)) =
            other.config.links.iter().enumerate().find(|(_, l)| l.id == link.id)
        else {
            let same_kind_ids: Vec<String> = other
                .config
                .links
                .iter()
                .filter(|l| other.member_name(l.peer) == file.name() && &l.kind.name() == kind)
                .filter(|l| !file.config.links.iter().any(|mine| mine.id == l.id))
                .map(|l| l.id.to_string())
                .collect();
            let hint = match same_kind_ids.as_slice() {
                [] => format!(
                    "add the other end to {}: a [[links]] with id = {}, peer = {:?}, kind = {kind:?}",
                    other.shown(),
                    link.id,
                    file.name()
                ),
                ids => format!(
                    "{}'s {kind} link to {} has id {}: both ends of a link use one id (it is carried in every frame)",
                    other.name(),
                    file.name(),
                    ids.join(", ")
                ),
            };
            problems.push(file.problem(
                ProblemKind::LinkMismatch,
                at("id"),
                format!(
                    "link {} ({kind} to {peer}) has no other end: {} has no link with id {}",
                    link.id,
                    other.shown(),
                    link.id
                ),
                hint,
            ));
            continue;
        };
        let other_peer = other.member_name(other_link.peer);
        if other_peer != file.name() {
            problems.push(file.problem(
                ProblemKind::LinkMismatch,
                at("id"),
                format!(
                    "link {} goes to {peer} here, but {} uses link {} to {other_peer}",
                    link.id,
                    other.shown(),
                    link.id
                ),
                "a link id names one link between two members, the same at both ends and unique in the cluster".into(),
            ));
            continue;
        }
        let other_kind = &other_link.kind.name();
        if other_kind != kind {
            problems.push(file.problem(
                ProblemKind::LinkMismatch,
                at("kind"),
                format!(
                    "link {} is {kind} here, {other_kind} in {} (links[{other_index}])",
                    link.id,
                    other.shown()
                ),
                "both ends of a link are of one kind: give the other kind its own id".into(),
            ));
            continue;
        }
        match (&link.kind, &other_link.kind) {
            (LinkKind::Serial { baud, .. }, LinkKind::Serial { baud: other_baud, .. }) => {
                // Reported once per pair, at the file given first.
                let other_position = files.iter().position(|f| f.name() == other.name());
                if baud != other_baud && other_position.is_some_and(|p| p > index) {
                    problems.push(file.problem(
                        ProblemKind::SerialMismatch,
                        at("baud"),
                        format!(
                            "serial link {} to {peer} runs at {baud} baud here, {other_baud} in {} (links[{other_index}])",
                            link.id,
                            other.shown()
                        ),
                        "both ends of a serial cable use one rate: set the same baud in both files".into(),
                    ));
                }
            }
            (LinkKind::Udp { remote, broadcast, .. }, LinkKind::Udp { local: other_local, .. }) => {
                let reaches = remote == other_local
                    || (other_local.ip().is_unspecified() && remote.port() == other_local.port())
                    || (*broadcast && remote.port() == other_local.port());
                if !reaches {
                    problems.push(file.problem(
                        ProblemKind::AddressMismatch,
                        at("remote"),
                        format!(
                            "link {} sends to {remote}, but {peer} listens on {other_local} ({}, links[{other_index}].local)",
                            link.id,
                            other.shown()
                        ),
                        format!(
                            "set remote = \"{other_local}\" here, or the other end's local to this remote (a NAT or proxy between the two ends is not supported)"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
