//! Tests of `snmp::objects`, kept apart so that the module reads as what it does.

use super::*;
use crate::status::{
    ArrayStatus, Console, Disk, Drive, FenceDevice, FenceService, FenceServiceCommand, FenceServiceCounters,
    LastFence, Link, Member, NodeReport, Sensor, WitnessAuthority,
};

/// A witness's status document with a little of everything (one instance of each kind of
/// value, some absent).
pub(crate) fn sample() -> Status {
    Status {
        cluster: "rack".into(),
        member: "witness".into(),
        role: "witness".into(),
        boot: 7,
        authority: Some(Authority::Witness(WitnessAuthority {
            generation: 3,
            holder: Some("node-a".into()),
            granted_at_wall_ms: Some(1_796_558_400_123),
            fence_device: true,
            fence_devices: vec![FenceDevice { node: "node-a".into(), state: "unreachable".into() }],
            last_fence: Some(LastFence {
                node: "node-b".into(),
                result: "failed".into(),
                attempt: 2,
                count: 3,
                at_wall_ms: 1_796_558_400_123,
            }),
            nodes: vec![
                NodeReport {
                    name: "node-a".into(),
                    standby: false,
                    ready: Some(true),
                    resources_state: Some("running".into()),
                    acting_generation: Some(3),
                    stopped_generation: Some(2),
                    watchdog_armed: Some(true),
                    fence_bound_ms: Some(16_000),
                },
                // Never reported this boot: only the witness's own standby is known.
                NodeReport { name: "node-b".into(), standby: true, ..Default::default() },
            ],
            ..Default::default()
        })),
        members: vec![
            Member {
                name: Some("node-a".into()),
                id: 2,
                role: Some("node".into()),
                state: "reachable".into(),
                links_up: 2,
                reaches: vec![],
            },
            Member {
                name: Some("node-b".into()),
                id: 3,
                role: Some("node".into()),
                state: "unreachable".into(),
                links_up: 0,
                reaches: vec![],
            },
        ],
        links: vec![Link {
            id: 1,
            peer: "node-a".into(),
            kind: "udp".into(),
            transport: "udp 127.0.0.1:9000".into(),
            open: true,
            state: "up".into(),
            frames_in: 5_000_000_000,
            ..Default::default()
        }],
        array: Some(ArrayStatus {
            console: Console {
                dialect: "areca".into(),
                device: "/dev/ttyS1".into(),
                state: "answering".into(),
                wrong_baud: false,
                last_answer_ms_ago: Some(100),
            },
            survivable_failures: Some(0),
            drives: vec![Drive {
                name: "ld0".into(),
                id: 0,
                raid_level: "5".into(),
                state: "rebuilding 42%".into(),
                rebuild_percent: Some(42),
                survivable_failures: Some(0),
            }],
            disks: vec![Disk {
                name: "e1/s3".into(),
                enclosure: Some(1),
                slot: 3,
                state: "rebuilding".into(),
                drive: Some("ld0".into()),
                rebuild_percent: Some(42),
            }],
            environment: vec![Sensor {
                name: "Controller Temp.".into(),
                kind: "temperature".into(),
                reading: "80 C".into(),
                alarm: None,
            }],
        }),
        fence_service: Some(FenceService {
            listen: "127.0.0.1:7790".into(),
            plugs: vec!["pm-a".into()],
            running: 1,
            counters: FenceServiceCounters { bad_mac: 4, reboots: 2, failed: 1, ..Default::default() },
            last_command: Some(FenceServiceCommand {
                plug: "pm-a".into(),
                action: "reboot".into(),
                ok: false,
                result: "failed: relay still reads on".into(),
                at_wall_ms: 1_796_558_400_123,
            }),
        }),
        ..Default::default()
    }
}

/// The responder's counters of the sample.
pub(crate) fn counters() -> AgentCounters {
    AgentCounters { requests: 9, ..Default::default() }
}

fn oid(arcs: &[u32]) -> Oid {
    Oid::new(arcs)
}

