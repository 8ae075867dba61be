//! Tests of `snmp::objects`, kept apart so that the module reads as what it does.

use super::*;
use crate::devices::console::model::{DiskState, RaidLevel, Reading, Sensor, SensorKind};

pub(crate) fn sample() -> Snapshot {
    let mut model = ArrayModel::default();
    model
        .drives
        .push(LogicalDrive {
            id: 0,
            level: RaidLevel::Raid5,
            state: DriveState::Rebuilding(42),
            group: Default::default(),
        })
        .unwrap();
    model
        .disks
        .push(Disk {
            enclosure: Some(1),
            slot: 3,
            state: DiskState::Rebuilding,
            drive: Some(0),
            rebuild_percent: Some(42),
        })
        .unwrap();
    model
        .sensors
        .push(Sensor::new(SensorKind::Temperature, "Controller Temp.", Reading::Celsius(80)))
        .unwrap();
    Snapshot {
        cluster: "rack".into(),
        member: "witness".into(),
        role: Role::Witness,
        boot: 7,
        authority: AuthorityFacts::Witness {
            generation: 3,
            holder: Some("node-a".into()),
            maintenance: false,
            granted_at_wall_ms: Some(1_796_558_400_123),
            startup: false,
            switching: false,
            fencing: None,
            last_fence: Some(FenceOutcome {
                node: "node-b".into(),
                result: FenceResult::Failed,
                attempt: 2,
                count: 3,
                at_wall_ms: 1_796_558_400_123,
            }),
        },
        members: vec![
            MemberRow {
                id: 2,
                name: "node-a".into(),
                role: Role::Node,
                state: PeerState::Reachable,
                links_up: 2,
                standby: Some(false),
                report: Some(NodeReportFacts {
                    ready: true,
                    resources_state: ResState::Running,
                    acting_generation: 3,
                    fence_bound_ms: 16_000,
                }),
            },
            MemberRow {
                id: 3,
                name: "node-b".into(),
                role: Role::Node,
                state: PeerState::Unreachable,
                links_up: 0,
                standby: Some(true),
                report: None,
            },
        ],
        links: vec![LinkRow {
            id: 1,
            peer: "node-a".into(),
            kind: LinkKindTag::Udp,
            transport: "udp 127.0.0.1:9000".into(),
            open: true,
            state: LinkState::Up,
            counters: LinkCounters { frames_in: 5_000_000_000, ..Default::default() },
        }],
        relays: vec![RelayRow { node_id: 2, node: "node-a".into(), healthy: false }],
        array: Some(ArrayFacts {
            console: ConsoleState::Answering,
            dialect: "areca".into(),
            device: "/dev/ttyS1".into(),
            wrong_baud: false,
            model: Some(model),
            survivable: vec![(0, Some(0))],
            array_survivable: Some(0),
        }),
        agent: AgentCounters { requests: 9, ..Default::default() },
        fence_service: Some(crate::status::FenceService {
            listen: "127.0.0.1:7790".into(),
            plugs: vec!["pm-a".into()],
            running: 1,
            counters: crate::status::FenceServiceCounters {
                bad_mac: 4,
                reboots: 2,
                failed: 1,
                ..Default::default()
            },
            last_command: Some(crate::status::FenceServiceCommand {
                plug: "pm-a".into(),
                action: "reboot".into(),
                ok: false,
                result: "failed: relay still reads on".into(),
                at_wall_ms: 1_796_558_400_123,
            }),
        }),
    }
}

fn oid(arcs: &[u32]) -> Oid {
    Oid::new(arcs)
}

#[test]
fn values_are_typed_and_absent_facts_have_no_instance() {
    let view = MibView::build(&sample());
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
    let without = MibView::build(&Snapshot { fence_service: None, ..sample() });
    assert_eq!(without.get(&e(FS_COMMANDS, &[0])), Lookup::NoSuchInstance);
    assert_eq!(without.len() + 25, view.len(), "25 fence service instances");
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
fn next_walks_every_instance_in_order_then_ends() {
    let view = MibView::build(&sample());
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
