//! The safety rules W1-W5 and N1-N4 of the product brief, as specifications run on the
//! deterministic simulator (the real core of three members; see `ha_tests::sim`). Each test
//! describes a rack, injects one situation, and states what must and must not happen. Every
//! test also relies on the simulator's observer: it fails the run on any instant with two
//! powered nodes whose resources are not stopped, on generations going backwards, and on a node
//! starting resources under a generation that was not granted to it. The last section drives
//! the pure state machines (witness, node, the witness's engine) by hand to the exact situation
//! of a bug the simulator found, so that undoing its fix fails a test.

use ha_tests::sim::{
    Fault, FaultKind, RelayMode, ResourceFault, Scenario, Sim, DEAD_MS, INITDEAD_MS, INTERVAL_MS, MARGIN_MS,
    NODE_A, NODE_B, SELF_FENCE_MS, STOP_TIMEOUT_MS, WATCHDOG_MS,
};

const WITNESS_INDEX: usize = 0;
const A: usize = 1;

fn fault(at_ms: u64, duration_ms: u64, kind: FaultKind) -> Fault {
    Fault { at_ms, duration_ms, kind }
}

/// A rack with these faults; the faults are never healed by the scenario (heal far away).
fn rack(faults: Vec<Fault>, fence_device: bool) -> Sim {
    Sim::new(Scenario::custom(faults, 10_000_000, fence_device))
}

fn assert_safe(sim: &Sim) {
    assert!(sim.violations().is_empty(), "violations: {:?}\ntrace:\n{}", sim.violations(), trace(sim));
}