#[test]
fn values_are_typed_and_absent_facts_have_no_instance() {
    let view = MibView::build(&sample(), &counters());
    let e = |arcs: &[u32], more: &[u32]| object_oid(arcs).child(more);
    assert_eq!(view.get(&e(CLUSTER_NAME, &[0])), Lookup::Found(&Value::OctetString(b"rack".to_vec())));
    assert_eq!(view.get(&e(GENERATION, &[0])), Lookup::Found(&Value::Counter64(3)));
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_READY, 2])), Lookup::Found(&Value::Integer(1)));
    // node-b never reported: no readiness, and that is not an invented "false"; its standby
    // is the witness's own.
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_READY, 3])), Lookup::NoSuchInstance);
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_FENCE_BOUND, 3])), Lookup::NoSuchInstance);
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_STANDBY, 3])), Lookup::Found(&Value::Integer(1)));
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_FENCE_BOUND, 2])), Lookup::Found(&Value::Gauge32(16_000)));
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_WATCHDOG_ARMED, 2])), Lookup::Found(&Value::Integer(1)));
    assert_eq!(view.get(&e(LAST_FENCE_RESULT, &[0])), Lookup::Found(&Value::Integer(3)));
    assert_eq!(view.get(&e(DRIVE_ENTRY, &[DRV_SURVIVABLE_FAILURES, 1])), Lookup::Found(&Value::Gauge32(0)));
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_STATE, 3])), Lookup::Found(&Value::Integer(3)));
    assert_eq!(
        view.get(&e(LINK_ENTRY, &[LNK_FRAMES_IN, 1])),
        Lookup::Found(&Value::Counter64(5_000_000_000))
    );
    assert_eq!(view.get(&e(DRIVE_ENTRY, &[DRV_REBUILD_PERCENT, 1])), Lookup::Found(&Value::Gauge32(42)));
    assert_eq!(view.get(&e(RELAY_ENTRY, &[RLY_HEALTH, 2])), Lookup::Found(&Value::Integer(2)));
    assert_eq!(view.get(&e(FS_BAD_MACS, &[0])), Lookup::Found(&Value::Counter32(4)));
    assert_eq!(view.get(&e(FS_REBOOTS, &[0])), Lookup::Found(&Value::Counter32(2)));
    assert_eq!(view.get(&e(FS_RUNNING, &[0])), Lookup::Found(&Value::Gauge32(1)));
    assert_eq!(view.get(&e(FS_LAST_ACTION, &[0])), Lookup::Found(&Value::Integer(3)));
    assert_eq!(view.get(&e(FS_LAST_RESULT, &[0])), Lookup::Found(&Value::Integer(2)));
    assert_eq!(view.get(&e(FS_LAST_PLUG, &[0])), Lookup::Found(&Value::OctetString(b"pm-a".to_vec())));
    // Without `[fence_service]`, no fence service object has an instance.
    let without = MibView::build(&Status { fence_service: None, ..sample() }, &counters());
    assert_eq!(without.get(&e(FS_COMMANDS, &[0])), Lookup::NoSuchInstance);
    assert_eq!(without.len() + 26, view.len(), "26 fence service instances");
    // A node's scalars are not a witness's.
    assert_eq!(view.get(&e(LOCAL_QUORUM, &[0])), Lookup::NoSuchInstance);
    assert_eq!(view.get(&oid(&[1, 3, 6, 1, 2, 1, 1, 1, 0])), Lookup::NoSuchObject);
    // 2026-12-06 12:00:00.1 UTC
    assert_eq!(
        view.get(&e(HOLDER_SINCE, &[0])),
        Lookup::Found(&Value::OctetString(vec![0x07, 0xea, 12, 6, 12, 0, 0, 1, b'+', 0, 0]))
    );
}

