//! Tests of `status`: the typed document keeps the keys and shapes the status has always had,
//! goes through JSON unchanged, and docs/status.md describes every key it has and no other.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

const DOC: &str = include_str!("../../../docs/status.md");

/// A document with every field filled (each option set, each list holding one): the
/// witness's, or a node's.
fn filled(witness: bool) -> Status {
    let authority = if witness {
        Authority::Witness(WitnessAuthority {
            generation: 4,
            holder: Some("node-a".into()),
            startup: false,
            switching: true,
            fencing: Some("node-b".into()),
            fence_device: true,
            fence_devices: vec![FenceDevice { node: "node-b".into(), state: "ok".into() }],
            granted_at_wall_ms: Some(1_795_724_922_776),
            maintenance: false,
            last_fence: Some(LastFence {
                node: "node-b".into(),
                result: "failed".into(),
                attempt: 2,
                count: 3,
                at_wall_ms: 1_795_724_922_900,
            }),
            nodes: vec![NodeReport {
                name: "node-a".into(),
                standby: false,
                ready: Some(true),
                resources_state: Some("running".into()),
                acting_generation: Some(4),
                stopped_generation: Some(3),
                watchdog_armed: Some(true),
                fence_bound_ms: Some(16_000),
            }],
        })
    } else {
        Authority::Node(NodeAuthority {
            acting_generation: 4,
            max_seen_generation: 4,
            quorum: true,
            leaving: Some("handing the service over".into()),
            maintenance: false,
            resources_state: "running".into(),
            resources: vec![Resource {
                name: "db".into(),
                state: "degraded".into(),
                degraded_reason: Some("lag 30 s".into()),
                failures: 1,
                last_failure: Some(ResourceFailure {
                    action: "monitor".into(),
                    outcome: "exit 1 (generic error)".into(),
                    exit_code: Some(1),
                    exit_reason: Some("cannot connect".into()),
                }),
            }],
            watchdog: Some(WatchdogStatus { timeout_ms: 10_000, withholding: false }),
        })
    };
    Status {
        cluster: "payments".into(),
        member: if witness { "witness" } else { "node-a" }.into(),
        role: if witness { "witness" } else { "node" }.into(),
        boot: 1_795_730_420,
        uptime_ms: 12_000,
        timing: Timing { interval_ms: 100, warn_ms: 300, dead_ms: 600, initdead_ms: 2000 },
        stalls: Stalls { count: 1, max_ms: 250, late_max_us: 9000, busy_max_us: 800, busy_count: 0 },
        journal_queue: Queue { waiting: 0, dropped: 0 },
        log_queue: Queue { waiting: 1, dropped: 0 },
        allocations: 12_345,
        heartbeats_triggered: 7,
        reloads: Reloads { applied: 1, refused: 0 },
        events_dropped: 0,
        authority: Some(authority),
        array: Some(ArrayStatus {
            console: Console {
                dialect: "areca".into(),
                device: "/dev/ttyS2".into(),
                state: "answering".into(),
                wrong_baud: false,
                last_answer_ms_ago: Some(800),
            },
            survivable_failures: Some(0),
            drives: vec![Drive {
                name: "ld1".into(),
                id: 1,
                raid_level: "5".into(),
                state: "rebuilding".into(),
                rebuild_percent: Some(40),
                survivable_failures: Some(0),
            }],
            disks: vec![Disk {
                name: "e1/s2".into(),
                enclosure: Some(1),
                slot: 2,
                state: "rebuilding".into(),
                drive: Some("ld1".into()),
                rebuild_percent: Some(40),
            }],
            environment: vec![Sensor {
                name: "Controller Temp.".into(),
                kind: "temperature".into(),
                reading: "41 C".into(),
                alarm: Some("too hot".into()),
            }],
        }),
        snmp_targets: vec!["192.0.2.10:162".into()],
        snmp_agent: Some(SnmpAgent {
            listen: "0.0.0.0:161".into(),
            counters: SnmpAgentCounters { requests: 3, ..Default::default() },
        }),
        fence_service: Some(FenceService {
            listen: "0.0.0.0:7790".into(),
            plugs: vec!["pm-a".into()],
            running: 0,
            counters: FenceServiceCounters { commands: 1, offs: 1, ..Default::default() },
            last_command: Some(FenceServiceCommand {
                plug: "pm-a".into(),
                action: "off".into(),
                ok: true,
                result: "power off confirmed by read-back".into(),
                at_wall_ms: 1_796_558_400_123,
            }),
        }),
        last_events: Some(vec!["#3 2026-11-26 20:28:42.776Z grant store generation and holder".into()]),
        members: vec![Member {
            name: Some("node-b".into()),
            id: 3,
            role: Some("node".into()),
            state: "reachable".into(),
            links_up: 2,
            reaches: vec!["witness".into()],
        }],
        links: vec![Link {
            id: 1,
            peer: "node-a".into(),
            kind: "serial".into(),
            transport: "serial /dev/ttyS0".into(),
            open: false,
            state: "up".into(),
            latency_us: Some(1234),
            jitter_us: Some(56),
            last_rx_ago_ms: Some(50),
            note: Some("cannot open: No such file or directory".into()),
            ..Default::default()
        }],
    }
}