fn trace(sim: &Sim) -> String {
    sim.trace().iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Cold start, then the service running on node A (the preferred node).
fn started(faults: Vec<Fault>, fence_device: bool) -> Sim {
    let mut sim = rack(faults, fence_device);
    sim.run_until(3_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "cold start:\n{}", trace(&sim));
    sim
}

// ---- cold start (W4, N4) -----------------------------------------------------------------

#[test]
fn w4_n4_cold_start_runs_the_service_on_exactly_one_node() {
    let mut sim = rack(vec![], true);
    sim.run_until(200);
    assert!(sim.running_nodes().is_empty(), "N4: nothing runs before the witness granted");
    sim.run_until(3_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    assert_eq!(sim.witness_state().map(|s| (s.generation, s.holder)), Some((1, NODE_A)));
    sim.run_until(20_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "and it stays there");
    assert_eq!(sim.stats().failovers, 0);
    assert_safe(&sim);
}

#[test]
fn w4_cold_start_with_one_node_missing_fences_it_then_grants_after_initdead() {
    // Node A is down from the start (crashed before the witness booted).
    let mut sim =
        rack(vec![fault(0, 1, FaultKind::Crash { member: A, down_ms: 60_000, lose_state: false })], true);
    sim.run_until(INITDEAD_MS - 100);
    assert!(sim.running_nodes().is_empty(), "W4: the witness waits initdead for the missing node");
    sim.run_until(INITDEAD_MS + 6_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "then the present node runs the service\n{}", trace(&sim));
    assert!(sim.stats().fences >= 1, "the missing node is fenced first (it might be running)");
    assert_safe(&sim);
}

#[test]
fn w4_a_witness_that_lost_its_state_adopts_the_highest_generation_heard() {
    let mut sim = started(
        vec![fault(5_000, 1, FaultKind::Crash { member: WITNESS_INDEX, down_ms: 2_000, lose_state: true })],
        true,
    );
    let before = sim.witness_state().unwrap();
    sim.run_until(5_000 + 2_000 + INITDEAD_MS + 3_000);
    let after = sim.witness_state().expect("witness back");
    assert!(after.generation >= before.generation, "never backwards: {before:?} -> {after:?}");
    assert_eq!(after.holder, NODE_A, "the service did not move: {after:?}\n{}", trace(&sim));
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    assert_safe(&sim);
}

// ---- failover (W1, W2) -------------------------------------------------------------------

#[test]
fn w1_power_cut_of_the_holder_fails_over_only_after_a_confirmed_fence() {
    let mut sim = started(
        vec![fault(5_000, 1, FaultKind::Crash { member: A, down_ms: 60_000, lose_state: false })],
        true,
    );
    sim.run_until(15_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    let s = sim.witness_state().unwrap();
    assert_eq!((s.generation, s.holder), (2, NODE_B));
    let t = trace(&sim);
    assert!(t.contains("FenceSucceeded { node: 2 }"), "a confirmed fence of A\n{t}");
    let fenced = t.find("relay result for 2: Confirmed").expect("the relay's answer");
    // The grant's store overlaps the fence (an early grant); it is announced after the fence.
    let stored = t.find("persisted generation 2 holder 3 pending the fence of 2").expect("the early grant");
    let granted = t.find("announced the early grant of generation 2 holder 3").expect("the grant to B");
    assert!(fenced < granted && stored < granted, "W1: the fence is confirmed before the grant\n{t}");
    assert_safe(&sim);
}

#[test]
fn w1_unconfirmed_fence_is_not_trusted_and_the_watchdog_deadline_decides() {
    // The relay cannot read back; A is isolated (alive, but cut off).
    let relay = fault(
        4_000,
        1_000_000,
        FaultKind::Relay { node: A, mode: RelayMode::Unconfirmed { really_cut: false } },
    );
    let isolate = fault(5_000, 1_000_000, FaultKind::Isolate { member: A });
    let mut sim = started(vec![relay, isolate], true);
    sim.run_until(60_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    let b_started = sim.first_start_after(NODE_B, 5_000).unwrap();
    // dead + interval + (self_fence + worst-case stop + watchdog) + margin after the last frame;
    // the worst-case stop of the simulated group (two resources, one action in flight, the
    // result backstop) is at least its two stop timeouts.
    let deadline = DEAD_MS + INTERVAL_MS + SELF_FENCE_MS + 2 * STOP_TIMEOUT_MS + WATCHDOG_MS + MARGIN_MS;
    assert!(
        b_started >= 5_000 + deadline - 200,
        "B started {} ms after the isolation, before the deadline of {deadline} ms",
        b_started - 5_000
    );
    assert!(trace(&sim).contains("FenceUnconfirmed"), "the unconfirmed result is reported");
    assert_safe(&sim);
}

#[test]
fn w2_holder_cut_off_from_the_witness_only_keeps_the_service() {
    // Links 1 (W-A serial) and 11 (W-A UDP) are links 0 and 3 of the simulator.
    let mut sim = started(
        vec![
            fault(5_000, 1_000_000, FaultKind::Cut { link: 0, direction: 2 }),
            fault(5_000, 1_000_000, FaultKind::Cut { link: 3, direction: 2 }),
        ],
        true,
    );
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "W2: B still reaches A, so A is not lost\n{}", trace(&sim));
    assert_eq!(sim.stats().fences, 0);
    assert_eq!(sim.witness_state().unwrap().generation, 1);
    assert_safe(&sim);
}

#[test]
fn w2_a_holder_released_while_its_fence_is_in_flight_is_not_fenced_later() {
    // The relay does not answer for a while; A is cut off, stops by itself (N2) and, when it
    // can talk to B again and its frames reach the witness (not the other way), reports its
    // stop: the witness releases it and grants B. The power-off that was in flight when A was
    // released fails; it must not be retried once the relay works again, while B reaches A
    // (the observer's W2 check: the witness fences only a node the other node does not reach).
    let relay = fault(3_000, 20_000, FaultKind::Relay { node: A, mode: RelayMode::NoAnswer });
    let isolate = fault(4_100, 4_000, FaultKind::Isolate { member: A });
    let one_way = fault(4_300, 1_000_000, FaultKind::Partition { a: A, b: WITNESS_INDEX, direction: 1 });
    let mut sim = started(vec![relay, isolate, one_way], true);
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert!(sim.powered(NODE_A), "A was not fenced after its release\n{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn w4_a_witness_adopts_a_higher_generation_from_a_node_heard_only_after_its_cold_start() {
    // No relay. A is cut off; after the watchdog deadline B gets generation 2, which A never
    // hears. Then the rack loses power and the witness its state; when it comes back only A
    // (who knows generation 1) is in reach, so after initdead it adopts 1. When B (who knows
    // 2) is back, the witness must adopt 2 too, or it would stay below what the nodes know
    // and never grant again.
    const B: usize = 2;
    let isolate = fault(4_000, 21_000, FaultKind::Isolate { member: A });
    let power = fault(25_000, 1, FaultKind::RackPower { down_ms: 1_000, lose_state: true });
    let b_away = fault(25_000, 10_000, FaultKind::Partition { a: B, b: WITNESS_INDEX, direction: 2 });
    let b_alone = fault(25_000, 10_000, FaultKind::Partition { a: A, b: B, direction: 2 });
    let mut sim = started(vec![isolate, power, b_away, b_alone], false);
    sim.run_until(24_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert_eq!(sim.witness_state().map(|s| s.generation), Some(2));
    sim.run_until(60_000);
    assert_eq!(sim.running_nodes().len(), 1, "the service runs again\n{}", trace(&sim));
    assert!(sim.witness_state().is_some_and(|s| s.generation >= 3), "{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn w3_an_isolated_witness_does_nothing() {
    let mut sim = started(vec![fault(5_000, 1_000_000, FaultKind::Isolate { member: WITNESS_INDEX })], true);
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "{}", trace(&sim));
    assert_eq!(sim.stats().fences, 0, "W3: an isolated witness must not fence");
    assert_safe(&sim);
}

#[test]
fn the_witness_alone_failing_never_stops_the_service() {
    let mut sim = started(
        vec![fault(5_000, 1, FaultKind::Crash { member: WITNESS_INDEX, down_ms: 20_000, lose_state: false })],
        true,
    );
    for t in (5_000..=24_000).step_by(500) {
        sim.run_until(t);
        assert_eq!(sim.running_nodes(), vec![NODE_A], "at {t} ms while the witness is down\n{}", trace(&sim));
    }
    sim.run_until(35_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "and after it returns");
    assert_eq!(
        sim.witness_state().unwrap().holder,
        NODE_A,
        "it resumes supervision without moving the service"
    );
    assert_safe(&sim);
}

// ---- switchover (W5) ---------------------------------------------------------------------

#[test]
fn w5_graceful_switchover_stops_before_it_grants() {
    let mut sim = started(vec![], true);
    sim.request_move(NODE_B);
    sim.run_until(8_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    let a_stopped = sim.timeline().iter().find(|(_, n, r)| *n == NODE_A && !*r).map(|(t, ..)| *t).unwrap();
    let b_started = sim.first_start_after(NODE_B, 3_000).unwrap();
    assert!(a_stopped <= b_started, "A stopped at {a_stopped} ms, B started at {b_started} ms");
    assert_eq!(sim.stats().fences, 0, "a holder that stops is not fenced");
    assert_eq!(sim.witness_state().unwrap().generation, 2);
    assert_safe(&sim);
}

#[test]
fn w5_a_hung_stop_during_switchover_leads_to_fencing() {
    let mut sim = started(
        vec![fault(3_500, 1_000_000, FaultKind::Resource { node: A, fault: ResourceFault::StopHangs })],
        true,
    );
    sim.run_until(3_600);
    sim.request_move(NODE_B);
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert!(sim.stats().fences >= 1, "the holder whose stop hung was fenced\n{}", trace(&sim));
    assert_safe(&sim);
}

// ---- nodes (N1-N3) -----------------------------------------------------------------------

#[test]
fn n1_n2_an_isolated_holder_stops_by_itself_and_never_acts_on_its_old_generation_again() {
    // No relay answers: the witness must wait for the watchdog deadline.
    let relay = fault(4_000, 1_000_000, FaultKind::Relay { node: A, mode: RelayMode::NoAnswer });
    let isolate = fault(5_000, 20_000, FaultKind::Isolate { member: A });
    let mut sim = started(vec![relay, isolate], true);
    sim.run_until(5_000 + DEAD_MS + SELF_FENCE_MS + 2_000);
    assert!(
        sim.running_nodes().is_empty() || sim.running_nodes() == vec![NODE_B],
        "N2: A stopped its resources\n{}",
        trace(&sim)
    );
    assert!(sim.stats().self_fences >= 1);
    sim.run_until(60_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert!(sim.first_start_after(NODE_A, 5_100).is_none(), "N1: A never ran again under its old generation");
    assert_safe(&sim);
}

#[test]
fn n2_a_stop_that_hangs_during_self_fence_starves_the_watchdog_and_the_hardware_resets_the_node() {
    let stop_hangs =
        fault(4_000, 1_000_000, FaultKind::Resource { node: A, fault: ResourceFault::StopHangs });
    let relay = fault(4_000, 1_000_000, FaultKind::Relay { node: A, mode: RelayMode::NoAnswer });
    let isolate = fault(5_000, 1_000_000, FaultKind::Isolate { member: A });
    let mut sim = started(vec![stop_hangs, relay, isolate], true);
    sim.run_until(60_000);
    assert!(sim.stats().watchdog_resets >= 1, "the watchdog reset A\n{}", trace(&sim));
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn n3_a_hung_agent_is_reset_by_its_watchdog_and_the_witness_waits_for_it() {
    // A SIGSTOP-like hang longer than the watchdog timeout; the relay is broken.
    let relay = fault(4_000, 1_000_000, FaultKind::Relay { node: A, mode: RelayMode::Stuck });
    let hang = fault(5_000, 1, FaultKind::Hang { member: A, ms: 30_000, late_ms: 0 });
    let mut sim = started(vec![relay, hang], true);
    sim.run_until(5_000 + WATCHDOG_MS + 500);
    assert!(sim.stats().watchdog_resets >= 1, "N3: nobody fed the hung node's watchdog\n{}", trace(&sim));
    // A reboots clean (N4: it waits for the witness) and, still the holder of a generation
    // that nobody replaced, is told to run again: the service is back on exactly one node.
    sim.run_until(60_000);
    assert_eq!(sim.running_nodes().len(), 1, "{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn n4_a_grant_whose_store_fails_starts_only_once_a_later_store_succeeds() {
    // Node A's disk fails every write for the first 6 s: the grant it gets at cold start
    // cannot be stored, so nothing may start under it; once the disk works again, the store is
    // tried again and the service starts (a failed store must not block the node for good).
    let disk = FaultKind::Disk { member: A, slow_ms: 0, fail_per_mille: 1000 };
    let mut sim = rack(vec![fault(0, 6_000, disk)], true);
    sim.run_until(6_000);
    assert!(
        sim.running_nodes().is_empty(),
        "N4: nothing runs under a generation not stored\n{}",
        trace(&sim)
    );
    sim.run_until(6_000 + 2_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "the store was tried again\n{}", trace(&sim));
    assert_safe(&sim);
}

// ---- resources ---------------------------------------------------------------------------

#[test]
fn a_failed_resource_restarts_locally_then_moves_to_the_other_node() {
    let mut sim = started(
        vec![fault(5_000, 1_000_000, FaultKind::Resource { node: A, fault: ResourceFault::Dies })],
        true,
    );
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    let t = trace(&sim);
    assert!(t.contains("ResourceRestarted"), "a local restart came first\n{t}");
    assert!(t.contains("ResourcesFailed { node: 2 }"), "then the witness moved the service\n{t}");
    assert_eq!(sim.stats().fences, 0, "a node whose resources failed and stopped is not fenced");
    assert_safe(&sim);
}

#[test]
fn node_b_is_used_when_a_is_lost_with_no_relay_at_all() {
    // No fence device configured: only the watchdog deadline can release A.
    let mut sim = rack(vec![fault(5_000, 1_000_000, FaultKind::Isolate { member: A })], false);
    sim.run_until(3_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    sim.run_until(60_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert_eq!(sim.stats().fences, 0);
    assert_safe(&sim);
}

#[test]
fn auto_failback_moves_the_service_back_to_the_preferred_node_gracefully() {
    // Node A (preferred) loses power; B takes over; A comes back and, with auto_failback, the
    // witness switches the service back (stop on B first), never running it twice.
    let mut scenario = Scenario::custom(
        vec![fault(5_000, 1, FaultKind::Crash { member: A, down_ms: 4_000, lose_state: false })],
        10_000_000,
        true,
    );
    scenario.auto_failback = true;
    let mut sim = Sim::new(scenario);
    sim.run_until(3_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    // B runs from about 7.0 s; A boots again at about 7.15 s and, with triggered heartbeats,
    // the failback is done by about 8.7 s (deterministic: one seed, simulated time).
    sim.run_until(7_100);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "B took over\n{}", trace(&sim));
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "the service went back to A\n{}", trace(&sim));
    assert!(
        trace(&sim).contains("SwitchoverStarted { from: 3, to: 2"),
        "by a graceful switchover\n{}",
        trace(&sim)
    );
    assert_safe(&sim);

    // Without auto_failback (the default) it stays on B.
    let mut sim =
        rack(vec![fault(5_000, 1, FaultKind::Crash { member: A, down_ms: 4_000, lose_state: false })], true);
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert_safe(&sim);
}

// ---- maintenance mode (operator) -----------------------------------------------------------

use ha_agent::core::engine::WitnessCommand;
use ha_agent::core::resources::GroupState;

fn generation(sim: &Sim) -> u64 {
    sim.witness_state().expect("witness up").generation
}

#[test]
fn maintenance_leaves_the_resources_alone_and_ends_without_a_move() {
    // A resource on the holder dies during maintenance: nobody notices (no monitor runs), so
    // nothing restarts and nothing fails over. Turned off, the holder monitors at once, finds
    // the dead resource and restarts it locally; the service never moves.
    let mut sim = started(vec![], true);
    let before = generation(&sim);
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(true)), Ok(()));
    sim.run_until(4_000);
    assert!(sim.witness_maintenance());
    let t = trace(&sim);
    assert!(t.contains("Maintenance { on: true }"), "the nodes obey the Hold order\n{t}");
    sim.run_until(20_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    assert_eq!(generation(&sim), before, "no grant during maintenance");
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(false)), Ok(()));
    sim.run_until(30_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "{}", trace(&sim));
    assert_eq!(generation(&sim), before, "the holder kept its grant: nothing moved");
    assert_eq!(sim.stats().failovers, 0);
    assert!(trace(&sim).contains("Maintenance { on: false }"));
    assert_safe(&sim);
}

#[test]
fn maintenance_means_no_failover_even_for_a_dead_holder_until_it_is_turned_off() {
    let mut sim = started(
        vec![fault(6_000, 1, FaultKind::Crash { member: A, down_ms: 1_000_000, lose_state: false })],
        true,
    );
    let before = generation(&sim);
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(true)), Ok(()));
    sim.run_until(30_000);
    assert!(sim.running_nodes().is_empty(), "no failover in maintenance\n{}", trace(&sim));
    assert_eq!(generation(&sim), before);
    assert_eq!(sim.stats().fences, 0, "no automatic fence in maintenance either");
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(false)), Ok(()));
    sim.run_until(33_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "off: the normal failover\n{}", trace(&sim));
    // A has been silent far longer than its watchdog bound: released without waiting for
    // the relay (a fence is requested too, and whichever comes first releases it).
    assert!(trace(&sim).contains("WatchdogDeadlinePassed { node: 2 }"), "{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn maintenance_survives_a_witness_restart() {
    let mut sim = started(
        vec![
            fault(5_000, 1, FaultKind::Crash { member: WITNESS_INDEX, down_ms: 2_000, lose_state: false }),
            fault(12_000, 1, FaultKind::Crash { member: A, down_ms: 1_000_000, lose_state: false }),
        ],
        true,
    );
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(true)), Ok(()));
    sim.run_until(30_000);
    assert!(sim.witness_maintenance(), "the rebooted witness is still in maintenance");
    assert!(sim.running_nodes().is_empty(), "so the dead holder is not replaced\n{}", trace(&sim));
    assert_eq!(sim.stats().failovers, 0);
    assert_safe(&sim);
}

#[test]
fn maintenance_does_not_keep_an_isolated_holder_running_and_refuses_moves() {
    // Safety first: quorum loss still stops the holder's resources (N2), so that the witness
    // may release it safely once maintenance ends.
    let mut sim = started(vec![fault(8_000, 1_000_000, FaultKind::Isolate { member: A })], false);
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(true)), Ok(()));
    sim.run_until(5_000);
    let refused = sim.witness_command(WitnessCommand::Move(NODE_B)).unwrap_err();
    assert!(refused.contains("maintenance"), "{refused}");
    let refused = sim.witness_command(WitnessCommand::Standby(NODE_A)).unwrap_err();
    assert!(refused.contains("maintenance"), "{refused}");
    sim.run_until(8_000 + DEAD_MS + SELF_FENCE_MS + STOP_TIMEOUT_MS + 2_000);
    assert!(sim.running_nodes().is_empty(), "the isolated holder stopped by itself\n{}", trace(&sim));
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(false)), Ok(()));
    sim.run_until(80_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    assert_safe(&sim);
}

