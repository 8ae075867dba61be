//! Process-level membership: three real `ha-agent` processes joined by pty serial cables and
//! loopback UDP paths through the fault-injecting cable proxy.
//!
//! Run with:
//!
//! ```text
//! cargo build -p ha-agent && cargo test -p ha-tests --test process_membership -- --nocapture
//! ```
//!
//! Each test starts its own rack; a process-wide lock makes them run one at a time (three agents
//! with 100 ms heartbeats per rack, and timing assertions, on a shared two-core machine), so no
//! `--test-threads` flag is needed. On failure the rack prints the tail of every agent's log and
//! keeps its directory (configurations, key, logs) for inspection.
//!
//! Waits use generous timeouts (they only matter when something is broken); the one timing
//! assertion is the failure-detection bound of `isolating_node_a_...`, with the tolerance stated
//! there.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ha_agent::wire::{HEADER_BYTES, MAC_BYTES};
use ha_tests::cable::{complete_serial_frames, Direction, XorShift};
use ha_tests::harness::{
    link_counter, link_plan, link_state, links_of, member_state, others_of, Rack, Timing, MEMBERS,
    POLL_INTERVAL,
};
use serde_json::Value;

static ONE_RACK_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_rack_at_a_time() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next test still gets a fresh rack.
    ONE_RACK_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

/// How long the cluster may take to form: initdead plus slack for process start on a busy
/// machine. Only reached when something is broken.
fn formation_timeout(timing: Timing) -> Duration {
    ms(timing.initdead_ms + 10_000)
}

/// How long a state change that should follow a fault (or its repair) may take before the test
/// gives up. Only reached when something is broken; timing bounds are asserted separately.
fn change_timeout(timing: Timing) -> Duration {
    ms(timing.dead_ms * 2 + 5_000)
}

/// Start a rack and wait until every member sees all its links up and both others reachable.
fn formed_rack(name: &str) -> Rack {
    let rack = Rack::builder(name).start().unwrap_or_else(|error| panic!("{error}"));
    let timing = rack.timing();
    let took = rack
        .wait_for(formation_timeout(timing), || rack.everything_up())
        .unwrap_or_else(|problem| panic!("the cluster did not form: {problem}\n{}", rack.table()));
    println!("cluster formed after {took:?}:\n{}", rack.table());
    rack
}

/// Wait until `member`'s status satisfies `condition`, or panic with `what` and the table.
fn wait_for_status(
    rack: &Rack,
    member: &str,
    what: &str,
    timeout: Duration,
    condition: impl Fn(&Value) -> bool,
) -> Duration {
    rack.wait_for(timeout, || rack.try_status(member).is_ok_and(|status| condition(&status)))
        .unwrap_or_else(|problem| panic!("{member}: {what} not reached: {problem}\n{}", rack.table()))
}

/// `downs` (transitions into down) of every link on every member.
fn downs(rack: &Rack) -> BTreeMap<(&'static str, u8), u64> {
    let mut all = BTreeMap::new();
    for member in MEMBERS {
        let status = rack.status(member);
        for id in links_of(member) {
            let count = link_counter(&status, id, "downs")
                .unwrap_or_else(|| panic!("{member}: link {id} has no `downs` counter: {status}"));
            all.insert((member, id), count);
        }
    }
    all
}

/// The sum of the named counters of link `id` on `member`.
fn counters_sum(rack: &Rack, member: &str, id: u8, fields: &[&str]) -> u64 {
    let status = rack.status(member);
    fields
        .iter()
        .map(|field| {
            link_counter(&status, id, field)
                .unwrap_or_else(|| panic!("{member}: link {id} has no `{field}`: {status}"))
        })
        .sum()
}

