//! The sections around the authority: `[authority]`, `[resources]`, `[relay]`, `[watchdog]`
//! and `[snmp]`.
//!
//! `[authority]` is walked by hand like `[timing]`, because its rules relate it to the timing
//! and to the members. The other four have serde structs and validation rules owned by their
//! modules (`config::resources`, `devices::config`, `snmp::config`): this module only
//! deserializes each from the already parsed `DeTable` (so a serde error keeps the byte span
//! of the offending key or value), runs that module's validation, and turns every error into a
//! [`Problem`] with its line. It adds the rules that need the whole file: which role may have
//! which section, and which member a relay channel or `preferred` may name. It reads no file;
//! the SNMP key files are checked by [`super::load`].

#![forbid(unsafe_code)]

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use super::fence_service::FenceServiceConfig;
use super::path::{Counting, Found, KeyPath, Segment, Sink};
use super::resources::ResourcesConfig;
use super::{
    closest, element_span, join, last_key, lookup, AuthorityConfig, Checker, LinkKind, ParsedLink,
    ParsedMember, ProblemKind, Role, Span, Timing, DEFAULT_AUTHORITY,
};
use crate::core::resources::GroupSpec;
use crate::devices::config::{DevicesConfig, RelayChannelConfig, RelayConfig, WatchdogConfig};
use crate::snmp::config::SnmpConfig;

/// The keys of `[authority]`: exactly the fields of [`AuthorityConfig`].
pub(super) const AUTHORITY_KEYS: &[&str] = &[
    "self_fence_ms",
    "stop_timeout_ms",
    "margin_ms",
    "preferred",
    "auto_failback",
    "wait_for_all",
    "power_on_after_fence",
    "unknown_fence_bound_ms",
    "fence_retry_initial_ms",
    "fence_retry_max_ms",
    "require_watchdog",
];

/// Upper bound of every `[authority]` duration: one hour. Longer values are mistakes (a
/// missing unit conversion), and they would keep a failed service down for longer than that.
pub const AUTHORITY_MS_MAX: u64 = 3_600_000;

/// Where each `[authority]` value came from (`None`: the default), for problem locations.
#[derive(Default)]
struct AuthoritySpans {
    table: Option<Span>,
    self_fence_ms: Option<Span>,
    margin_ms: Option<Span>,
    unknown_fence_bound_ms: Option<Span>,
    fence_retry_initial_ms: Option<Span>,
    fence_retry_max_ms: Option<Span>,
    auto_failback: Option<Span>,
    require_watchdog: Option<Span>,
}

/// What the cross-section rules need to know about the rest of the file.
pub(super) struct Context<'a> {
    pub members: &'a [ParsedMember],
    /// This member's links (a relay board cannot share a heartbeat link's serial port).
    pub links: &'a [ParsedLink],
    /// This member's role, when known.
    pub role: Option<Role>,
    /// The timing, when valid (its own problems are reported by `check_timing`).
    pub timing: Option<Timing>,
}

impl Context<'_> {
    /// The names of the members whose role is `node`, in file order.
    fn node_names(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| m.role == Some(Role::Node))
            .filter_map(|m| m.name.as_ref().map(|(n, _)| n.as_str()))
            .collect()
    }

    fn role_of(&self, name: &str) -> Option<Option<Role>> {
        self.members.iter().find(|m| m.name.as_ref().is_some_and(|(n, _)| n == name)).map(|m| m.role)
    }

    /// Checks that `name` (at `at`, key path `path`) is a member with role node.
    fn check_node_name(&self, checker: &mut Checker<'_>, name: &str, at: Span, path: &str) {
        let nodes = self.node_names();
        match self.role_of(name) {
            Some(Some(Role::Node)) | Some(None) => {}
            Some(Some(Role::Witness)) => checker.push(
                ProblemKind::WrongRole,
                Some(at),
                path,
                format!("{name:?} is the witness, not a node"),
                format!("`{}` names a node: one of {}", last_key(path), nodes.join(", ")),
            ),
            None => {
                let mut hint = format!(
                    "`{}` names a node from [[members]]: one of {}",
                    last_key(path),
                    nodes.join(", ")
                );
                if let Some(close) = closest(name, &nodes) {
                    hint = format!("did you mean {close:?}? {hint}");
                }
                checker.push(
                    ProblemKind::UnknownMember,
                    Some(at),
                    path,
                    format!("{name:?} is not a member: no such name in [[members]]"),
                    hint,
                );
            }
        }
    }
}