// ---- found by the virtual rack -------------------------------------------------------------

#[test]
fn w4_a_rebooted_witness_waiting_for_the_other_node_leaves_the_running_holder_alone() {
    // Node B is gone (powered off, unfenced: no relay), then the witness reboots. Until it has
    // heard both nodes or waited out initdead, it makes no decision (W4), and it must not tell
    // the holder that it stored as running (A) to stand by either: the rack's Debian nodes
    // lost their database that way (witness-power-loss, 22 s without the service). A keeps
    // the service throughout, under the same generation.
    let mut sim = started(
        vec![
            fault(4_000, 10_000_000, FaultKind::Crash { member: 2, down_ms: 10_000_000, lose_state: false }),
            fault(10_000, 1, FaultKind::Crash { member: WITNESS_INDEX, down_ms: 200, lose_state: false }),
        ],
        false,
    );
    sim.run_until(9_000);
    let before = sim.witness_state().expect("the witness is up");
    assert_eq!(sim.running_nodes(), vec![NODE_A], "{}", trace(&sim));
    let mut t = 10_000;
    while t < 10_000 + 200 + INITDEAD_MS + 3_000 {
        t += INTERVAL_MS;
        sim.run_until(t);
        assert_eq!(sim.running_nodes(), vec![NODE_A], "A still runs at {t} ms\n{}", trace(&sim));
    }
    assert_eq!(sim.witness_state(), Some(before), "same holder and generation\n{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn the_nodes_obey_a_rebooted_witness_at_once() {
    // The witness has been up for a minute (its word's sequence numbers are high), then
    // reboots; a move right after must be carried out by its new incarnation without waiting
    // for its sequence numbers to pass the old ones (and so without a fence of the holder).
    let mut sim = started(
        vec![fault(60_000, 1, FaultKind::Crash { member: WITNESS_INDEX, down_ms: 1_000, lose_state: false })],
        true,
    );
    sim.run_until(60_000 + 1_000 + INITDEAD_MS + 2_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "{}", trace(&sim));
    sim.request_move(NODE_B);
    let asked = sim.now_ms();
    sim.run_until(asked + 6_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "the move was not carried out in time\n{}", trace(&sim));
    assert_eq!(sim.stats().fences, 0, "the holder obeyed the Stop: no fence\n{}", trace(&sim));
    assert_safe(&sim);
}

#[test]
fn a_fenced_node_is_fenced_once_not_again_while_its_last_frames_are_fresh() {
    // A stop that hangs during a switchover: the witness fences the holder (W5) once. Right
    // after the fence its last heartbeats are younger than dead_ms; that must not count as
    // "back from the fence" (only a new boot of the node does).
    // The stop hangs until the fence (the power cut ends the hung stop with everything else).
    let mut sim = rack(
        vec![fault(3_500, 2_500, FaultKind::Resource { node: A, fault: ResourceFault::StopHangs })],
        true,
    );
    sim.run_until(3_600);
    sim.request_move(NODE_B);
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "{}", trace(&sim));
    let t = trace(&sim);
    let fences = t.matches("FenceSucceeded { node: 2 }").count();
    assert_eq!(fences, 1, "node A fenced {fences} times\n{t}");
    assert_safe(&sim);
}

// ---- found by the simulator ----------------------------------------------------------------

#[test]
fn a_fenced_holder_is_powered_on_again_when_nobody_else_can_take_the_service() {
    // B is in operator standby when A, the holder, loses its power: the witness fences A
    // (confirmed; the relay holds it off) and cannot grant B. The power-on that normally
    // follows the grant to the other node would never come, so the witness powers A on at
    // once: A boots with everything stopped and gets the service back under a new generation.
    let mut sim = started(
        vec![fault(8_000, 1, FaultKind::Crash { member: A, down_ms: 1_000_000, lose_state: false })],
        true,
    );
    assert_eq!(sim.witness_command(WitnessCommand::Standby(NODE_B)), Ok(()));
    sim.run_until(7_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    sim.run_until(40_000);
    let t = trace(&sim);
    assert!(t.contains("PoweredOnNoCandidate { node: 2 }"), "{t}");
    assert!(t.contains("witness commands relay ON for 2"), "{t}");
    assert_eq!(sim.running_nodes(), vec![NODE_A], "A runs the service again\n{t}");
    assert_safe(&sim);
}

// ---- an orderly exit of a node's agent (SIGTERM: systemctl stop, an upgrade, a reboot) -------

const B: usize = 2;

fn leave(at_ms: u64, node: usize, down_ms: u64) -> Fault {
    fault(at_ms, 0, FaultKind::Leave { node, down_ms })
}

/// When `node`'s resources were last seen stopping (the timeline's last change to stopped).
fn last_stop(sim: &Sim, node: u8) -> Option<u64> {
    sim.timeline().iter().rev().find(|(_, n, r)| *n == node && !*r).map(|(t, ..)| *t)
}

#[test]
fn w1_leave_of_the_holder_hands_the_service_over_without_a_fence() {
    let mut sim = started(vec![leave(5_000, A, 1_000_000)], true);
    let before = generation(&sim);
    sim.run_until(5_000 + 3_000);
    let t = trace(&sim);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "the service moved to B\n{t}");
    assert!(sim.group_state(NODE_A).is_none(), "A's agent exited\n{t}");
    assert!(sim.powered(NODE_A), "and nobody cut A's power\n{t}");
    assert_eq!(sim.stats().fences, 0, "no fence for an orderly exit\n{t}");
    assert_eq!(generation(&sim), before + 1, "one grant, to B");
    assert!(t.contains("HolderStopped { node: 2"), "the witness saw A stop by itself\n{t}");
    let a_stopped = last_stop(&sim, NODE_A).expect("A stopped");
    let b_started = sim.first_start_after(NODE_B, 5_000).expect("B started");
    assert!(a_stopped <= b_started, "A stopped ({a_stopped} ms) before B started ({b_started} ms)");
    let exited = t.lines().position(|l| l.contains("member 2 agent exited, resources [false, false]"));
    assert!(exited.is_some(), "A's agent exited only once its resources were stopped\n{t}");
    assert_safe(&sim);
}