/// Every key path of `v` (`authority.nodes[].name`), arrays entered through their elements.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.insert(path.clone());
                paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn all_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for witness in [true, false] {
        paths(&serde_json::to_value(filled(witness)).unwrap(), "", &mut out);
    }
    out
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path).trim_end_matches("[]")
}

/// The words in backticks of `text`.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

fn is_key(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn a_filled_document_goes_through_json_unchanged() {
    for witness in [true, false] {
        let status = filled(witness);
        let text = serde_json::to_string(&status).unwrap();
        let back: Status = serde_json::from_str(&text).unwrap();
        assert_eq!(back, status);
    }
}

#[test]
fn the_keys_and_shapes_are_the_ones_the_readers_know() {
    // The document as the shell built it with `json!` before it was typed: the rack's Python
    // harness and every script read these through `status --json`.
    let top = [
        "allocations",
        "array",
        "authority",
        "boot",
        "cluster",
        "events_dropped",
        "fence_service",
        "heartbeats_triggered",
        "journal_queue",
        "last_events",
        "links",
        "log_queue",
        "member",
        "members",
        "reloads",
        "role",
        "snmp_agent",
        "snmp_targets",
        "stalls",
        "timing",
        "uptime_ms",
    ];
    let witness = serde_json::to_value(filled(true)).unwrap();
    let keys: Vec<&str> = witness.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, top);
    let object_keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        object_keys(&witness["authority"]),
        [
            "fence_device",
            "fence_devices",
            "fencing",
            "generation",
            "granted_at_wall_ms",
            "holder",
            "last_fence",
            "maintenance",
            "nodes",
            "role",
            "startup",
            "switching"
        ]
    );
    assert_eq!(witness["authority"]["role"], "witness");
    assert_eq!(
        object_keys(&witness["authority"]["nodes"][0]),
        [
            "acting_generation",
            "fence_bound_ms",
            "name",
            "ready",
            "resources_state",
            "standby",
            "stopped_generation",
            "watchdog_armed"
        ]
    );
    assert_eq!(
        object_keys(&witness["authority"]["last_fence"]),
        ["at_wall_ms", "attempt", "count", "node", "result"]
    );
    let node = serde_json::to_value(filled(false)).unwrap();
    assert_eq!(
        object_keys(&node["authority"]),
        [
            "acting_generation",
            "leaving",
            "maintenance",
            "max_seen_generation",
            "quorum",
            "resources",
            "resources_state",
            "role",
            "watchdog"
        ]
    );
    assert_eq!(node["authority"]["role"], "node");
    assert_eq!(
        object_keys(&node["authority"]["resources"][0]),
        ["degraded_reason", "failures", "last_failure", "name", "state"]
    );
    assert_eq!(
        object_keys(&node["authority"]["resources"][0]["last_failure"]),
        ["action", "exit_code", "exit_reason", "outcome"]
    );
    assert_eq!(object_keys(&witness["members"][0]), ["id", "links_up", "name", "reaches", "role", "state"]);
    assert_eq!(
        object_keys(&witness["links"][0]),
        [
            "auth_failures",
            "crc_errors",
            "downs",
            "frames_in",
            "frames_out",
            "id",
            "jitter_us",
            "kind",
            "last_rx_ago_ms",
            "latency_us",
            "malformed",
            "note",
            "open",
            "peer",
            "replays",
            "send_errors",
            "state",
            "transitions",
            "transport",
            "unknown_link"
        ]
    );
    // `note` only when there is one; everything else always, null when unknown.
    let mut quiet = filled(true);
    quiet.links[0].note = None;
    quiet.links[0].latency_us = None;
    let v = serde_json::to_value(&quiet).unwrap();
    assert!(v["links"][0].get("note").is_none());
    assert_eq!(v["links"][0]["latency_us"], Value::Null);
    let empty = serde_json::to_value(Status::default()).unwrap();
    for key in ["authority", "array", "snmp_agent", "last_events"] {
        assert_eq!(empty[key], Value::Null, "{key}");
    }
}