/// The optional `[authority]` table.
pub(super) fn check_authority(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    context: &Context<'_>,
) -> Option<AuthorityConfig> {
    let mut spans = AuthoritySpans::default();
    let absent = DeTable::new();
    let table = match checker.table(root, "authority") {
        Some((table, span)) => {
            spans.table = Some(span);
            table
        }
        None if root.contains_key("authority") => return None,
        None => &absent,
    };
    checker.unknown_keys(table, "authority", AUTHORITY_KEYS, "[authority]");
    let mut authority = DEFAULT_AUTHORITY;
    let mut valid = true;
    let prefix = "authority";

    let durations: [(&str, &mut u64, Option<&mut Option<Span>>, u64); 6] = [
        ("self_fence_ms", &mut authority.self_fence_ms, Some(&mut spans.self_fence_ms), 1),
        ("stop_timeout_ms", &mut authority.stop_timeout_ms, None, 1),
        ("margin_ms", &mut authority.margin_ms, Some(&mut spans.margin_ms), 0),
        (
            "unknown_fence_bound_ms",
            &mut authority.unknown_fence_bound_ms,
            Some(&mut spans.unknown_fence_bound_ms),
            0,
        ),
        (
            "fence_retry_initial_ms",
            &mut authority.fence_retry_initial_ms,
            Some(&mut spans.fence_retry_initial_ms),
            1,
        ),
        ("fence_retry_max_ms", &mut authority.fence_retry_max_ms, Some(&mut spans.fence_retry_max_ms), 1),
    ];
    for (key, field, span, min) in durations {
        let bounds = min as i64..=AUTHORITY_MS_MAX as i64;
        match checker.integer(table, key, prefix, None, None, bounds) {
            Some((value, at)) => {
                *field = value as u64;
                if let Some(span) = span {
                    *span = Some(at);
                }
            }
            None => valid &= !table.contains_key(key),
        }
    }
    let flags: [(&str, &mut bool, Option<&mut Option<Span>>); 4] = [
        ("auto_failback", &mut authority.auto_failback, Some(&mut spans.auto_failback)),
        ("wait_for_all", &mut authority.wait_for_all, None),
        ("power_on_after_fence", &mut authority.power_on_after_fence, None),
        ("require_watchdog", &mut authority.require_watchdog, Some(&mut spans.require_watchdog)),
    ];
    for (key, field, span) in flags {
        match checker.boolean(table, key, prefix) {
            Some((flag, at)) => {
                *field = flag;
                if let Some(span) = span {
                    *span = Some(at);
                }
            }
            None => valid &= !table.contains_key(key),
        }
    }
    match checker.string(table, "preferred", prefix, None, None) {
        Some((name, at)) => {
            context.check_node_name(checker, name, at, "authority.preferred");
            authority.preferred = Some(name.to_string());
        }
        None => valid &= !table.contains_key("preferred"),
    }
    if !valid {
        return None;
    }

    let shown = |name: &str, value: u64, span: &Option<Span>| match span {
        Some(_) => format!("{name} = {value}"),
        None => format!("{name} = {value} (the default)"),
    };
    let at = |span: &Option<Span>, spans: &AuthoritySpans| span.clone().or(spans.table.clone());
    if let Some(timing) = context.timing {
        if authority.self_fence_ms < timing.dead_ms {
            checker.push(
                ProblemKind::SelfFenceTooShort,
                at(&spans.self_fence_ms, &spans),
                "authority.self_fence_ms",
                format!(
                    "self_fence_ms is shorter than dead_ms: {} < timing.dead_ms = {}",
                    shown("self_fence_ms", authority.self_fence_ms, &spans.self_fence_ms),
                    timing.dead_ms
                ),
                format!(
                    "set self_fence_ms to at least {}: a node that loses quorum must not stop its resources before its peers could notice it is gone (they declare it dead after dead_ms); stopping sooner takes the service down over a glitch that no other member sees as a failure",
                    timing.dead_ms
                ),
            );
        }
        if authority.margin_ms < timing.interval_ms {
            checker.push(
                ProblemKind::MarginTooShort,
                at(&spans.margin_ms, &spans),
                "authority.margin_ms",
                format!(
                    "margin_ms is shorter than one heartbeat interval: {} < timing.interval_ms = {}",
                    shown("margin_ms", authority.margin_ms, &spans.margin_ms),
                    timing.interval_ms
                ),
                format!(
                    "set margin_ms to at least {}: the margin covers deadlines measured on another member's clock, which can be late by a heartbeat interval plus the clocks' drift",
                    timing.interval_ms
                ),
            );
        }
    }
    // A node with these settings advertises at least self_fence_ms + stop_timeout_ms (plus
    // its watchdog's timeout); assuming less for a silent node would take over too early.
    let own_bound_ms = authority.self_fence_ms + authority.stop_timeout_ms;
    if authority.unknown_fence_bound_ms > 0 && authority.unknown_fence_bound_ms < own_bound_ms {
        checker.push(
            ProblemKind::BadValue,
            at(&spans.unknown_fence_bound_ms, &spans),
            "authority.unknown_fence_bound_ms",
            format!(
                "unknown_fence_bound_ms = {} is shorter than self_fence_ms + stop_timeout_ms = {own_bound_ms}",
                authority.unknown_fence_bound_ms
            ),
            format!(
                "a node stops by itself at the earliest self_fence_ms + stop_timeout_ms after it lost quorum (plus its watchdog's timeout); set unknown_fence_bound_ms to at least {own_bound_ms}, or to 0 to take over a silent node only after a fence"
            ),
        );
    }
    if authority.fence_retry_initial_ms > authority.fence_retry_max_ms {
        checker.push(
            ProblemKind::BadValue,
            spans
                .fence_retry_initial_ms
                .clone()
                .or(spans.fence_retry_max_ms.clone())
                .or(spans.table.clone()),
            "authority.fence_retry_initial_ms",
            format!(
                "the first fence retry waits longer than the longest: {} > {}",
                shown(
                    "fence_retry_initial_ms",
                    authority.fence_retry_initial_ms,
                    &spans.fence_retry_initial_ms
                ),
                shown(
                    "fence_retry_max_ms",
                    authority.fence_retry_max_ms,
                    &spans.fence_retry_max_ms
                )
            ),
            "failed fence attempts are retried after fence_retry_initial_ms, doubling up to fence_retry_max_ms; make fence_retry_initial_ms the smaller".into(),
        );
    }
    if authority.auto_failback && authority.preferred.is_none() {
        checker.push(
            ProblemKind::MissingKey,
            at(&spans.auto_failback, &spans),
            "authority.preferred",
            "auto_failback = true needs `preferred`: there is no node to fail back to".into(),
            "add `preferred = \"node-a\"` (the node the service belongs on), or leave auto_failback out"
                .into(),
        );
    }
    if authority.require_watchdog && context.role == Some(Role::Node) && !root.contains_key("watchdog") {
        checker.push(
            ProblemKind::MissingKey,
            at(&spans.require_watchdog, &spans),
            "watchdog",
            "require_watchdog = true, but there is no [watchdog] section: this node would never run the service".into(),
            "add a [watchdog] section (device, timeout_s; see docs/devices.md), or set require_watchdog = false".into(),
        );
    }
    Some(authority)
}