#[test]
fn leave_of_a_node_without_the_service_is_at_once_and_moves_nothing() {
    let mut sim = started(vec![leave(5_000, B, 2_000)], true);
    let before = generation(&sim);
    sim.run_until(5_000 + 50);
    assert!(sim.group_state(NODE_B).is_none(), "B's agent left at once\n{}", trace(&sim));
    sim.run_until(15_000);
    assert!(sim.group_state(NODE_B).is_some(), "and came back\n{}", trace(&sim));
    assert_eq!(sim.running_nodes(), vec![NODE_A]);
    assert_eq!(generation(&sim), before, "nothing moved");
    assert_eq!((sim.stats().failovers, sim.stats().fences), (0, 0));
    assert_safe(&sim);
}

#[test]
fn w1_a_holder_that_leaves_with_nobody_to_take_over_is_not_fenced() {
    let mut sim = started(vec![leave(6_000, A, 1_000_000)], true);
    assert_eq!(sim.witness_command(WitnessCommand::Standby(NODE_B)), Ok(()));
    sim.run_until(6_000 + 2 * DEAD_MS + MARGIN_MS + 4_000);
    let t = trace(&sim);
    assert!(sim.running_nodes().is_empty(), "A stopped, B is in standby\n{t}");
    assert!(sim.group_state(NODE_A).is_none(), "A's agent exited after waiting for a taker\n{t}");
    assert_eq!(sim.stats().fences, 0, "A said it stopped: no fence\n{t}");
    assert!(t.contains("LeftStopped { node: 2"), "{t}");
    assert_eq!(sim.witness_command(WitnessCommand::Online(NODE_B)), Ok(()));
    sim.run_until(6_000 + 2 * DEAD_MS + MARGIN_MS + 10_000);
    assert_eq!(sim.running_nodes(), vec![NODE_B], "B takes the service once online\n{}", trace(&sim));
    assert_eq!(sim.stats().fences, 0);
    assert_safe(&sim);
}

#[test]
fn leave_in_maintenance_leaves_the_resources_running_and_the_next_agent_takes_them_over() {
    let mut sim = started(vec![leave(6_000, A, 1_000)], true);
    let before = generation(&sim);
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(true)), Ok(()));
    sim.run_until(6_000 + 500);
    assert!(sim.group_state(NODE_A).is_none(), "A's agent left at once\n{}", trace(&sim));
    assert_eq!(sim.running_nodes(), vec![NODE_A], "its resources still run");
    sim.run_until(6_000 + 1_000 + 3_000);
    let t = trace(&sim);
    assert!(t.contains("member 2 agent starts again"), "{t}");
    assert_eq!(sim.group_state(NODE_A), Some(GroupState::Running), "the new agent took them over\n{t}");
    assert_eq!(
        sim.timeline().iter().filter(|(_, n, r)| *n == NODE_A && !*r).count(),
        0,
        "never stopped\n{t}"
    );
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(false)), Ok(()));
    sim.run_until(20_000);
    assert_eq!(sim.running_nodes(), vec![NODE_A], "{}", trace(&sim));
    assert_eq!(generation(&sim), before, "nothing moved");
    assert_eq!((sim.stats().failovers, sim.stats().fences, sim.stats().watchdog_resets), (0, 0, 0));
    assert_safe(&sim);
}

#[test]
fn w1_n3_an_agent_gone_for_longer_than_its_watchdog_in_maintenance_gets_its_server_reset() {
    // The agent left its resources running with the watchdog armed: nobody feeds it, so the
    // hardware resets the server, exactly what the witness's watchdog deadline assumes.
    let mut sim = started(vec![leave(6_000, A, 1_000_000)], false);
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(true)), Ok(()));
    sim.run_until(6_000 + WATCHDOG_MS + 1_000);
    assert_eq!(sim.stats().watchdog_resets, 1, "{}", trace(&sim));
    assert!(sim.running_nodes().is_empty());
    assert_eq!(sim.witness_command(WitnessCommand::Maintenance(false)), Ok(()));
    sim.run_until(40_000);
    assert_eq!(sim.running_nodes().len(), 1, "the service runs again\n{}", trace(&sim));
    assert_safe(&sim);
}

// ---- driven by hand: the pure state machines brought to the exact situation -----------------
//
// The simulator found these; each test below brings the witness's or a node's core, without the
// simulator, to the one situation the fix is about, so that it fails if the fix is undone.

use ha_agent::config::Timing;
use ha_agent::core::authority::fence::{FenceConfig, FenceResult};
use ha_agent::core::authority::node::{Action as NodeAction, Node, NodeConfig};
use ha_agent::core::authority::witness::{Action as WitnessAction, Stored, Witness, WitnessConfig};
use ha_agent::core::authority::{
    AuthorityTiming, Heard, NodeReport, Order, PeerView, ResState, View, WitnessInfo,
};
use ha_agent::core::engine::{Action as EngineAction, Engine, RoleConfig};
use ha_agent::core::membership::{LinkSpec, Params};
use ha_agent::time::Micros;
use ha_agent::wire::{Header, Heartbeat, Message};

const WITNESS_ID: u8 = ha_tests::sim::WITNESS;

fn hand_timing() -> AuthorityTiming {
    AuthorityTiming {
        interval_ms: INTERVAL_MS,
        dead_ms: DEAD_MS,
        initdead_ms: INITDEAD_MS,
        self_fence_ms: SELF_FENCE_MS,
        stop_timeout_ms: STOP_TIMEOUT_MS,
        margin_ms: MARGIN_MS,
    }
}

fn witness_config() -> WitnessConfig {
    WitnessConfig {
        me: WITNESS_ID,
        nodes: [NODE_A, NODE_B],
        timing: hand_timing(),
        fence: FenceConfig { retry_initial_ms: 500, retry_max_ms: 4000, trust_unconfirmed: false },
        fence_enabled: true,
        power_on_after_fence: true,
        preferred: Some(NODE_A),
        auto_failback: false,
        wait_for_all: false,
        unknown_fence_bound_ms: SELF_FENCE_MS + STOP_TIMEOUT_MS + WATCHDOG_MS,
    }
}

/// A node's report: running or stopped under `generation`, frames heard from `other`.
fn node_report(seq: u64, generation: u64, running: bool, other: u8, frames: u32) -> NodeReport {
    let mut heard = heapless::Vec::new();
    heard.push(Heard { member: other, frames }).unwrap();
    NodeReport {
        seq,
        max_seen: generation,
        acting: if running { generation } else { 0 },
        stopped: 0,
        resources: if running { ResState::Running } else { ResState::Stopped },
        ready: !running,
        fence_bound_ms: (SELF_FENCE_MS + STOP_TIMEOUT_MS + WATCHDOG_MS) as u32,
        heard,
    }
}

/// A view in which the listed members are reachable, each with what it says it reaches.
fn view_of(peers: &[(u8, bool, &[u8])], now: Micros) -> View {
    let mut view = View::default();
    for &(id, reachable, reaches) in peers {
        let peer = PeerView {
            id,
            reachable,
            reaches: reaches.iter().copied().collect(),
            last_rx: reachable.then_some(now),
            frames: 0,
        };
        view.peers.push(peer).unwrap();
    }
    view
}

fn witness_actions(w: &mut Witness) -> Vec<WitnessAction> {
    std::iter::from_fn(|| w.poll_action()).collect()
}

fn ms(t: u64) -> Micros {
    Micros::from_ms(t)
}

