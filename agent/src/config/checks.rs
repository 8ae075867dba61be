//! The rules of the core sections: the top level (cluster, member, paths), `[timing]`,
//! `[shell]`, `[[members]]` and `[[links]]`, walked from the parsed tree with the byte span of
//! every key, each failed rule a [`Problem`] and the walk going on; and the assembly of the
//! [`Config`] when there is none.
//!
//! Owns those rules; the tools are `checker`'s, the authority's sections are `sections`'.

#![forbid(unsafe_code)]

use super::*;

/// Result of checking a text: the config when every part could be built, the problems, and
/// the key file to check when its path is known.
pub(super) struct Checked<'t> {
    pub(super) checker: Checker<'t>,
    pub(super) config: Option<Config>,
    pub(super) key_file: Option<(PathBuf, Option<Span>)>,
    /// Where each SNMP key file is named, for the checks of [`load`].
    pub(super) snmp_key_spans: Vec<(path::KeyPath, Option<Span>)>,
    /// A node's valid resource group, for the agent checks of [`check`].
    pub(super) node_group: Option<crate::core::resources::GroupSpec>,
    /// Where `fence_service.key_file` is (or the section), for the checks of [`check`].
    pub(super) fence_key_span: Option<Span>,
}

pub(super) struct ParsedMember {
    pub(super) index: usize,
    pub(super) name: Option<(String, Span)>,
    pub(super) id: Option<(u8, Span)>,
    pub(super) role: Option<Role>,
}

pub(super) struct ParsedLink {
    pub(super) index: usize,
    pub(super) id: Option<u8>,
    pub(super) peer: Option<String>,
    pub(super) kind: Option<LinkKind>,
    /// Where a serial link's baud is (or the link itself when the default is used).
    pub(super) baud_span: Span,
}

/// Where each timing value came from (`None`: the default), for locations of problems.
#[derive(Default)]
pub(super) struct TimingSpans {
    pub(super) table: Option<Span>,
    pub(super) interval_ms: Option<Span>,
    pub(super) warn_ms: Option<Span>,
    pub(super) dead_ms: Option<Span>,
    pub(super) initdead_ms: Option<Span>,
}

pub(super) fn check_text<'t>(text: &'t str, origin: &'t Path) -> Checked<'t> {
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
            let path = path::KeyPath::root("links").index(only.index);
            checker.warn(
                ProblemKind::OneLinkToPeer,
                sections::span_of(root, &path),
                &path.to_string(),
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
    // The key's line, or the section's when the key is left to its default.
    let fence_key_span = sections::span_of(root, &path::KeyPath::root("fence_service").key("key_file"));
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
pub(super) fn check_timing(checker: &mut Checker<'_>, root: &DeTable<'_>) -> (Option<Timing>, Option<u64>) {
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
pub(super) fn check_shell(checker: &mut Checker<'_>, root: &DeTable<'_>) -> Option<ShellConfig> {
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
pub(super) fn check_members(checker: &mut Checker<'_>, root: &DeTable<'_>) -> Vec<ParsedMember> {
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
pub(super) fn member_names(members: &[ParsedMember]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::with_capacity(members.len());
    for (name, _) in members.iter().filter_map(|m| m.name.as_ref()) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
}

/// The `[[links]]` list of this member.
pub(super) fn check_links(
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
pub(super) fn link_unknown_keys(
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

pub(super) fn non_empty<'a>(
    checker: &mut Checker<'_>,
    value: &'a str,
    at: Span,
    path: &str,
) -> Option<(&'a str, Span)> {
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
pub(super) fn check_endpoint(
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
pub(super) fn udp_address(
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