/// `[resources]`: the resource group, on nodes only. `Some(None)`: absent.
pub(super) fn check_resources(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    context: &Context<'_>,
) -> Option<Option<GroupSpec>> {
    let (config, at) = match deserialize_section::<ResourcesConfig>(checker, root, "resources") {
        Section::Absent => return Some(None),
        Section::Invalid => return None,
        Section::Parsed(config, at) => (config, at),
    };
    let mut valid = true;
    if context.role == Some(Role::Witness) {
        valid = false;
        checker.push(
            ProblemKind::WrongRole,
            Some(at),
            "resources",
            "[resources] on the witness: only nodes run resources".into(),
            "move the [resources] section into the nodes' files (both nodes list the same group)".into(),
        );
    }
    let spec = config.to_spec(&mut Placed { checker, root })?;
    valid.then_some(Some(spec))
}

/// `relay.channels[INDEX].KEY`.
fn channel_key(index: usize, key: &str) -> KeyPath {
    KeyPath::root("relay").key("channels").index(index).key(key)
}

/// `[relay]` (on the witness only) and `[watchdog]`. `Some(None)`: absent.
pub(super) fn check_devices(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    context: &Context<'_>,
) -> (Option<Option<RelayConfig>>, Option<Option<WatchdogConfig>>) {
    let mut parsed_relay = None;
    let relay = match deserialize_section::<RelayConfig>(checker, root, "relay") {
        Section::Absent => Some(None),
        Section::Invalid => None,
        Section::Parsed(relay, at) => {
            parsed_relay = Some(relay.clone());
            let mut valid = true;
            if context.role == Some(Role::Node) {
                valid = false;
                checker.push(
                    ProblemKind::WrongRole,
                    Some(at.clone()),
                    "relay",
                    "[relay] on a node: only the witness fences".into(),
                    "move the [relay] section into the witness's file; a node never switches its peer's power".into(),
                );
            }
            for (index, channel) in relay.channels.iter().enumerate() {
                let path = channel_key(index, "node");
                if channel.node.is_empty() {
                    continue; // reported by the validation below
                }
                let at = span_of(root, &path).unwrap_or(at.clone());
                let before = checker.problems.len();
                context.check_node_name(checker, &channel.node, at, &path.to_string());
                valid &= checker.problems.len() == before;
            }
            for (index, channel) in relay.channels.iter().enumerate() {
                let Some(device) = &channel.device else {
                    continue;
                };
                let shared = context.links.iter().find(
                    |link| matches!(&link.kind, Some(LinkKind::Serial { device: d, .. }) if d == device),
                );
                if let Some(link) = shared {
                    valid = false;
                    let path = channel_key(index, "device");
                    checker.push(
                        ProblemKind::BadValue,
                        span_of(root, &path),
                        &path.to_string(),
                        format!(
                            "{} is also the serial port of links[{}], a heartbeat link",
                            device.display(),
                            link.index
                        ),
                        "a serial port carries either heartbeats or the relay board's protocol: give the board its own port".into(),
                    );
                }
            }
            valid.then_some(Some(relay))
        }
    };
    let watchdog = match deserialize_section::<WatchdogConfig>(checker, root, "watchdog") {
        Section::Absent => Some(None),
        Section::Invalid => None,
        Section::Parsed(watchdog, _) => Some(Some(watchdog)),
    };
    // The module's own rules run on what was parsed, even where a rule above failed.
    let devices = DevicesConfig { relay: parsed_relay, watchdog: watchdog.clone().flatten() };
    let mut found = Vec::new();
    devices.validate(&mut found);
    if found.is_empty() {
        if let Some(Some(relay)) = &relay {
            warn_relay(checker, root, relay);
        }
        return (relay, watchdog);
    }
    let relay_valid = !found.iter().any(|f| f.path.is_under("relay"));
    let watchdog_valid = !found.iter().any(|f| f.path.is_under("watchdog"));
    let mut placed = Placed { checker, root };
    for problem in found {
        placed.found(problem);
    }
    (relay.filter(|_| relay_valid), watchdog.filter(|_| watchdog_valid))
}