#[test]
fn w3_an_isolated_witness_still_powers_on_a_node_whose_fence_it_confirmed() {
    // Node A, the holder, is lost while B is in operator standby (nobody can be granted). The
    // witness fences A; while the power-off is in flight the witness loses B as well (it is
    // isolated: W3 stops deciding and cancels the fence), then the relay confirms A is off.
    // A stays off for good unless the witness powers it on: an isolated witness must still do
    // that (A boots with nothing running and waits for a grant, N4).
    let mut w = Witness::new(witness_config(), Some(Stored::announced(1, NODE_A)), ms(0));
    w.set_standby(NODE_B, true);
    w.handle_report(ms(100), NODE_A, 1, true, &node_report(1, 1, true, NODE_B, 10));
    w.handle_report(ms(100), NODE_B, 1, true, &node_report(1, 1, false, NODE_A, 10));
    let both =
        view_of(&[(NODE_A, true, &[WITNESS_ID, NODE_B]), (NODE_B, true, &[WITNESS_ID, NODE_A])], ms(100));
    w.handle_tick(ms(100), &both);
    assert!(!w.in_startup(), "both nodes reported: cold start is over");
    assert_eq!(w.durable(), Stored::announced(1, NODE_A));
    assert!(witness_actions(&mut w).is_empty());

    // A is lost: neither the witness nor B reaches it (B's counter for A is frozen).
    let t = 5_000;
    for at in (200..t).step_by(INTERVAL_MS as usize) {
        w.handle_tick(ms(at), &both);
    }
    w.handle_report(ms(t), NODE_B, 1, true, &node_report(2, 1, false, NODE_A, 10));
    let a_lost = view_of(&[(NODE_A, false, &[]), (NODE_B, true, &[WITNESS_ID])], ms(t));
    w.handle_tick(ms(t), &a_lost);
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::PowerOff(NODE_A)], "W2: A is fenced");
    assert_eq!(w.fencing(), Some(NODE_A));

    // B is cut off too while the power-off is in flight: isolated, the witness cancels the fence.
    let isolated = view_of(&[(NODE_A, false, &[]), (NODE_B, false, &[])], ms(t + 200));
    w.handle_tick(ms(t + 200), &isolated);
    assert!(witness_actions(&mut w).is_empty(), "W3: nothing new while isolated");

    // The relay confirms A is off (a confirmed result of a cancelled fence is kept).
    w.handle_fence_result(ms(t + 400), NODE_A, FenceResult::Confirmed);
    let actions = witness_actions(&mut w);
    assert!(
        actions.contains(&WitnessAction::PowerOn(NODE_A)),
        "the isolated witness must power on the node it fenced (nobody else can run): {actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(a, WitnessAction::Persist(_))), "W3: no grant: {actions:?}");
    // And not twice.
    w.handle_tick(ms(t + 600), &isolated);
    assert!(witness_actions(&mut w).is_empty());
}

#[test]
fn n2_a_self_fence_voids_a_grant_the_node_had_not_acted_on_yet() {
    // Node B is granted generation 2, but its store of the generation is slow, so it cannot
    // start yet. Then it loses quorum for self_fence_ms: it self-fences, and the witness, counting
    // on that (its watchdog deadline), may grant node A. When B's store completes and it hears
    // its peer again (not the witness), the old Run{2} must not start it: only a newer grant may.
    let cfg = NodeConfig {
        me: NODE_B,
        witness: WITNESS_ID,
        peer: NODE_A,
        timing: hand_timing(),
        watchdog_ms: WATCHDOG_MS,
        require_watchdog: true,
    };
    let mut node = Node::new(cfg, 1);
    let in_quorum =
        |at| view_of(&[(WITNESS_ID, true, &[NODE_A, NODE_B]), (NODE_A, true, &[WITNESS_ID, NODE_B])], at);
    let mut actions = Vec::new();
    node.handle_tick(ms(100), &in_quorum(ms(100)));
    let run = WitnessInfo { seq: 1, generation: 2, holder: NODE_B, order: Order::Run };
    node.handle_witness_info(ms(100), 1, &run, true);
    actions.extend(std::iter::from_fn(|| node.poll_action()));
    assert_eq!(actions, vec![NodeAction::PersistSeen { generation: 2 }], "N4: stored before any start");

    // Quorum lost for self_fence_ms while the store is still under way.
    let alone = view_of(&[(WITNESS_ID, false, &[]), (NODE_A, false, &[])], ms(200));
    node.handle_tick(ms(200), &alone);
    node.handle_tick(ms(200 + SELF_FENCE_MS), &alone);
    assert!(!node.has_quorum());

    // The store completes; B hears its peer again (stopped, under generation 2 too) but not the
    // witness, whose latest word B still holds is Run{2}.
    node.handle_seen_persisted(ms(300 + SELF_FENCE_MS), 2);
    let peer_only = |at| view_of(&[(WITNESS_ID, false, &[]), (NODE_A, true, &[NODE_B])], at);
    let t = 400 + SELF_FENCE_MS;
    node.handle_tick(ms(t), &peer_only(ms(t)));
    node.handle_peer_report(ms(t), 1, true, &node_report(5, 2, false, NODE_B, 10));
    node.handle_tick(ms(t + 100), &peer_only(ms(t + 100)));
    assert!(node.has_quorum(), "quorum is back (two of three)");
    actions.clear();
    actions.extend(std::iter::from_fn(|| node.poll_action()));
    assert!(
        !actions.iter().any(|a| matches!(a, NodeAction::Start { .. })),
        "N2: the grant the self-fence voided started the node: {actions:?}"
    );
    assert_eq!(node.acting(), 0);
    // A newer grant still starts it.
    let newer = WitnessInfo { seq: 2, generation: 3, holder: NODE_B, order: Order::Run };
    node.handle_tick(ms(t + 200), &in_quorum(ms(t + 200)));
    node.handle_witness_info(ms(t + 200), 1, &newer, true);
    node.handle_seen_persisted(ms(t + 300), 3);
    actions.clear();
    actions.extend(std::iter::from_fn(|| node.poll_action()));
    assert!(actions.contains(&NodeAction::Start { generation: 3 }), "{actions:?}");
}

/// The witness's engine of boot `boot` (links 2 and 12 to node B, 1 and 11 to node A), its
/// stored state: generation 1 held by node A.
fn witness_engine(boot: u64) -> Engine {
    let mut peers = heapless::Vec::new();
    peers.push(NODE_A).unwrap();
    peers.push(NODE_B).unwrap();
    let mut links = heapless::Vec::new();
    for (id, peer) in [(1, NODE_A), (2, NODE_B), (11, NODE_A), (12, NODE_B)] {
        links.push(LinkSpec { id, peer }).unwrap();
    }
    let timing =
        Timing { interval_ms: INTERVAL_MS, warn_ms: 250, dead_ms: DEAD_MS, initdead_ms: INITDEAD_MS };
    let params = Params { cluster_id: 7, me: WITNESS_ID, boot, peers, links, timing };
    let role = RoleConfig::Witness { config: witness_config(), stored: Some(Stored::announced(1, NODE_A)) };
    Engine::new(params, role, ms(0))
}

#[test]
fn w2_the_other_nodes_word_is_taken_only_from_frames_that_acknowledge_the_witness_boot() {
    // The witness restarted (boot 2). Node A, the holder, runs on, but no frame of A reaches the
    // witness. Node B reaches A and says so in every frame that acknowledges the witness's new
    // boot; a frame B sent on its other link before it heard that boot (it says B reaches only the
    // witness: written while B's links to A were still coming up) arrives late. Its list speaks of
    // an older world: W2 must not take it as B's word, or the witness fences a holder B reaches.
    let mut w = witness_engine(2);
    let mut b_seq = [0u64; 2];
    let links = [2u8, 12u8];
    let mut last_witness_seq = [0u64; 2];
    let mut fenced = Vec::new();
    let b_frame = |link: usize, seq: u64, ack_boot: u64, ack_seq: u64, reaches: &[u8], report_seq: u64| {
        let header = Header {
            cluster_id: 7,
            sender: NODE_B,
            link: links[link],
            boot: 1,
            seq,
            ack_boot,
            ack_seq,
            ack_delay_us: 0,
        };
        let hb = Heartbeat {
            reaches: reaches.iter().copied().collect(),
            witness: None,
            node: Some(node_report(report_seq, 1, false, NODE_A, 100 + report_seq as u32)),
        };
        (header, Message::Heartbeat(hb))
    };
    let mut report_seq = 0;
    let mut t = 0;
    while t <= INITDEAD_MS + 2_000 {
        let now = ms(t);
        w.handle_timeout(now);
        while let Some((_, header, _)) = w.poll_transmit(now) {
            // Frames to A are lost; B receives the witness's frames on links 2 and 12.
            if let Some(l) = links.iter().position(|&id| id == header.link) {
                last_witness_seq[l] = header.seq;
            }
        }
        while let Some(a) = w.poll_action() {
            if let EngineAction::PowerOff(n) = a {
                fenced.push((t, n));
            }
        }
        // B answers on both links, acknowledging the witness's current boot: it reaches A.
        for l in 0..2 {
            if last_witness_seq[l] > 0 {
                b_seq[l] += 1;
                report_seq += 1;
                let (h, m) = b_frame(l, b_seq[l], 2, last_witness_seq[l], &[WITNESS_ID, NODE_A], report_seq);
                let _ = w.handle_frame(ms(t + 1), None, &h, &m);
            }
        }
        if t == INITDEAD_MS + 1_000 {
            // A late frame of B on link 12, sent before B heard the witness's boot 2 (it
            // acknowledges boot 1), with a higher sequence than any B frame the witness saw there.
            b_seq[1] += 1_000;
            let (h, m) = b_frame(1, b_seq[1], 1, 9_999, &[WITNESS_ID], 0);
            let _ = w.handle_frame(ms(t + 2), None, &h, &m);
        }
        t += INTERVAL_MS;
    }
    let view = w.view();
    assert!(view.reaches(NODE_B) && !view.reaches(NODE_A), "the rack as meant: {view:?}");
    assert!(view.peer(NODE_B).unwrap().reaches.contains(&NODE_A), "B's word: it reaches A ({view:?})");
    assert!(fenced.is_empty(), "W2: the witness fenced a holder its peer reaches: {fenced:?}");
}