#[test]
fn docs_status_md_describes_every_key_and_no_other() {
    let documented: BTreeSet<&str> = backticked(DOC).filter(|w| is_key(w)).collect();
    let all = all_paths();
    let missing: Vec<&String> = all.iter().filter(|p| !documented.contains(last_key(p))).collect();
    assert!(missing.is_empty(), "keys of the status that docs/status.md does not name: {missing:?}");
    // Every key a table of the document lists (its first column) is one the status has.
    let names: BTreeSet<&str> = all.iter().map(|p| last_key(p)).collect();
    let mut listed = 0;
    for line in DOC.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        // (The `--wait` table's first column holds commands, not keys.)
        for key in backticked(first).filter(|w| is_key(w)) {
            listed += 1;
            assert!(names.contains(key), "docs/status.md lists `{key}`, which the status does not have");
        }
    }
    assert!(listed > 20, "the tables' keys were read ({listed})");
    // The top-level keys are in the document's first tables, by name.
    let top: BTreeSet<&str> = all.iter().filter(|p| !p.contains('.')).map(String::as_str).collect();
    let in_tables: BTreeSet<&str> = DOC
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| backticked(l.split('|').nth(1).unwrap_or("")))
        .collect();
    let untabled: Vec<&&str> = top.iter().filter(|k| !in_tables.contains(**k)).collect();
    assert!(untabled.is_empty(), "top-level keys without a row in docs/status.md: {untabled:?}");
}

#[test]
fn a_reader_takes_a_document_with_less_in_it() {
    let v: Status = serde_json::from_str(
        r#"{"member":"witness","authority":{"role":"witness","holder":"node-a","generation":3},
            "members":[{"name":"node-a","state":"reachable"}],"links":[{"id":1,"state":"up"}]}"#,
    )
    .unwrap();
    assert_eq!(v.witness().and_then(|w| w.holder.as_deref()), Some("node-a"));
    assert!(v.reachable("node-a") && !v.reachable("node-b"));
    assert_eq!(v.links[0].state, "up");
    assert_eq!(v.array, None);
    assert!(serde_json::from_str::<Status>(r#"{"authority":{"role":"judge"}}"#).is_err(), "an unknown role");
}

#[test]
fn a_value_of_another_type_is_an_error_naming_its_key_path() {
    let err = |text: &str| serde_json::from_str::<Status>(text).unwrap_err().to_string();
    let e = err(r#"{"links":[{"id":1},{"id":"two"}]}"#);
    assert!(e.starts_with("status document.links[1].id: expected an integer up to 255"), "{e}");
    let e = err(r#"{"authority":{"role":"witness","nodes":[{"name":"node-a","ready":"yes"}]}}"#);
    assert!(e.starts_with("status document.authority.nodes[0].ready: expected true or false"), "{e}");
    let e = err(r#"{"members":[{"id":300}]}"#);
    assert!(e.contains(".members[0].id: expected an integer up to 255, got 300"), "{e}");
    assert!(err("[1, 2]").starts_with("status document: expected an object"), "{}", err("[1, 2]"));
    let e = err(r#"{"authority":{"generation":3}}"#);
    assert!(e.contains(".authority.role: expected"), "{e}");
    // Null where the document allows it, and keys it does not know, are fine.
    let v: Status =
        serde_json::from_str(r#"{"array":null,"future_key":{"x":1},"links":[{"latency_us":null}]}"#).unwrap();
    assert_eq!((v.array, v.links[0].latency_us), (None, None));
}