/// The warnings of a valid `[relay]`: fences that count without a read-back, and command
/// channels whose timeout cuts their fence agent short.
fn warn_relay(checker: &mut Checker<'_>, root: &DeTable<'_>, relay: &RelayConfig) {
    for (index, channel) in relay.channels.iter().enumerate() {
        if channel.trust_unconfirmed {
            let path = channel_key(index, "trust_unconfirmed");
            checker.warn(
                ProblemKind::UnconfirmedFenceAllowed,
                span_of(root, &path),
                &path.to_string(),
                format!(
                    "an unconfirmed fence of {:?} counts as a fence: if the off command was lost, the witness grants the service while {:?} may still run it",
                    channel.node, channel.node
                ),
                "prefer a board that reads its relay back (docs/devices.md, Relay drivers); keep trust_unconfirmed = true only for a board that cannot, and only if its wiring is tested".into(),
            );
        }
        let Some(needs_ms) = channel.fence_agent_needs_ms() else {
            continue;
        };
        let timeout_ms = channel.exchange_timeout_ms();
        if timeout_ms >= needs_ms {
            continue;
        }
        let path = channel_key(index, "timeout_ms");
        let shown = match channel.timeout_ms {
            Some(_) => format!("timeout_ms = {timeout_ms}"),
            None => format!("timeout_ms = {timeout_ms} (the default)"),
        };
        checker.warn(
            ProblemKind::CommandTimeoutShort,
            span_of(root, &path),
            &path.to_string(),
            format!(
                "{shown} is shorter than the fence agent may need: {needs_ms} ms (power_timeout + login_timeout + power_wait); the agent would be killed while it waits for the power to go off, and the fence would fail"
            ),
            format!(
                "set timeout_ms to at least {needs_ms} (at most {}), or lower the agent's power_timeout in options",
                crate::devices::config::TIMEOUT_MS_MAX
            ),
        );
    }
}