/// What a witness of [`steady_witness`] does when it judges the holder A lost: fence it, and
/// store the grant to B that follows A's release (an early grant, announced only after it).
fn fence_of_a_with_early_grant() -> Vec<WitnessAction> {
    vec![
        WitnessAction::PowerOff(NODE_A),
        WitnessAction::Persist(Stored { generation: 2, holder: NODE_B, pending_fence: NODE_A }),
    ]
}

/// A witness in steady state at `t` ms: generation 1 held by node A (running), node B ready;
/// both nodes heard from their boot 1 since 100 ms.
fn steady_witness(t: u64) -> Witness {
    let mut w = Witness::new(witness_config(), Some(Stored::announced(1, NODE_A)), ms(0));
    w.handle_report(ms(100), NODE_A, 1, true, &node_report(1, 1, true, NODE_B, 10));
    w.handle_report(ms(100), NODE_B, 1, true, &node_report(1, 1, false, NODE_A, 10));
    let mut at = 100;
    while at <= t {
        let both =
            view_of(&[(NODE_A, true, &[WITNESS_ID, NODE_B]), (NODE_B, true, &[WITNESS_ID, NODE_A])], ms(at));
        w.handle_tick(ms(at), &both);
        at += INTERVAL_MS;
    }
    assert!(!w.in_startup() && witness_actions(&mut w).is_empty());
    w
}

#[test]
fn w2_after_a_stall_of_the_witness_no_member_is_judged_lost_before_its_links_had_dead_ms() {
    // Issue 23: on a starved host the witness process woke 11.2 s late. Its failure detection
    // marked every link down; the frames queued during the stall came in a few ms later, node
    // B's first, then A's. In between the witness reached B, B's latest word did not mention A,
    // and the witness fenced A, the live holder. After a stall (a clock jump of more than
    // dead_ms between two inputs) it judges no member lost for dead_ms.
    let t = 5_000;
    let mut w = steady_witness(t);
    let woke = t + 11_200;
    // B's queued report (B saw A silent at the end: the links of the host were starved too).
    w.handle_report(ms(woke), NODE_B, 1, true, &node_report(9, 1, false, NODE_A, 10));
    let b_only = |at| view_of(&[(NODE_A, false, &[]), (NODE_B, true, &[WITNESS_ID])], at);
    for at in [woke, woke + 7, woke + DEAD_MS / 2, woke + DEAD_MS - 1] {
        w.handle_tick(ms(at), &b_only(ms(at)));
        assert!(witness_actions(&mut w).is_empty(), "A judged lost {} ms after the stall", at - woke);
    }
    assert!(w.poll_timeout() <= ms(woke + DEAD_MS), "it wakes when the stall grace ends");
    // A's frames are in: A is reached, nothing happens.
    let both =
        view_of(&[(NODE_A, true, &[WITNESS_ID, NODE_B]), (NODE_B, true, &[WITNESS_ID, NODE_A])], ms(woke));
    w.handle_tick(ms(woke + DEAD_MS + 50), &both);
    assert!(witness_actions(&mut w).is_empty());
    assert_eq!(w.fencing(), None);

    // The grace only delays: a holder still lost when it ends is fenced then, and at once
    // without a stall.
    let mut w = steady_witness(t);
    w.handle_report(ms(woke), NODE_B, 1, true, &node_report(9, 1, false, NODE_A, 10));
    w.handle_tick(ms(woke), &b_only(ms(woke)));
    assert!(witness_actions(&mut w).is_empty());
    w.handle_tick(ms(woke + DEAD_MS), &b_only(ms(woke + DEAD_MS)));
    // (A has been silent for longer than its watchdog deadline: released without a fence.)
    let granted = WitnessAction::Persist(Stored::announced(2, NODE_B));
    assert_eq!(witness_actions(&mut w), vec![granted], "W2 after the grace");
    let mut w = steady_witness(t);
    w.handle_report(ms(t + INTERVAL_MS), NODE_B, 1, true, &node_report(9, 1, false, NODE_A, 10));
    w.handle_tick(ms(t + INTERVAL_MS), &b_only(ms(t + INTERVAL_MS)));
    assert_eq!(witness_actions(&mut w), fence_of_a_with_early_grant(), "no stall: no grace");
}

#[test]
fn w2_a_node_that_just_booted_says_nothing_yet_about_whom_it_does_not_reach() {
    // Node B boots again (boot 2); its first reports cannot mention A: none of its links has
    // had the time to prove itself. Its word that it does not reach the holder counts only
    // dead_ms after the witness first heard that boot (B booted no later).
    let t = 5_000;
    let mut w = steady_witness(t);
    let booted = t + 300;
    let b_alone = |at| view_of(&[(NODE_A, false, &[]), (NODE_B, true, &[WITNESS_ID])], at);
    // The witness misses A's frames for a moment (a short cut), right when B comes back.
    let mut at = booted;
    while at < booted + DEAD_MS {
        w.handle_report(ms(at), NODE_B, 2, true, &node_report(at, 1, false, NODE_A, 0));
        w.handle_tick(ms(at), &b_alone(ms(at)));
        assert!(
            witness_actions(&mut w).is_empty(),
            "A judged lost on the word of a node up for {} ms",
            at - booted
        );
        at += INTERVAL_MS / 2;
    }
    // B reached A within its first dead_ms: A is not lost, nothing happens.
    let both =
        view_of(&[(NODE_A, true, &[WITNESS_ID, NODE_B]), (NODE_B, true, &[WITNESS_ID, NODE_A])], ms(at));
    w.handle_tick(ms(at), &both);
    assert!(witness_actions(&mut w).is_empty());

    // The grace only delays: once B has run dead_ms and still does not reach A, A is lost.
    let mut w = steady_witness(t);
    w.handle_report(ms(booted), NODE_B, 2, true, &node_report(1, 1, false, NODE_A, 0));
    w.handle_tick(ms(booted), &b_alone(ms(booted)));
    assert!(witness_actions(&mut w).is_empty());
    assert!(w.poll_timeout() <= ms(booted + DEAD_MS), "it wakes when the boot grace ends");
    w.handle_tick(ms(booted + DEAD_MS), &b_alone(ms(booted + DEAD_MS)));
    assert_eq!(witness_actions(&mut w), fence_of_a_with_early_grant(), "W2 after the grace");
}

#[test]
fn w2_a_fence_no_rule_needs_any_more_is_dropped_before_its_next_retry() {
    // Cold start without a holder: node B is missing, so after initdead the witness fences it
    // (it might be running), but the relay fails. B then comes back and reports its resources
    // stopped for the generation: released by its own report (W1), and node A is granted. The
    // fence of B, waiting for its next retry, no longer serves any rule: it must not power off
    // B, alive and reachable (the simulator found a witness doing so seconds later).
    let mut w = Witness::new(witness_config(), Some(Stored::announced(1, 0)), ms(0));
    let a_only = |at| view_of(&[(NODE_A, true, &[WITNESS_ID]), (NODE_B, false, &[])], at);
    let mut at = 100;
    let mut actions = Vec::new();
    // A has stopped for generation 1 (as it does on the witness's Standby).
    let mut a_stopped = node_report(0, 1, false, NODE_B, 0);
    a_stopped.stopped = 1;
    while actions.is_empty() {
        a_stopped.seq += 1;
        w.handle_report(ms(at), NODE_A, 1, true, &a_stopped);
        w.handle_tick(ms(at), &a_only(ms(at)));
        actions = witness_actions(&mut w);
        at += INTERVAL_MS;
        assert!(at < 2 * INITDEAD_MS, "B was never fenced");
    }
    assert_eq!(actions, vec![WitnessAction::PowerOff(NODE_B)], "W4/W2: the missing node is fenced first");
    w.handle_fence_result(ms(at), NODE_B, FenceResult::Failed);
    assert_eq!(w.fencing(), Some(NODE_B), "a failed fence is retried");

    // B is back: reachable, resources stopped, stopped for generation 1, ready.
    let mut b_back = node_report(1, 1, false, NODE_A, 5);
    b_back.stopped = 1;
    let both =
        |t| view_of(&[(NODE_A, true, &[WITNESS_ID, NODE_B]), (NODE_B, true, &[WITNESS_ID, NODE_A])], t);
    w.handle_report(ms(at + 50), NODE_B, 1, true, &b_back);
    w.handle_tick(ms(at + 50), &both(ms(at + 50)));
    let granted = Stored::announced(2, NODE_A);
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(granted)], "A is granted");
    w.handle_persisted(ms(at + 60), granted);
    // Well past the retry's backoff, B still reachable: no power-off.
    for t in (at + 100..at + 10_000).step_by(INTERVAL_MS as usize) {
        w.handle_tick(ms(t), &both(ms(t)));
        let actions = witness_actions(&mut w);
        assert!(!actions.contains(&WitnessAction::PowerOff(NODE_B)), "B powered off at {t} ms: {actions:?}");
    }
    assert_eq!(w.fencing(), None);
}