/// Wait until the sum of `fields` of link `id` on `member` exceeds `before`; returns the new sum.
fn wait_for_increase(rack: &Rack, member: &str, id: u8, fields: &[&str], before: u64, what: &str) -> u64 {
    let timeout = change_timeout(rack.timing());
    let mut now = before;
    let increased = rack.wait_for(timeout, || {
        now = counters_sum(rack, member, id, fields);
        now > before
    });
    if let Err(problem) = increased {
        panic!("{what}: {member} link {id} {fields:?} stayed at {before}: {problem}\n{}", rack.table());
    }
    println!("{what}: {member} link {id} {fields:?} went from {before} to {now}");
    now
}

/// Watch for `duration` that every link is up and every member reachable everywhere, then
/// check that no link changed state (`transitions`) since `before`.
fn assert_nothing_changed(rack: &Rack, before: &BTreeMap<(&'static str, u8), u64>, duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        for member in MEMBERS {
            let status = rack.status(member);
            // A warn blip (a late frame on a busy machine) is allowed; down is not.
            for id in links_of(member) {
                assert_ne!(link_state(&status, id), Some("down"), "{member} link {id}:\n{}", rack.table());
            }
            for other in others_of(member) {
                assert_eq!(member_state(&status, other), Some("reachable"), "{member}:\n{}", rack.table());
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    let after = downs(rack);
    assert_eq!(&after, before, "a link went down:\n{}", rack.table());
}

#[test]
fn all_links_come_up_and_every_member_sees_the_other_two() {
    let _lock = one_rack_at_a_time();
    let mut rack = formed_rack("all-up");
    let timing = rack.timing();
    for member in MEMBERS {
        let status = rack.status(member);
        assert_eq!(status["cluster"], "payments", "{status}");
        assert_eq!(status["member"], member, "{status}");
        assert_eq!(status["role"], if member == "witness" { "witness" } else { "node" }, "{status}");
        assert_eq!(status["timing"]["interval_ms"], timing.interval_ms, "{status}");
        assert_eq!(status["timing"]["dead_ms"], timing.dead_ms, "{status}");
        let mut listed: Vec<&str> = status["members"]
            .as_array()
            .expect("members")
            .iter()
            .filter_map(|m| m["name"].as_str())
            .collect();
        listed.sort();
        let mut expected = others_of(member);
        expected.sort();
        assert_eq!(listed, expected, "{member} lists the other two members: {status}");
        let mut ids: Vec<u64> =
            status["links"].as_array().expect("links").iter().filter_map(|l| l["id"].as_u64()).collect();
        ids.sort();
        assert_eq!(ids, links_of(member).into_iter().map(u64::from).collect::<Vec<_>>(), "{status}");
        for id in links_of(member) {
            let link = ha_tests::harness::link_entry(&status, id).unwrap();
            assert_eq!(link["peer"].as_str(), link_plan(id).peer_of(member), "{status}");
            assert!(link_counter(&status, id, "frames_in").unwrap_or(0) > 0, "{member} link {id}: {status}");
            assert!(link_counter(&status, id, "frames_out").unwrap_or(0) > 0, "{member} link {id}: {status}");
        }
    }
    for (member, outcome) in rack.shutdown() {
        let exit = outcome.unwrap_or_else(|problem| panic!("{member}: {problem}"));
        assert!(exit.success(), "{member} exited with {exit} on SIGTERM");
    }
}

/// Bound on allocations an idle member may make in the window below beyond what two status
/// requests cost (each builds a JSON document, a few hundred allocations, not always exactly
/// the same number). Before the loop's buffers were reused it was about 200 a second.
const MAX_IDLE_ALLOCATIONS: i64 = 60;

#[test]
fn the_steady_state_heartbeats_allocate_nothing() {
    let _lock = one_rack_at_a_time();
    let rack = formed_rack("no-alloc");
    // Warm up: the loop's reused buffers reach their size with the first frames.
    std::thread::sleep(ms(1000));
    let window = ms(5000);
    for member in MEMBERS {
        let count = |s: &Value| s["allocations"].as_i64().expect("allocations in status");
        let frames = |s: &Value| -> u64 {
            links_of(member)
                .into_iter()
                .map(|id| {
                    link_counter(s, id, "frames_in").unwrap_or(0)
                        + link_counter(s, id, "frames_out").unwrap_or(0)
                })
                .sum()
        };
        let first = rack.status(member);
        let second = rack.status(member);
        let status_cost = count(&second) - count(&first);
        std::thread::sleep(window);
        let third = rack.status(member);
        let in_window = count(&third) - count(&second) - status_cost;
        let heartbeats = frames(&third) - frames(&second);
        println!(
            "{member}: {heartbeats} frames in and out in {window:?}, {in_window} allocations besides status (a status request costs {status_cost})"
        );
        assert!(count(&first) > 0, "{member}: the counting allocator is not installed");
        assert!(heartbeats >= 100, "{member}: too few frames to show anything ({heartbeats})");
        assert!(
            in_window.abs() <= MAX_IDLE_ALLOCATIONS,
            "{member}: {in_window} allocations in {window:?} of heartbeats ({heartbeats} frames)"
        );
        // Timer wake-ups are never early, and the loop keeps the latest one: the scheduling
        // jitter it got (the bench reads it under load).
        let late_max_us = third["stalls"]["late_max_us"].as_u64().expect("stalls.late_max_us in status");
        println!("{member}: latest wake-up {late_max_us} us after its planned instant");
        assert!(late_max_us > 0, "{member}: no wake-up was ever late, so the lateness is not tracked");
        // Every iteration works a little between two sleeps (frames to check and send).
        let busy_max_us = third["stalls"]["busy_max_us"].as_u64().expect("stalls.busy_max_us in status");
        println!("{member}: longest work between two sleeps {busy_max_us} us");
        assert!(busy_max_us > 0, "{member}: the loop's work between sleeps is not tracked");
    }
}

#[test]
fn cutting_one_cable_downs_only_that_link() {
    let _lock = one_rack_at_a_time();
    let rack = formed_rack("cut-one");
    let timing = rack.timing();
    let before = downs(&rack);

    println!("cutting serial link 1 (witness <-> node-a), both directions");
    rack.cable(1).cut();
    for member in ["witness", "node-a"] {
        let took = wait_for_status(&rack, member, "link 1 down", change_timeout(timing), |s| {
            link_state(s, 1) == Some("down")
        });
        println!("{member} sees link 1 down after {took:?}");
    }
    // Over another detection period: everything else stays as it was.
    let start = Instant::now();
    while start.elapsed() < ms(timing.dead_ms + 2 * timing.interval_ms) {
        for member in MEMBERS {
            let status = rack.status(member);
            // Up, or a warn blip when the machine is busy; never down.
            for id in links_of(member).into_iter().filter(|id| *id != 1) {
                assert_ne!(link_state(&status, id), Some("down"), "{member} link {id}:\n{}", rack.table());
            }
            for other in others_of(member) {
                assert_eq!(
                    member_state(&status, other),
                    Some("reachable"),
                    "{member} sees {other}:\n{}",
                    rack.table()
                );
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    let after = downs(&rack);
    for (key, count) in &after {
        if key.1 != 1 {
            assert_eq!(count, &before[key], "{key:?} went down:\n{}", rack.table());
        }
    }
    rack.heal_all();
    rack.wait_for(change_timeout(timing), || rack.everything_up())
        .unwrap_or_else(|problem| panic!("link 1 did not come back: {problem}\n{}", rack.table()));
}

#[test]
fn a_one_way_cut_downs_the_link_on_both_sides() {
    let _lock = one_rack_at_a_time();
    let rack = formed_rack("one-way");
    let timing = rack.timing();
    // Serial 1 loses witness -> node-a; UDP 13 loses node-b -> node-a. In both cases the end that
    // still hears its peer must notice that its own frames are no longer acknowledged.
    let cases = [(1u8, Direction::AToB), (13u8, Direction::BToA)];
    for (id, direction) in cases {
        let plan = link_plan(id);
        println!("cutting link {id} in direction {direction:?} only ({} <-> {})", plan.a, plan.b);
        rack.cable(id).set_cut(direction, true);
        for member in [plan.a, plan.b] {
            let took =
                wait_for_status(&rack, member, &format!("link {id} down"), change_timeout(timing), |s| {
                    link_state(s, id) == Some("down")
                });
            println!("{member} sees link {id} down after {took:?}");
        }
        for member in [plan.a, plan.b] {
            let peer = plan.peer_of(member).unwrap();
            assert_eq!(
                member_state(&rack.status(member), peer),
                Some("reachable"),
                "{member} still reaches {peer} over other links"
            );
        }
        rack.heal_all();
        rack.wait_for(change_timeout(timing), || rack.everything_up())
            .unwrap_or_else(|problem| panic!("link {id} did not come back: {problem}\n{}", rack.table()));
    }
}

#[test]
fn isolating_node_a_is_detected_within_dead_ms_and_heals() {
    let _lock = one_rack_at_a_time();
    let rack = formed_rack("isolate");
    let timing = rack.timing();
    let bound = ms(timing.dead_ms + 2 * timing.interval_ms + 250);
    // The freshest proof at the cut can be up to one interval old (the peer's next frame was
    // due), plus the proxy's forwarding and scheduling latency (50 ms allowance): see
    // docs/design.md, "Failure detection".
    let earliest = ms(timing.dead_ms - timing.interval_ms - 50);

    let cut = rack.isolate("node-a");
    let cut_at = Instant::now();
    assert_eq!(cut, vec![1, 3, 11, 13]);
    println!("cut every link of node-a: {cut:?}");
    // Each figure is taken when the status answer that first shows the change returns: never
    // earlier than the change itself, so "too early" below is certain, not a polling artefact.
    let mut detected: BTreeMap<&str, Duration> = BTreeMap::new();
    while detected.len() < 2 && cut_at.elapsed() < change_timeout(timing) {
        rack.check_running().unwrap_or_else(|problem| panic!("{problem}"));
        for observer in ["witness", "node-b"] {
            if detected.contains_key(observer) {
                continue;
            }
            if let Ok(status) = rack.try_status(observer) {
                if member_state(&status, "node-a") == Some("unreachable") {
                    detected.insert(observer, cut_at.elapsed());
                }
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    for observer in ["witness", "node-b"] {
        let took = *detected
            .get(observer)
            .unwrap_or_else(|| panic!("{observer} never saw node-a unreachable:\n{}", rack.table()));
        println!(
            "{observer} saw node-a unreachable {} ms after the cut (dead_ms {}, allowed {}..={} ms)",
            took.as_millis(),
            timing.dead_ms,
            earliest.as_millis(),
            bound.as_millis()
        );
        assert!(took <= bound, "{observer}: detection took {took:?}, more than {bound:?}");
        assert!(
            took >= earliest,
            "{observer}: node-a declared unreachable after {took:?}, before {earliest:?}"
        );
    }
    // The two others still reach each other.
    assert_eq!(member_state(&rack.status("witness"), "node-b"), Some("reachable"), "{}", rack.table());
    assert_eq!(member_state(&rack.status("node-b"), "witness"), Some("reachable"), "{}", rack.table());
    // node-a's own verdict comes on its own time: its last frames from the others can be up to
    // an interval younger than theirs from it.
    let took = wait_for_status(&rack, "node-a", "both others unreachable", change_timeout(timing), |s| {
        ["witness", "node-b"].iter().all(|other| member_state(s, other) == Some("unreachable"))
    });
    let alone_ms = cut_at.elapsed().as_millis();
    println!(
        "node-a saw both others unreachable by {alone_ms} ms after the cut (waited {} ms for it once both \
         had seen node-a unreachable); while isolated:\n{}",
        took.as_millis(),
        rack.table()
    );

    rack.heal_all();
    let healed_at = Instant::now();
    for observer in ["witness", "node-b"] {
        wait_for_status(&rack, observer, "node-a reachable again", change_timeout(timing), |s| {
            member_state(s, "node-a") == Some("reachable")
        });
    }
    rack.wait_for(change_timeout(timing), || rack.everything_up())
        .unwrap_or_else(|problem| panic!("the cluster did not heal: {problem}\n{}", rack.table()));
    println!(
        "healed: everything up {} ms after the repair:\n{}",
        healed_at.elapsed().as_millis(),
        rack.table()
    );
}

#[test]
fn noise_replays_and_forgeries_are_counted_and_change_nothing() {
    let _lock = one_rack_at_a_time();
    let rack = formed_rack("noise");
    let timing = rack.timing();
    let before = downs(&rack);
    const SEED: u64 = 0x00c0_ffee;
    println!("noise seed {SEED:#x}");
    let mut rng = XorShift::new(SEED);

    // 1. Line noise on serial 1, towards node-a: garbage frames between delimiters.
    let noise_fields = ["crc_errors", "malformed"];
    let was = counters_sum(&rack, "node-a", 1, &noise_fields);
    for _ in 0..5 {
        let mut garbage = vec![0u8];
        garbage.extend(rng.bytes(64).into_iter().map(|byte| byte.max(1)));
        garbage.push(0);
        assert!(rack.cable(1).inject(Direction::AToB, &garbage));
    }
    wait_for_increase(&rack, "node-a", 1, &noise_fields, was, "serial noise");

    // 2. Random datagrams on UDP 11, towards node-a.
    let datagram_fields = ["malformed", "auth_failures"];
    let was = counters_sum(&rack, "node-a", 11, &datagram_fields);
    for _ in 0..5 {
        assert!(rack.cable(11).inject(Direction::AToB, &rng.bytes(80)));
    }
    wait_for_increase(&rack, "node-a", 11, &datagram_fields, was, "random datagrams");

    // 3. A recorded datagram (witness -> node-a, link 11) replayed on the same link.
    let was = counters_sum(&rack, "node-a", 11, &["replays"]);
    let recorded = rack.cable(11).recorded(Direction::AToB);
    let frame = recorded.last().expect("the proxy recorded witness -> node-a datagrams").clone();
    assert!(rack.cable(11).inject(Direction::AToB, &frame));
    wait_for_increase(&rack, "node-a", 11, &["replays"], was, "udp replay");

    // 4. A recorded serial frame (node-a -> node-b, link 3) replayed on the same cable.
    let was = counters_sum(&rack, "node-b", 3, &["replays"]);
    let frames = complete_serial_frames(&rack.cable(3).recorded(Direction::AToB));
    let frame = frames.last().expect("the proxy recorded a complete node-a -> node-b serial frame").clone();
    let mut replay = vec![0u8];
    replay.extend_from_slice(&frame);
    replay.push(0);
    assert!(rack.cable(3).inject(Direction::AToB, &replay));
    wait_for_increase(&rack, "node-b", 3, &["replays"], was, "serial replay");

    // 5. A forged datagram (witness -> node-b, link 12): one body byte changed, MAC kept.
    let was = counters_sum(&rack, "node-b", 12, &["auth_failures"]);
    let mut forged = rack
        .cable(12)
        .recorded(Direction::AToB)
        .last()
        .expect("recorded witness -> node-b datagrams")
        .clone();
    assert!(
        forged.len() > HEADER_BYTES + MAC_BYTES,
        "a heartbeat of {} bytes has no body between its {HEADER_BYTES}-byte header and {MAC_BYTES}-byte MAC",
        forged.len()
    );
    forged[HEADER_BYTES] ^= 0x01;
    assert!(rack.cable(12).inject(Direction::AToB, &forged));
    wait_for_increase(&rack, "node-b", 12, &["auth_failures"], was, "forged datagram");

    // Over a whole detection period afterwards: every link up, every member reachable, and no
    // link changed state since before the first injection.
    assert_nothing_changed(&rack, &before, ms(timing.dead_ms + 2 * timing.interval_ms));
    assert_eq!(rack.cable(1).counters(Direction::AToB).units_injected, 5);
    assert_eq!(rack.cable(11).counters(Direction::AToB).units_injected, 6);
}