/// `[snmp]`: notification targets. `Some(None)`: absent. Key files are checked by `load`.
pub(super) fn check_snmp(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    origin: &std::path::Path,
) -> Option<Option<SnmpConfig>> {
    let mut snmp = match deserialize_section::<SnmpConfig>(checker, root, "snmp") {
        Section::Absent => return Some(None),
        Section::Invalid => return None,
        Section::Parsed(snmp, _) => snmp,
    };
    let mut placed = Placed { checker, root };
    let mut counted = Counting::new(&mut placed);
    snmp.validate(&mut counted);
    if counted.count > 0 {
        return None;
    }
    // Relative key files are resolved against the configuration's directory, like key_file.
    for target in &mut snmp.targets {
        for path in [&mut target.auth_key_file, &mut target.priv_key_file].into_iter().flatten() {
            *path = super::resolve(origin, &path.to_string_lossy());
        }
    }
    Some(Some(snmp))
}

/// The span of every SNMP key file key (`snmp.targets[0].auth_key_file`), kept by
/// `check_text` so that [`check_snmp_key_files`] can place its problems without the text.
pub(super) fn snmp_key_spans(root: &DeTable<'_>, snmp: &SnmpConfig) -> Vec<(KeyPath, Option<Span>)> {
    let mut spans = Vec::new();
    for (index, target) in snmp.targets.iter().enumerate() {
        for (key, file) in
            [("auth_key_file", &target.auth_key_file), ("priv_key_file", &target.priv_key_file)]
        {
            if file.is_some() {
                let path = KeyPath::root("snmp").key("targets").index(index).key(key);
                let span = span_of(root, &path);
                spans.push((path, span));
            }
        }
    }
    spans
}