// ---- early grants: the failover's store overlapped with the fence (W1) ----------------------

/// The view in which the holder A is lost: the witness reaches B only, and B reaches only it.
fn a_lost(at: u64) -> View {
    view_of(&[(NODE_A, false, &[]), (NODE_B, true, &[WITNESS_ID])], ms(at))
}

/// What the witness's next frames say: (generation, holder, order to A, order to B).
fn frames(w: &mut Witness) -> (u64, u8, Order, Order) {
    // These witnesses are past their start, so each node has a word (none only in Startup).
    let a = w.info_for(NODE_A).expect("a word for A");
    let b = w.info_for(NODE_B).expect("a word for B");
    assert_eq!((a.generation, a.holder), (b.generation, b.holder));
    (b.generation, b.holder, a.order, b.order)
}

/// A steady witness (generation 1 held by A) that judged A lost at `t` ms: it fences A and
/// stores the early grant of generation 2 to B.
fn fencing_a_with_early_grant(t: u64) -> Witness {
    let mut w = steady_witness(t);
    w.handle_report(ms(t + INTERVAL_MS), NODE_B, 1, true, &node_report(9, 1, false, NODE_A, 10));
    w.handle_tick(ms(t + INTERVAL_MS), &a_lost(t + INTERVAL_MS));
    assert_eq!(
        witness_actions(&mut w),
        fence_of_a_with_early_grant(),
        "the fence and the store start together"
    );
    w
}

const EARLY: Stored = Stored { generation: 2, holder: NODE_B, pending_fence: NODE_A };

#[test]
fn w1_an_overlapped_store_is_not_announced_before_the_fence_is_confirmed() {
    let t = 5_000;
    let mut w = fencing_a_with_early_grant(t);
    // The store completes first: durable, but nothing announces it while A's fence runs.
    w.handle_persisted(ms(t + 103), EARLY);
    assert_eq!(w.durable(), Stored::announced(1, NODE_A), "the frames still carry generation 1");
    for at in (t + 103..t + 600).step_by(50) {
        w.handle_tick(ms(at), &a_lost(at));
        assert_eq!(frames(&mut w), (1, NODE_A, Order::Standby, Order::Standby), "at {at} ms");
        assert!(witness_actions(&mut w).is_empty(), "at {at} ms");
    }
    // The relay confirms A off: the early grant is announced at once, without waiting for a
    // store; then the record is written again without its mark, and B keeps its Run meanwhile.
    w.handle_fence_result(ms(t + 602), NODE_A, FenceResult::Confirmed);
    assert_eq!(w.durable(), Stored::announced(2, NODE_B));
    assert_eq!(frames(&mut w), (2, NODE_B, Order::Standby, Order::Run));
    let unmarked = Stored::announced(2, NODE_B);
    assert_eq!(
        witness_actions(&mut w),
        vec![WitnessAction::PowerOn(NODE_A), WitnessAction::Persist(unmarked)],
        "A is powered on; the mark is written over"
    );
    w.handle_tick(ms(t + 603), &a_lost(t + 603));
    assert_eq!(frames(&mut w), (2, NODE_B, Order::Standby, Order::Run), "the rewrite is not waited for");
    w.handle_persisted(ms(t + 605), unmarked);
    assert_eq!(frames(&mut w), (2, NODE_B, Order::Standby, Order::Run));
    assert!(witness_actions(&mut w).is_empty());

    // The other order: the fence is confirmed while the store is still under way. The grant is
    // announced when the store completes, and not before.
    let mut w = fencing_a_with_early_grant(t);
    w.handle_fence_result(ms(t + 102), NODE_A, FenceResult::Confirmed);
    w.handle_tick(ms(t + 103), &a_lost(t + 103));
    assert_eq!(frames(&mut w), (1, NODE_A, Order::Standby, Order::Standby), "not durable yet");
    assert!(witness_actions(&mut w).is_empty(), "no second store while the first is under way");
    w.handle_persisted(ms(t + 104), EARLY);
    assert_eq!(frames(&mut w), (2, NODE_B, Order::Standby, Order::Run));
    assert_eq!(
        witness_actions(&mut w),
        vec![WitnessAction::PowerOn(NODE_A), WitnessAction::Persist(unmarked)]
    );
}

#[test]
fn w1_an_early_grant_whose_first_fence_fails_is_dropped_and_the_grant_follows_the_release() {
    // The first power-off fails: the release now comes from a retry or the watchdog deadline.
    // The early grant is dropped (its mark written over); the grant is stored after the release
    // and announced once stored, as any grant.
    let t = 5_000;
    let mut w = fencing_a_with_early_grant(t);
    w.handle_persisted(ms(t + 103), EARLY);
    w.handle_fence_result(ms(t + 104), NODE_A, FenceResult::Failed);
    let announced = Stored::announced(1, NODE_A);
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(announced)], "the mark is written over");
    assert_eq!(frames(&mut w), (1, NODE_A, Order::Standby, Order::Standby));
    w.handle_persisted(ms(t + 106), announced);
    for at in (t + 200..t + 600).step_by(50) {
        w.handle_tick(ms(at), &a_lost(at));
        assert!(witness_actions(&mut w).is_empty(), "no early grant for a retry, at {at} ms");
    }
    w.handle_tick(ms(t + 700), &a_lost(t + 700));
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::PowerOff(NODE_A)], "the retry alone");
    w.handle_fence_result(ms(t + 702), NODE_A, FenceResult::Confirmed);
    let grant = Stored::announced(2, NODE_B);
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(grant)], "stored after the release");
    assert_eq!(frames(&mut w), (1, NODE_A, Order::Standby, Order::Standby), "announced once stored");
    w.handle_persisted(ms(t + 705), grant);
    assert_eq!(frames(&mut w), (2, NODE_B, Order::Standby, Order::Run));
}

#[test]
fn w1_an_early_grant_is_dropped_when_its_holder_is_heard_running_again() {
    // A was judged lost (a cut of a moment) and the early grant is stored while its power-off
    // is in flight. A is heard running again: it keeps the service under generation 1, the
    // early grant, never announced, is void, and the record is written again without it.
    let t = 5_000;
    let mut w = fencing_a_with_early_grant(t);
    w.handle_persisted(ms(t + 103), EARLY);
    let both =
        |at| view_of(&[(NODE_A, true, &[WITNESS_ID, NODE_B]), (NODE_B, true, &[WITNESS_ID, NODE_A])], ms(at));
    w.handle_report(ms(t + 300), NODE_A, 1, true, &node_report(20, 1, true, NODE_B, 30));
    w.handle_report(ms(t + 300), NODE_B, 1, true, &node_report(21, 1, false, NODE_A, 30));
    w.handle_tick(ms(t + 300), &both(t + 300));
    assert_eq!(frames(&mut w), (1, NODE_A, Order::Run, Order::Standby), "A keeps the service");
    let announced = Stored::announced(1, NODE_A);
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(announced)], "the mark is written over");
    w.handle_tick(ms(t + 301), &both(t + 301));
    assert_eq!(frames(&mut w), (1, NODE_A, Order::Run, Order::Standby), "A runs on during the rewrite");
    w.handle_persisted(ms(t + 303), announced);
    // The power-off in flight fails: cancelled, it is not tried again.
    w.handle_fence_result(ms(t + 400), NODE_A, FenceResult::Failed);
    assert_eq!(w.fencing(), None, "A is not fenced");
    for at in (t + 400..t + 3_000).step_by(INTERVAL_MS as usize) {
        w.handle_tick(ms(at), &both(at));
        assert!(witness_actions(&mut w).is_empty(), "at {at} ms");
    }
    // A's resources fail: the next grant is stored (not the void early grant announced).
    let mut failed = node_report(40, 1, false, NODE_B, 50);
    failed.resources = ResState::Failed;
    failed.stopped = 1;
    failed.ready = false;
    w.handle_report(ms(t + 3_000), NODE_A, 1, true, &failed);
    w.handle_tick(ms(t + 3_000), &both(t + 3_000));
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(Stored::announced(2, NODE_B))]);
    assert_eq!(frames(&mut w), (1, NODE_A, Order::Standby, Order::Standby), "announced once stored");
}