#[test]
fn every_spelling_the_status_gives_has_its_number_and_others_no_instance() {
    use crate::core::resources::GroupState;
    for (i, state) in
        [PeerState::Unknown, PeerState::Reachable, PeerState::Unreachable].into_iter().enumerate()
    {
        assert_eq!(peer_state_number(state.as_str()), Some(i as i32 + 1));
    }
    for state in [LinkState::Init, LinkState::Up, LinkState::Warn, LinkState::Down] {
        assert!(link_state_number(state.as_str()).is_some(), "{state:?}");
    }
    // A node's `resources_state` is its group's spelling: the same names as the wire's.
    for g in [
        GroupState::Stopped,
        GroupState::Starting,
        GroupState::Running,
        GroupState::Stopping,
        GroupState::Failed,
        GroupState::StopFailed,
    ] {
        assert_eq!(res_state_number(g.as_str()), res_state_number(ResState::from(g).as_str()), "{g:?}");
        assert!(res_state_number(g.as_str()).is_some(), "{g:?}");
    }
    for action in [Action::Off, Action::On, Action::Reboot, Action::Status] {
        assert!(fence_service_action_number(action.as_str()).is_some(), "{action:?}");
    }
    assert_eq!((role_number("witness"), role_number("node")), (Some(1), Some(2)));
    // A spelling no enumeration has is no instance, not a made-up number (and no panic).
    let mut odd = sample();
    odd.members[0].state = "sideways".into();
    odd.links[0].kind = "carrier pigeon".into();
    let view = MibView::build(&odd, &counters());
    let e = |arcs: &[u32], more: &[u32]| object_oid(arcs).child(more);
    assert_eq!(view.get(&e(MEMBER_ENTRY, &[MBR_STATE, 2])), Lookup::NoSuchInstance);
    assert_eq!(view.get(&e(LINK_ENTRY, &[LNK_KIND, 1])), Lookup::NoSuchInstance);
    assert!(matches!(view.get(&e(MEMBER_ENTRY, &[MBR_NAME, 2])), Lookup::Found(_)));
}

#[test]
fn a_node_shows_its_own_scalars_and_the_responders_counters_are_the_given_ones() {
    use crate::status::NodeAuthority;
    let node = Status {
        role: "node".into(),
        authority: Some(Authority::Node(NodeAuthority {
            acting_generation: 4,
            max_seen_generation: 5,
            quorum: true,
            resources_state: "stop-failed".into(),
            ..Default::default()
        })),
        array: None,
        fence_service: None,
        ..sample()
    };
    let view = MibView::build(&node, &AgentCounters { requests: 11, too_big: 2, ..Default::default() });
    let e = |arcs: &[u32]| object_oid(arcs).child(&[0]);
    assert_eq!(view.get(&e(LOCAL_ROLE)), Lookup::Found(&Value::Integer(2)));
    assert_eq!(view.get(&e(GENERATION)), Lookup::Found(&Value::Counter64(5)));
    assert_eq!(view.get(&e(LOCAL_ACTING_GENERATION)), Lookup::Found(&Value::Counter64(4)));
    assert_eq!(view.get(&e(LOCAL_QUORUM)), Lookup::Found(&Value::Integer(1)));
    assert_eq!(view.get(&e(LOCAL_RESOURCES_STATE)), Lookup::Found(&Value::Integer(6)));
    assert_eq!(view.get(&e(HOLDER)), Lookup::NoSuchInstance);
    // No witness: no node reports, no relay rows.
    let cell = object_oid(MEMBER_ENTRY).child(&[MBR_STANDBY, 3]);
    assert_eq!(view.get(&cell), Lookup::NoSuchInstance);
    assert_eq!(view.get(&object_oid(RELAY_ENTRY).child(&[RLY_NODE, 2])), Lookup::NoSuchInstance);
    assert_eq!(view.get(&e(SNMP_REQUESTS)), Lookup::Found(&Value::Counter32(11)));
    assert_eq!(view.get(&e(SNMP_TOO_BIG)), Lookup::Found(&Value::Counter32(2)));
}