/// Checks the SNMP key files of a valid `[snmp]` section (they must exist, be private and
/// hold a long enough passphrase); problems point at the key in the configuration.
pub(super) fn check_snmp_key_files(
    checker: &mut Checker<'_>,
    snmp: &SnmpConfig,
    spans: &[(KeyPath, Option<Span>)],
) {
    if let Err(problems) = snmp.targets(crate::snmp::config::read_key_file) {
        for problem in problems {
            let span =
                spans.iter().find(|(path, _)| *path == problem.path).and_then(|(_, span)| span.clone());
            checker.place(span, problem);
        }
    }
}

enum Section<T> {
    Absent,
    /// Present, with problems already reported.
    Invalid,
    /// Deserialized (not yet validated), with the span of its key.
    Parsed(T, Span),
}

/// Deserializes the top-level table `key` with its serde struct. A serde error becomes a
/// problem at the key or value it names (serde stops at the first error of a section).
fn deserialize_section<T: DeserializeOwned>(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    key: &str,
) -> Section<T> {
    let Some((_, key_span)) = checker.table(root, key) else {
        return if root.contains_key(key) { Section::Invalid } else { Section::Absent };
    };
    let Some((_, value)) = root.get_key_value(key) else {
        return Section::Absent;
    };
    match super::section_de::deserialize::<T>(value.clone()) {
        Ok(parsed) => Section::Parsed(parsed, key_span),
        Err(error) => {
            report_serde_error(checker, root, key, key_span, &error);
            Section::Invalid
        }
    }
}

/// The problem of a section's serde error, at the key or value it names. Not generic, so the
/// agent holds it once rather than once per section type (its size budget).
fn report_serde_error(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    key: &str,
    key_span: Span,
    error: &super::section_de::SectionError,
) {
    let span = error.span.clone().filter(|s| !(s.is_empty() && s.start == 0));
    let path = span
        .as_ref()
        .and_then(|s| path_at(root, s.start, ""))
        .filter(|p| p == key || p.starts_with(&format!("{key}.")) || p.starts_with(&format!("{key}[")))
        .unwrap_or_else(|| key.to_string());
    let span = span.or(Some(key_span));
    let (kind, message, hint) = explain_serde_error(&error.message, &path, key);
    checker.push(kind, span, &path, message, hint);
}

/// The document of each section, for hints.
fn document_of(section: &str) -> &'static str {
    match section {
        "resources" => "docs/resources.md",
        "snmp" => "docs/snmp.md",
        "syslog" => "docs/configuration.md",
        "fence_service" => "docs/fence-agent.md",
        _ => "docs/devices.md",
    }
}

/// Kind, message and hint for a serde error message such as "unknown field `colour`,
/// expected one of `a`, `b`".
fn explain_serde_error(message: &str, path: &str, section: &str) -> (ProblemKind, String, String) {
    let message = message.trim();
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let document = document_of(section);
    if message.starts_with("unknown field") {
        let (name, valid) = quoted.split_first().map_or(("", &[][..]), |(n, v)| (*n, v));
        let mut hint = format!("valid keys here: {}", valid.join(", "));
        if let Some(close) = closest(name, valid) {
            hint = format!("did you mean `{close}`? {hint}");
        }
        (ProblemKind::UnknownKey, format!("unknown key `{name}`"), hint)
    } else if message.starts_with("missing field") {
        let name = quoted.first().copied().unwrap_or("");
        (
            ProblemKind::MissingKey,
            format!("required key `{name}` is missing"),
            format!("add `{name} = ...`; see {document}"),
        )
    } else if message.starts_with("unknown variant") {
        let (name, valid) = quoted.split_first().map_or(("", &[][..]), |(n, v)| (*n, v));
        let shown: Vec<String> = valid.iter().map(|v| format!("{v:?}")).collect();
        let mut hint = format!("use one of {}", shown.join(", "));
        if let Some(close) = closest(name, valid) {
            hint = format!("did you mean {close:?}? {hint}");
        }
        (ProblemKind::BadValue, format!("{name:?} is not a valid choice"), hint)
    } else {
        let hint = if message.starts_with("invalid type") && message.contains("expected u") {
            "write a whole number without quotes, within the range given in ".to_string() + document
        } else if message.starts_with("invalid type") && message.contains("expected a boolean") {
            "write true or false without quotes".to_string()
        } else if message.contains("socket address") {
            "write it as \"ip:port\", e.g. \"192.0.2.10:162\"; names are not resolved".to_string()
        } else {
            format!("see {document} for the type and range of this key")
        };
        let message = match path.ends_with(']') || !path.contains('.') {
            true => message.to_string(),
            false => format!("`{}`: {message}", last_key(path)),
        };
        (ProblemKind::BadValue, message, hint)
    }
}