/// A witness that restarts with the early grant's mark in its state file (it stopped between
/// the store and the rewrite), then hears B (ready, stopped for `b_stopped`, running under
/// `b_acting` or not) every interval and never A; returns it when `until` holds or at 30 s.
fn restarted_with_mark(
    b: NodeReport,
    mut until: impl FnMut(&mut Witness, u64, &[WitnessAction]) -> bool,
) -> Witness {
    let mut w = Witness::new(witness_config(), Some(EARLY), ms(0));
    let mut at = 100;
    while at < 30_000 {
        let mut report = b.clone();
        report.seq = at;
        w.handle_report(ms(at), NODE_B, 1, true, &report);
        w.handle_tick(ms(at), &a_lost(at));
        let actions = witness_actions(&mut w);
        if until(&mut w, at, &actions) {
            return w;
        }
        at += INTERVAL_MS;
    }
    panic!("never happened");
}

#[test]
fn w1_a_witness_restarted_with_a_pending_fence_announces_no_holder_until_the_fence_is_confirmed_again() {
    // Whether the early grant was announced is not known after the restart: A may still run
    // under generation 1 (it was not) or B under 2 (it was). Nobody is taken as the holder of
    // generation 2, B is told Standby (it stops if it runs, and says so), and A, never heard,
    // is fenced again; only then is generation 3 granted.
    let w = Witness::new(witness_config(), Some(EARLY), ms(0));
    assert_eq!(w.durable(), Stored::announced(2, 0), "nobody holds the marked generation");
    let mut b = node_report(0, 2, false, NODE_A, 10);
    b.stopped = 2;
    let mut fenced_at = 0;
    let w2 = restarted_with_mark(b.clone(), |w, at, actions| {
        let (generation, holder, _, to_b) = frames(w);
        assert_eq!((generation, holder, to_b), (2, 0, Order::Standby), "at {at} ms");
        assert!(
            !actions.iter().any(|a| matches!(a, WitnessAction::Persist(_))),
            "a grant at {at} ms: {actions:?}"
        );
        fenced_at = at;
        actions.contains(&WitnessAction::PowerOff(NODE_A))
    });
    drop(w);
    let mut w = w2;
    assert!(fenced_at > INITDEAD_MS, "W4: after initdead (A was never heard), at {fenced_at} ms");
    w.handle_fence_result(ms(fenced_at + 2), NODE_A, FenceResult::Confirmed);
    let grant = Stored::announced(3, NODE_B);
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(grant)], "above the marked generation");
    assert_eq!(frames(&mut w).3, Order::Standby, "announced once stored");
    w.handle_persisted(ms(fenced_at + 5), grant);
    assert_eq!(frames(&mut w), (3, NODE_B, Order::Standby, Order::Run));
}

#[test]
fn w1_a_witness_restarted_with_a_pending_fence_waits_for_the_watchdog_deadline_without_a_relay() {
    // As above, but the relay does not answer: only A's watchdog deadline releases it.
    let bound_ms = SELF_FENCE_MS + STOP_TIMEOUT_MS + WATCHDOG_MS;
    // B's counter for A changed last at 100 ms (A silent since): the deadline counts from then.
    let deadline = 100 + DEAD_MS + INTERVAL_MS + bound_ms + MARGIN_MS;
    let mut b = node_report(0, 2, false, NODE_A, 10);
    b.stopped = 2;
    let mut granted_at = 0;
    let mut fenced = false;
    let mut w = restarted_with_mark(b, |w, at, actions| {
        for a in actions {
            if *a == WitnessAction::PowerOff(NODE_A) {
                fenced = true;
                w.handle_fence_result(ms(at), NODE_A, FenceResult::Failed);
            }
        }
        granted_at = at;
        actions.contains(&WitnessAction::Persist(Stored::announced(3, NODE_B)))
    });
    assert!(fenced, "A was fenced (and the relay failed)");
    assert!(granted_at >= deadline, "granted at {granted_at} ms, before the deadline {deadline} ms");
    w.handle_persisted(ms(granted_at + 1), Stored::announced(3, NODE_B));
    assert_eq!(frames(&mut w).3, Order::Run);
}

#[test]
fn w1_a_witness_restarted_with_a_pending_fence_stops_a_holder_that_may_run_under_it_before_granting() {
    // The early grant had been announced and B runs under it when the witness stopped, before
    // the rewrite. B is not taken as the holder on its word: it is told Standby like A would
    // be, and only once it reports its resources stopped for generation 2 (and A is released)
    // is the next generation granted, to B again.
    let b = node_report(0, 2, true, NODE_A, 10);
    let mut told_standby = false;
    let mut w = restarted_with_mark(b, |w, _, actions| {
        told_standby |= frames(w).3 == Order::Standby;
        assert!(!actions.iter().any(|a| matches!(a, WitnessAction::Persist(_))), "B still runs: {actions:?}");
        actions.contains(&WitnessAction::PowerOff(NODE_A))
    });
    assert!(told_standby);
    w.handle_fence_result(ms(INITDEAD_MS + 1_000), NODE_A, FenceResult::Confirmed);
    let actions = witness_actions(&mut w);
    assert!(
        !actions.iter().any(|a| matches!(a, WitnessAction::Persist(_))),
        "B has not said that it stopped: {actions:?}"
    );
    let mut b_stopped = node_report(99_999, 2, false, NODE_A, 10);
    b_stopped.stopped = 2;
    let at = INITDEAD_MS + 1_100;
    w.handle_report(ms(at), NODE_B, 1, true, &b_stopped);
    w.handle_tick(ms(at), &a_lost(at));
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(Stored::announced(3, NODE_B))]);
}

#[test]
fn w2_a_fence_retry_that_came_due_during_a_stall_of_the_witness_waits_for_the_stall_grace() {
    // A is judged lost and its first power-off fails; the witness's process then stalls past
    // the retry. When it runs again, B's latest word (A unreachable) is from before the stall:
    // the retry waits for the stall grace, and B's frames that waited say that it reaches A
    // again, so A is not powered off (the simulator found the retry sent at once, seed 85210).
    let t = 5_000;
    let fenced = |t| {
        let mut w = fencing_a_with_early_grant(t);
        w.handle_persisted(ms(t + 103), EARLY);
        w.handle_fence_result(ms(t + 104), NODE_A, FenceResult::Failed);
        let announced = Stored::announced(1, NODE_A);
        assert_eq!(witness_actions(&mut w), vec![WitnessAction::Persist(announced)]);
        w.handle_persisted(ms(t + 106), announced);
        w
    };
    let mut w = fenced(t);
    // (Before A's watchdog deadline, about 7.2 s: only a fence can release it yet.)
    let woke = t + 1_400;
    for at in [woke, woke + DEAD_MS / 2] {
        w.handle_tick(ms(at), &a_lost(at));
        let actions = witness_actions(&mut w);
        assert!(actions.is_empty(), "{actions:?} {} ms after the stall", at - woke);
    }
    assert!(w.poll_timeout() <= ms(woke + DEAD_MS), "it wakes when the stall grace ends");
    let b_reaches_a = |at| view_of(&[(NODE_A, false, &[]), (NODE_B, true, &[WITNESS_ID, NODE_A])], ms(at));
    w.handle_tick(ms(woke + DEAD_MS / 2 + 10), &b_reaches_a(woke + DEAD_MS / 2 + 10));
    for at in (woke + DEAD_MS..woke + 5_000).step_by(INTERVAL_MS as usize) {
        w.handle_tick(ms(at), &b_reaches_a(at));
        let actions = witness_actions(&mut w);
        assert!(
            !actions.contains(&WitnessAction::PowerOff(NODE_A)),
            "A powered off at {at} ms although B reaches it"
        );
    }
    assert_eq!(w.fencing(), None);

    // It only delays: still lost when the grace ends, A is powered off then.
    let mut w = fenced(t);
    w.handle_tick(ms(woke), &a_lost(woke));
    assert!(witness_actions(&mut w).is_empty());
    w.handle_tick(ms(woke + DEAD_MS), &a_lost(woke + DEAD_MS));
    assert_eq!(witness_actions(&mut w), vec![WitnessAction::PowerOff(NODE_A)], "the retry after the grace");
}