#[test]
fn next_walks_every_instance_in_order_then_ends() {
    let view = MibView::build(&sample(), &counters());
    let mut at = oid(&[1, 3]);
    let mut seen = Vec::new();
    while let Some((next, _)) = view.next(&at) {
        assert!(*next > at);
        seen.push(next.clone());
        at = next.clone();
    }
    assert_eq!(seen.len(), view.len());
    assert!(seen.iter().all(|o| o.starts_with(&served_root())));
    // From inside a column, the next row; from the last, nothing.
    let first_member = object_oid(MEMBER_ENTRY).child(&[MBR_NAME]);
    assert_eq!(view.next(&first_member).unwrap().0, &first_member.child(&[2]));
    assert!(view.next(&oid(&[2, 0])).is_none());
}

#[test]
fn civil_dates_match_known_days() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(20_793), (2026, 12, 6));
}

/// Each object of [`OBJECTS`] is declared in the MIB file with that OID, read-only.
#[test]
fn the_mib_file_declares_every_object_with_its_oid() {
    let mib = include_str!("../../../mib/RACK-HA-MIB.txt");
    // descriptor -> (parent, arc) from every `::= { parent N }`.
    let mut parents = std::collections::HashMap::new();
    let mut last_name = String::new();
    for line in mib.lines() {
        let t = line.trim();
        if let Some(first) = t.split_whitespace().next() {
            if !line.starts_with(' ') && first.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                last_name = first.to_string();
            }
        }
        if let Some(rest) = t.strip_prefix("::= {").or_else(|| t.split("::= {").nth(1)) {
            let words: Vec<&str> = rest.trim_end_matches('}').split_whitespace().collect();
            if words.len() == 2 {
                let name = if t.starts_with("::=") {
                    last_name.clone()
                } else {
                    t.split_whitespace().next().unwrap().to_string()
                };
                parents.insert(name, (words[0].to_string(), words[1].parse::<u32>().unwrap()));
            }
        }
    }
    let resolve = |name: &str| -> Vec<u32> {
        let mut arcs = Vec::new();
        let mut at = name.to_string();
        while at != "rackHaMIB" {
            let (parent, arc) = parents.get(&at).unwrap_or_else(|| panic!("{at} is not in the MIB"));
            arcs.insert(0, *arc);
            at = parent.clone();
        }
        arcs
    };
    for (name, arcs) in OBJECTS {
        assert_eq!(resolve(name), arcs.to_vec(), "{name}");
        let decl = mib.split(&format!("\n{name} OBJECT-TYPE")).nth(1).unwrap_or_else(|| panic!("{name}"));
        let decl = decl.split("::=").next().unwrap();
        assert!(decl.contains("MAX-ACCESS  read-only"), "{name} is read-only");
    }
}

/// The `INTEGER { name(1), ... }` of `object` in the shipped MIB, as (name, value) pairs.
fn mib_enumeration(object: &str) -> Vec<(String, i32)> {
    let mib = include_str!("../../../mib/RACK-HA-MIB.txt");
    let start =
        mib.find(&format!("\n{object} OBJECT-TYPE")).unwrap_or_else(|| panic!("{object} not in the MIB"));
    let syntax = &mib[start..];
    let open = syntax.find("INTEGER {").expect("an enumeration") + "INTEGER {".len();
    let close = open + syntax[open..].find('}').unwrap();
    syntax[open..close]
        .split(',')
        .map(|item| {
            let (name, value) = item.trim().trim_end_matches(')').split_once('(').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_named_values_are_the_mibs_enumerations() {
    let kinds: Vec<(String, i32)> = crate::status::LinkMedium::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), link_kind_number(k.as_str()).unwrap()))
        .collect();
    assert_eq!(kinds, mib_enumeration("rackHaLnkKind"));
    let console: Vec<(String, i32)> = crate::status::ConsoleState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), console_state_number(s.as_str()).unwrap()))
        .collect();
    assert_eq!(console, mib_enumeration("rackHaArrayConsoleState"));
    let fence: Vec<(String, i32)> = crate::status::FenceResult::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), fence_result_number(r.as_str()).unwrap()))
        .collect();
    assert_eq!(fence, mib_enumeration("rackHaLastFenceResult"));
    assert_eq!(link_kind_number("ppp"), None);
    assert_eq!(console_state_number("answering "), None);
    assert_eq!(fence_result_number(""), None);
}