/// The key path (`relay.channels[1].board`) of the deepest key whose key or value contains
/// byte `offset` of the text.
fn path_at(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        let inside = |span: Span| span.contains(&offset);
        match value.get_ref() {
            DeValue::Table(inner) => {
                if let Some(found) = path_at(inner, offset, &path) {
                    return Some(found);
                }
            }
            DeValue::Array(array) => {
                for (index, element) in array.iter().enumerate() {
                    let element_path = format!("{path}[{index}]");
                    if let DeValue::Table(inner) = element.get_ref() {
                        if let Some(found) = path_at(inner, offset, &element_path) {
                            return Some(found);
                        }
                    }
                    if inside(element.span()) {
                        return Some(element_path);
                    }
                }
            }
            _ => {}
        }
        if inside(key.span()) || inside(value.span()) {
            return Some(path);
        }
    }
    None
}

/// The span of the key at `path` (`snmp.targets[0].community`), or of the nearest enclosing
/// key or entry present in the file when that key is absent.
pub(super) fn span_of(root: &DeTable<'_>, path: &KeyPath) -> Option<Span> {
    let mut table = Some(root);
    let mut value: Option<&DeValue<'_>> = None;
    let mut found: Option<Span> = None;
    for segment in path.segments() {
        match segment {
            Segment::Key(name) => {
                let Some((key_span, next)) = table.and_then(|t| lookup(t, name)) else {
                    return found;
                };
                found = Some(key_span);
                value = Some(next);
            }
            Segment::Index(index) => {
                let Some(element) = value.and_then(|v| v.as_array()?.get(*index)) else {
                    return found;
                };
                found = Some(element_span(element.span(), found.as_ref().unwrap_or(&(0..0))));
                value = Some(element.get_ref());
            }
        }
        table = value.and_then(|v| v.as_table());
    }
    found
}

/// `[fence_service]`: the relays the witness switches for another cluster. `Some(None)`:
/// absent. A plug never names a member of this cluster, and never shares a serial port, a
/// GPIO line or a fence agent's plug with `[relay]` (the box's own fences never wait for, nor
/// collide with, another cluster's command) or a serial port with a heartbeat link. The key
/// file is checked by `check`.
pub(super) fn check_fence_service(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    context: &Context<'_>,
    relay: Option<&RelayConfig>,
    origin: &std::path::Path,
) -> Option<Option<FenceServiceConfig>> {
    let mut service = match deserialize_section::<FenceServiceConfig>(checker, root, "fence_service") {
        Section::Absent => return Some(None),
        Section::Invalid => return None,
        Section::Parsed(service, _) => service,
    };
    let mut placed = Placed { checker, root };
    let mut counted = Counting::new(&mut placed);
    if context.role == Some(Role::Node) {
        counted.found(Found::new(
            ProblemKind::WrongRole,
            KeyPath::root("fence_service"),
            "[fence_service] on a node: the witness owns the relays",
            "move the [fence_service] section into the witness's file",
        ));
    }
    service.validate(&mut counted);
    // The GPIO lines a channel holds: its output and its sense input (on `chip` by default).
    let lines = |c: &RelayChannelConfig| {
        let output = c.chip.clone().zip(c.line);
        let sense = c.sense_chip.clone().or_else(|| c.chip.clone()).zip(c.sense_line);
        [output, sense].into_iter().flatten().collect::<Vec<_>>()
    };
    let shares = |a: &RelayChannelConfig, b: &RelayChannelConfig| {
        let same = |x: &Option<std::path::PathBuf>, y: &Option<std::path::PathBuf>| x.is_some() && x == y;
        same(&a.device, &b.device)
            || lines(a).iter().any(|l| lines(b).contains(l))
            || (same(&a.command, &b.command) && a.plug == b.plug)
    };
    for (index, plug) in service.plugs.iter().enumerate() {
        let path = KeyPath::root("fence_service").key("plugs").index(index);
        if context.role_of(&plug.node).is_some() {
            counted.found(Found::new(
                ProblemKind::WrongRole,
                path.key("node"),
                format!(
                    "{:?} is a member of this cluster: its power is the witness's own authority's",
                    plug.node
                ),
                "a plug is a node of another cluster; this cluster's nodes are fenced through [relay] only",
            ));
        }
        let own =
            relay.into_iter().flat_map(|r| r.channels.iter()).enumerate().find(|(_, c)| shares(plug, c));
        if let Some((channel, _)) = own {
            counted.found(Found::bad_value(
                path.clone(),
                format!("plug {:?} uses the device of relay.channels[{channel}], a fence of this cluster", plug.node),
                "give the other cluster's plugs their own board (serial port, GPIO line, or fence agent plug): the witness's own fences must never wait for or collide with another cluster's",
            ));
        }
        let Some(device) = &plug.device else { continue };
        let link = context
            .links
            .iter()
            .find(|l| matches!(&l.kind, Some(LinkKind::Serial { device: d, .. }) if d == device));
        if let Some(link) = link {
            counted.found(Found::bad_value(
                path.key("device"),
                format!("{} is also the serial port of links[{}], a heartbeat link", device.display(), link.index),
                "a serial port carries either heartbeats or the relay board's protocol: give the board its own port",
            ));
        }
    }
    if counted.count != 0 {
        return None;
    }
    service.key_file = super::resolve(origin, &service.key_file.to_string_lossy());
    Some(Some(service))
}

/// A [`Sink`] that places each problem a section's validator finds in the file: at the line
/// of its key (or of the nearest enclosing key present), in the checker's problems.
pub(super) struct Placed<'c, 't, 'r, 'i> {
    pub checker: &'c mut Checker<'t>,
    pub root: &'r DeTable<'i>,
}

impl Sink for Placed<'_, '_, '_, '_> {
    fn found(&mut self, found: Found) {
        let span = span_of(self.root, &found.path);
        self.checker.place(span, found);
    }
}

/// `[syslog]`: the remote syslog collector, on any member. `Some(None)`: absent.
pub(super) fn check_syslog(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
) -> Option<Option<super::syslog::SyslogConfig>> {
    match deserialize_section::<super::syslog::SyslogConfig>(checker, root, "syslog") {
        Section::Absent => Some(None),
        Section::Invalid => None,
        Section::Parsed(syslog, _) => {
            let mut placed = Placed { checker, root };
            let mut counted = Counting::new(&mut placed);
            syslog.validate(&mut counted);
            (counted.count == 0).then_some(Some(syslog))
        }
    }
}

/// `[array]`: the RAID controller's console, watched by the witness. `Some(None)`: absent.
pub(super) fn check_array(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    context: &Context<'_>,
) -> Option<Option<crate::devices::console::config::ArrayConfig>> {
    match deserialize_section::<crate::devices::console::config::ArrayConfig>(checker, root, "array") {
        Section::Absent => Some(None),
        Section::Invalid => None,
        Section::Parsed(array, at) => {
            if context.role == Some(Role::Node) {
                checker.push(
                    ProblemKind::WrongRole,
                    Some(at),
                    "array",
                    "[array] on a node: the witness watches the array's console".into(),
                    "move the [array] section into the witness's file".into(),
                );
                return None;
            }
            let mut placed = Placed { checker, root };
            let mut counted = Counting::new(&mut placed);
            array.validate(&mut counted);
            (counted.count == 0).then_some(Some(array))
        }
    }
}
