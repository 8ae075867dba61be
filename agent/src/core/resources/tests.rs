//! Scenario tests for the resource group: a virtual clock and a scripted runner that answers
//! each action with the outcome the test chooses. Each test reads as a specification.

use super::*;

const G: u64 = 5;
const INTERVAL_MS: u64 = 1_000;

fn resource(name: &str) -> ResourceSpec {
    ResourceSpec {
        name: Name::try_from(name).unwrap(),
        agent: Agent::path_of(&format!("/usr/lib/ha/{name}")),
        params: heapless::Vec::new(),
        start_timeout_ms: 2_000,
        stop_timeout_ms: 3_000,
        monitor_timeout_ms: 500,
        monitor_interval_ms: INTERVAL_MS,
    }
}

fn spec(names: &[&str], max_restarts: u32, restart_window_ms: u64) -> GroupSpec {
    let mut resources = heapless::Vec::new();
    for n in names {
        resources.push(resource(n)).unwrap();
    }
    GroupSpec { resources, max_restarts, restart_window_ms }
}

/// A group under test, its clock, and every action it asked for.
struct Node {
    now: Micros,
    group: Group,
    /// (resource, action) of every request, in order.
    log: std::vec::Vec<(usize, Action)>,
    events: std::vec::Vec<Event>,
}

impl Node {
    /// A group of `names` that has already confirmed everything stopped at boot.
    fn new(names: &[&str], max_restarts: u32, restart_window_ms: u64) -> Node {
        let group = Group::new(spec(names, max_restarts, restart_window_ms), Micros::from_ms(1));
        let mut node = Node { now: Micros::from_ms(1), group, log: vec![], events: vec![] };
        let n = names.len();
        for i in (0..n).rev() {
            node.expect(i, Action::Stop, Outcome::Success);
        }
        assert_eq!(node.group.state(), GroupState::Stopped);
        node.log.clear();
        node.drain_events();
        node.events.clear();
        node
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.group.poll_event() {
            self.events.push(e);
        }
    }

    fn advance_ms(&mut self, ms: u64) {
        self.now = self.now.plus_ms(ms);
        self.group.handle_timeout(self.now);
        self.drain_events();
    }

    /// The group must ask for exactly this action now; answer it with `outcome`.
    fn expect(&mut self, resource: usize, action: Action, outcome: Outcome) -> ActionRequest {
        self.expect_with_reason(resource, action, outcome, "")
    }

    /// [`Node::expect`], the agent giving `reason` as its `ocf-exit-reason`.
    fn expect_with_reason(
        &mut self,
        resource: usize,
        action: Action,
        outcome: Outcome,
        reason: &str,
    ) -> ActionRequest {
        let req = self.group.poll_action().expect("an action was requested");
        assert_eq!((req.resource, req.action), (resource, action), "unexpected request {req:?}");
        assert_eq!(self.group.poll_action(), None, "one action at a time");
        self.log.push((req.resource, req.action));
        self.now = self.now.plus_ms(10);
        self.group.handle_result_with_reason(self.now, req.id, outcome, exit_reason(reason));
        self.drain_events();
        req
    }

    fn status(&self, resource: usize) -> ResourceStatus {
        self.group.resources().nth(resource).unwrap()
    }

    fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| matches(e)).count()
    }

    fn start(&mut self) {
        self.group.start(self.now, G).unwrap();
        self.drain_events();
    }

    fn start_all(&mut self) {
        self.start();
        for i in 0..self.group.spec().resources.len() {
            self.expect(i, Action::Start, Outcome::Success);
        }
        assert_eq!(self.group.state(), GroupState::Running);
        self.log.clear();
        self.events.clear();
    }

    /// Jump to the next deadline (a due monitor).
    fn jump_to_next_deadline(&mut self) {
        if self.group.in_flight().is_some() {
            return; // the next action is already requested
        }
        let at = self.group.poll_timeout();
        assert!(at < Micros::MAX, "a deadline is pending");
        self.now = at.max(self.now);
        self.group.handle_timeout(self.now);
        self.drain_events();
    }

    fn idle(&mut self) {
        assert_eq!(self.group.poll_action(), None, "no action expected");
    }
}

use Action::{Monitor, Start, Stop, ValidateAll};

const DEGRADED: Outcome = Outcome::Degraded { promoted: false };

#[test]
fn a_new_group_confirms_everything_stopped_in_reverse_order_before_reporting_stopped() {
    let mut group = Group::new(spec(&["ip", "fs", "db"], 3, 60_000), Micros(0));
    assert_eq!(group.state(), GroupState::Stopping);
    assert!(!group.is_stopped(), "nothing is known about the resources at boot");
    for expected in [2, 1, 0] {
        let req = group.poll_action().unwrap();
        assert_eq!((req.resource, req.action, req.generation), (expected, Stop, 0));
        assert!(!group.is_stopped());
        group.handle_result(Micros(10), req.id, Outcome::NotRunning);
    }
    assert_eq!(group.state(), GroupState::Stopped);
    assert!(group.is_stopped());
    let events: std::vec::Vec<Event> = core::iter::from_fn(|| group.poll_event()).collect();
    assert_eq!(events.last(), Some(&Event::GroupStopped));
}

#[test]
fn start_runs_the_resources_in_order_with_the_generation_then_reports_running() {
    let mut n = Node::new(&["ip", "fs", "db"], 3, 60_000);
    n.start();
    assert_eq!(n.group.state(), GroupState::Starting);
    for i in 0..3 {
        let req = n.expect(i, Start, Outcome::Success);
        assert_eq!(req.generation, G);
        assert_eq!(req.timeout_ms, 2_000);
    }
    assert_eq!(n.group.state(), GroupState::Running);
    assert!(!n.group.is_stopped());
    assert_eq!(n.log, vec![(0, Start), (1, Start), (2, Start)]);
    assert_eq!(n.events.last(), Some(&Event::GroupRunning));
    assert!(matches!(n.events[0], Event::ResourceStarted { resource: 0, .. }));
}

#[test]
fn stop_runs_in_reverse_order_and_only_then_reports_stopped() {
    let mut n = Node::new(&["ip", "fs", "db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    assert_eq!(n.group.state(), GroupState::Stopping);
    for i in [2, 1, 0] {
        assert!(!n.group.is_stopped());
        let req = n.expect(i, Stop, Outcome::Success);
        assert_eq!(req.timeout_ms, 3_000);
    }
    assert_eq!(n.log, vec![(2, Stop), (1, Stop), (0, Stop)]);
    assert_eq!(n.group.state(), GroupState::Stopped);
    assert!(n.group.is_stopped());
    assert_eq!(n.events.last(), Some(&Event::GroupStopped));
}

#[test]
fn not_running_on_stop_counts_as_stopped() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    n.expect(1, Stop, Outcome::NotRunning);
    n.expect(0, Stop, Outcome::NotRunning);
    assert_eq!(n.group.state(), GroupState::Stopped);
    assert!(n.group.is_stopped());
}

#[test]
fn each_running_resource_is_monitored_every_interval_and_nothing_runs_in_between() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start_all();
    let started_at = n.now;
    n.advance_ms(INTERVAL_MS / 2);
    n.idle();
    assert!(n.group.poll_timeout() <= started_at.plus_ms(INTERVAL_MS));
    n.jump_to_next_deadline();
    let first = n.expect(0, Monitor, Outcome::Success);
    assert_eq!(first.timeout_ms, 500);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::Success);
    // The next monitor of resource 0 is one interval after its previous monitor finished.
    let next = n.group.poll_timeout();
    assert!(next > n.now);
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
}

#[test]
fn a_monitor_failure_restarts_the_group_from_that_resource_only() {
    let mut n = Node::new(&["ip", "fs", "db"], 3, 60_000);
    n.start_all();
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::NotRunning);
    assert_eq!(n.group.state(), GroupState::Starting);
    n.expect(2, Stop, Outcome::Success);
    n.expect(1, Stop, Outcome::Success);
    n.expect(1, Start, Outcome::Success);
    n.expect(2, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
    assert_eq!(n.log, vec![(0, Monitor), (1, Monitor), (2, Stop), (1, Stop), (1, Start), (2, Start)]);
    assert!(n.events.contains(&Event::ResourceRestarted {
        resource: 1,
        name: Name::try_from("fs").unwrap(),
        restarts_in_window: 1
    }));
    assert!(n.events.iter().any(|e| matches!(
        e,
        Event::ResourceFailed { resource: 1, action: Monitor, outcome: Outcome::NotRunning, .. }
    )));
    assert_eq!(n.events.last(), Some(&Event::GroupRunning));
}

#[test]
fn restarts_exhausted_stops_everything_then_reports_failed_until_cleanup() {
    let mut n = Node::new(&["ip", "db"], 1, 60_000);
    n.start_all();
    // First failure: one local restart is allowed.
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::Failed(1));
    n.expect(1, Stop, Outcome::Success);
    n.expect(1, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
    // Second failure within the window: the budget is spent.
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::TimedOut);
    assert_eq!(n.group.state(), GroupState::Stopping);
    assert_eq!(n.group.start(n.now, G), Err(Refused::Failed));
    n.expect(1, Stop, Outcome::Success);
    assert!(!n.group.is_stopped());
    n.expect(0, Stop, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Failed);
    assert!(n.group.is_stopped(), "Failed means every resource has been stopped");
    assert_eq!(n.events.last(), Some(&Event::GroupFailed));
    n.advance_ms(10 * INTERVAL_MS);
    n.idle();
    assert_eq!(n.group.start(n.now, G), Err(Refused::Failed));

    n.group.cleanup(n.now);
    assert_eq!(n.group.state(), GroupState::Stopped);
    assert!(n.group.resources().all(|r| r.failures == 0));
    n.start();
    n.expect(0, Start, Outcome::Success);
    n.expect(1, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
}

#[test]
fn the_restart_window_expiring_resets_the_count() {
    let window_ms = 60_000;
    let mut n = Node::new(&["db"], 1, window_ms);
    n.start_all();
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::NotRunning);
    n.expect(0, Stop, Outcome::Success);
    n.expect(0, Start, Outcome::Success);
    assert_eq!(n.group.restarts_in_window(n.now), 1);
    // Healthy for longer than the window: the earlier restart no longer counts.
    let mut healthy_ms = 0;
    while healthy_ms <= window_ms {
        n.jump_to_next_deadline();
        n.expect(0, Monitor, Outcome::Success);
        healthy_ms += INTERVAL_MS;
    }
    assert_eq!(n.group.restarts_in_window(n.now), 0);
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::NotRunning);
    n.expect(0, Stop, Outcome::Success);
    n.expect(0, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running, "a restart, not a failure");
}

#[test]
fn a_start_failure_stops_what_was_started_in_reverse_then_starts_again() {
    let mut n = Node::new(&["ip", "fs", "db"], 3, 60_000);
    n.start();
    n.expect(0, Start, Outcome::Success);
    n.expect(1, Start, Outcome::Failed(1));
    assert_eq!(n.group.state(), GroupState::Starting);
    n.expect(1, Stop, Outcome::Success);
    n.expect(0, Stop, Outcome::Success);
    n.expect(0, Start, Outcome::Success);
    n.expect(1, Start, Outcome::Success);
    n.expect(2, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
    assert_eq!(n.group.restarts_in_window(n.now), 1);
}

#[test]
fn a_start_that_keeps_failing_ends_failed_after_stopping() {
    let mut n = Node::new(&["ip", "db"], 2, 60_000);
    n.start();
    for _ in 0..3 {
        n.expect(0, Start, Outcome::Success);
        n.expect(1, Start, Outcome::TimedOut);
        n.expect(1, Stop, Outcome::Success);
        n.expect(0, Stop, Outcome::Success);
    }
    assert_eq!(n.group.state(), GroupState::Failed);
    assert!(n.group.is_stopped());
    n.idle();
}

#[test]
fn a_hard_ocf_error_fails_the_group_without_local_restart() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start();
    n.expect(0, Start, Outcome::Success);
    // 5 = OCF_ERR_INSTALLED: the agent or its software is missing on this node.
    n.expect(1, Start, Outcome::Failed(5));
    n.expect(1, Stop, Outcome::NotRunning);
    n.expect(0, Stop, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Failed);
    assert_eq!(n.group.restarts_in_window(n.now), 0);
}

#[test]
fn a_stop_timeout_is_stop_failed_and_never_stopped() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    n.expect(1, Stop, Outcome::TimedOut);
    assert_eq!(n.group.state(), GroupState::StopFailed);
    assert!(!n.group.is_stopped());
    assert!(n
        .events
        .iter()
        .any(|e| matches!(e, Event::StopFailed { resource: 1, outcome: Outcome::TimedOut, .. })));
    // No further action of any kind, whatever the time and the commands.
    n.advance_ms(100 * INTERVAL_MS);
    n.idle();
    n.group.stop(n.now);
    n.group.cleanup(n.now);
    n.idle();
    assert_eq!(n.group.state(), GroupState::StopFailed);
    assert_eq!(n.group.start(n.now, G + 1), Err(Refused::StopFailed));
    assert!(!n.group.is_stopped());
}

#[test]
fn a_failed_stop_during_failure_recovery_is_stop_failed() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start_all();
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Failed(1));
    n.expect(0, Stop, Outcome::Failed(1));
    assert_eq!(n.group.state(), GroupState::StopFailed);
    assert!(!n.group.is_stopped());
    n.idle();
}

#[test]
fn reset_retries_the_stops_and_declares_nothing_stopped_by_itself() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    n.expect(1, Stop, Outcome::Failed(1));
    n.group.reset(n.now);
    assert_eq!(n.group.state(), GroupState::Stopping);
    assert!(!n.group.is_stopped());
    n.expect(1, Stop, Outcome::Success);
    n.expect(0, Stop, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Stopped);
    assert!(n.group.is_stopped());
}

#[test]
fn stop_during_a_start_waits_for_the_start_then_stops_in_reverse() {
    let mut n = Node::new(&["ip", "fs", "db"], 3, 60_000);
    n.start();
    n.expect(0, Start, Outcome::Success);
    let in_flight = n.group.poll_action().unwrap();
    assert_eq!((in_flight.resource, in_flight.action), (1, Start));
    n.group.stop(n.now);
    n.idle();
    assert!(!n.group.is_stopped(), "a start in flight may be starting the resource");
    assert_eq!(n.group.state(), GroupState::Stopping);
    n.now = n.now.plus_ms(50);
    n.group.handle_result(n.now, in_flight.id, Outcome::Success);
    n.expect(1, Stop, Outcome::Success);
    n.expect(0, Stop, Outcome::Success);
    n.idle();
    assert_eq!(n.group.state(), GroupState::Stopped);
    assert!(n.group.is_stopped());
}

#[test]
fn a_start_during_a_stop_finishes_the_stop_then_starts_in_order() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    let in_flight = n.group.poll_action().unwrap();
    assert_eq!((in_flight.resource, in_flight.action), (1, Stop));
    n.group.start(n.now, G + 1).unwrap();
    n.idle();
    n.group.handle_result(n.now, in_flight.id, Outcome::Success);
    let req = n.expect(1, Start, Outcome::Success);
    assert_eq!(req.generation, G + 1);
    assert_eq!(n.group.state(), GroupState::Running);
}

#[test]
fn an_older_generation_is_refused() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start_all();
    assert_eq!(n.group.start(n.now, G - 1), Err(Refused::OlderGeneration { current: G, requested: G - 1 }));
    assert_eq!(n.group.start(n.now, G), Ok(()));
    n.idle();
}

#[test]
fn a_result_for_another_id_is_ignored() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start();
    let req = n.group.poll_action().unwrap();
    n.group.handle_result(n.now, req.id + 100, Outcome::Success);
    n.group.handle_result(n.now, req.id - 1, Outcome::Success);
    assert_eq!(n.group.stale_results(), 2);
    assert_eq!(n.group.state(), GroupState::Starting);
    n.group.handle_result(n.now, req.id, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
    n.group.handle_result(n.now, req.id, Outcome::Failed(1));
    assert_eq!(n.group.state(), GroupState::Running, "a duplicate result changes nothing");
}

#[test]
fn a_lost_stop_result_becomes_a_timeout_after_the_grace() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    let req = n.group.poll_action().unwrap();
    let issued = n.now;
    assert_eq!(n.group.poll_timeout(), issued.plus_ms(req.timeout_ms + RESULT_GRACE_MS));
    n.advance_ms(req.timeout_ms);
    assert_eq!(n.group.state(), GroupState::Stopping);
    n.advance_ms(RESULT_GRACE_MS);
    assert_eq!(n.group.state(), GroupState::StopFailed);
    assert_eq!(n.group.backstop_timeouts(), 1);
    assert!(!n.group.is_stopped());
}

#[test]
fn an_empty_group_is_stopped_and_runs_at_once() {
    let mut group = Group::new(spec(&[], 3, 60_000), Micros(0));
    assert!(group.is_stopped());
    group.start(Micros(1), 1).unwrap();
    assert_eq!(group.state(), GroupState::Running);
    assert_eq!(group.poll_action(), None);
}

#[test]
fn worst_case_stop_covers_an_action_in_flight_and_every_stop() {
    let s = spec(&["ip", "db"], 3, 60_000);
    assert_eq!(s.worst_case_stop_ms(), 3_000 + 2 * 3_000 + RESULT_GRACE_MS);
}

#[test]
fn outcomes_follow_the_ocf_exit_codes() {
    assert_eq!(Outcome::from_exit_code(0), Outcome::Success);
    assert_eq!(Outcome::from_exit_code(7), Outcome::NotRunning);
    assert_eq!(Outcome::from_exit_code(1), Outcome::Failed(1));
    assert_eq!(Outcome::from_exit_code(190), Outcome::Degraded { promoted: false });
    assert_eq!(Outcome::from_exit_code(191), Outcome::Degraded { promoted: true });
    assert!(!Outcome::Failed(1).is_hard_failure());
    assert!(Outcome::Failed(5).is_hard_failure());
    assert!(!Outcome::TimedOut.is_hard_failure());
    assert!(!DEGRADED.is_hard_failure());
    for code in [0, 1, 5, 7, 190, 191, 137] {
        assert_eq!(Outcome::from_exit_code(code).exit_code(), Some(code));
    }
    assert_eq!(Outcome::TimedOut.exit_code(), None);
    assert_eq!(Outcome::Failed(5).to_string(), "exit 5 (not installed)");
    assert_eq!(DEGRADED.to_string(), "exit 190 (degraded)");
    assert_eq!(Outcome::TimedOut.to_string(), "timed out");
}

// ---- degraded (OCF 190/191) ------------------------------------------------------------------

#[test]
fn a_degraded_monitor_keeps_the_resource_running_without_restart_and_a_success_clears_it() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.start_all();
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect_with_reason(1, Monitor, DEGRADED, "replication lag 30 s");
    assert_eq!(n.group.state(), GroupState::Running, "the group still counts as running");
    assert_eq!(n.status(1).state_str(), "degraded");
    assert_eq!(n.status(1).degraded.as_deref(), Some("replication lag 30 s"));
    assert_eq!((n.status(1).failures, n.status(1).last_failure.clone()), (0, None), "not a failure");
    assert_eq!(n.status(0).state_str(), "running");
    assert_eq!(
        n.events,
        vec![Event::ResourceDegraded {
            resource: 1,
            name: Name::try_from("db").unwrap(),
            exit_reason: exit_reason("replication lag 30 s")
        }]
    );
    // Still degraded at the next monitor: monitored as usual, no new event, no restart.
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::Degraded { promoted: true });
    assert_eq!(n.count(|e| matches!(e, Event::ResourceDegraded { .. })), 1);
    assert_eq!(n.group.restarts_in_window(n.now), 0);
    // Back to 0: cleared, with an event.
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::Success);
    assert_eq!(n.status(1).state_str(), "running");
    assert_eq!(
        n.events.last(),
        Some(&Event::ResourceRecovered { resource: 1, name: Name::try_from("db").unwrap() })
    );
    assert_eq!(n.log.iter().filter(|(_, a)| *a != Monitor).count(), 0, "only monitors ran");
}

#[test]
fn a_degraded_start_is_a_start_and_the_resource_is_degraded_from_the_outset() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start();
    n.expect_with_reason(0, Start, DEGRADED, "running without a standby");
    assert_eq!(n.group.state(), GroupState::Running);
    assert_eq!(n.status(0).state_str(), "degraded");
    assert!(matches!(
        n.events[..],
        [Event::ResourceStarted { .. }, Event::ResourceDegraded { .. }, Event::GroupRunning]
    ));
}

#[test]
fn a_degraded_answer_to_a_stop_means_it_still_runs_a_failed_stop() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start_all();
    n.group.stop(n.now);
    n.expect(0, Stop, DEGRADED);
    assert_eq!(n.group.state(), GroupState::StopFailed);
    assert!(!n.group.is_stopped());
}

#[test]
fn degradation_ends_silently_when_the_resource_fails_or_stops() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.start_all();
    n.jump_to_next_deadline();
    n.expect(0, Monitor, DEGRADED);
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Failed(1));
    assert_eq!(n.status(0).degraded, None, "an uncertain resource is not 'degraded'");
    n.expect(0, Stop, Outcome::Success);
    n.expect(0, Start, Outcome::Success);
    assert_eq!(n.status(0).state_str(), "running");
    n.jump_to_next_deadline();
    n.expect(0, Monitor, DEGRADED);
    n.group.stop(n.now);
    n.expect(0, Stop, Outcome::Success);
    assert_eq!(n.status(0).state_str(), "stopped");
    assert_eq!(n.count(|e| matches!(e, Event::ResourceRecovered { .. })), 0);
}

// ---- OCF_RESKEY_CRM_meta_interval ------------------------------------------------------------

#[test]
fn recurring_monitors_carry_their_interval_and_every_other_action_zero() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.group.set_validation(n.now, 0, Validation::Advertised);
    n.start();
    assert_eq!(n.expect(0, ValidateAll, Outcome::Success).interval_ms, 0);
    assert_eq!(n.expect(0, Start, Outcome::Success).interval_ms, 0);
    n.jump_to_next_deadline();
    assert_eq!(n.expect(0, Monitor, Outcome::Success).interval_ms, INTERVAL_MS);
    n.group.stop(n.now);
    assert_eq!(n.expect(0, Stop, Outcome::Success).interval_ms, 0);
}

// ---- validate-all ----------------------------------------------------------------------------

#[test]
fn validate_all_runs_before_every_start_of_an_agent_that_advertises_it() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.group.set_validation(n.now, 1, Validation::Advertised);
    assert_eq!(n.group.validation(1), Some(Validation::Advertised));
    n.start();
    let validate = n.expect(0, Start, Outcome::Success);
    assert_eq!(validate.action, Start, "ip does not advertise it");
    let validate = n.expect(1, ValidateAll, Outcome::Success);
    assert_eq!(validate.timeout_ms, 2_000, "the start's timeout");
    assert_eq!(n.group.state(), GroupState::Starting);
    assert!(!n.group.is_stopped());
    n.expect(1, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
    // A local restart validates again.
    n.jump_to_next_deadline();
    n.expect(0, Monitor, Outcome::Success);
    n.jump_to_next_deadline();
    n.expect(1, Monitor, Outcome::NotRunning);
    n.expect(1, Stop, Outcome::Success);
    n.expect(1, ValidateAll, Outcome::Success);
    n.expect(1, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
}

#[test]
fn a_failing_validate_all_is_a_failed_start_with_its_exit_reason() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.group.set_validation(n.now, 1, Validation::Advertised);
    n.start();
    n.expect(0, Start, Outcome::Success);
    n.expect_with_reason(1, ValidateAll, Outcome::Failed(1), "cannot reach the array");
    // As after a failed start: stop what runs (db never started: it stays stopped), start again.
    n.expect(0, Stop, Outcome::Success);
    n.expect(0, Start, Outcome::Success);
    n.expect(1, ValidateAll, Outcome::Success);
    n.expect(1, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
    assert_eq!(n.group.restarts_in_window(n.now), 1);
    let last = n.status(1).last_failure.unwrap();
    assert_eq!((last.action, last.outcome), (ValidateAll, Outcome::Failed(1)));
    assert_eq!(last.exit_reason.as_str(), "cannot reach the array");
    let failed = n.events.iter().find(|e| matches!(e, Event::ResourceFailed { .. })).unwrap();
    assert_eq!(failed.exit_reason(), Some("cannot reach the array"));
    assert_eq!(failed.to_string(), "db: validate-all failed: exit 1 (generic error)");
}

#[test]
fn a_hard_validate_all_failure_fails_the_group_at_once() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.group.set_validation(n.now, 1, Validation::Advertised);
    n.start();
    n.expect(0, Start, Outcome::Success);
    n.expect_with_reason(1, ValidateAll, Outcome::Failed(6), "pgdata is not set");
    n.expect(0, Stop, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Failed);
    assert_eq!(n.group.restarts_in_window(n.now), 0);
    assert!(!n.log.contains(&(1, Start)), "the start never ran");
}

#[test]
fn starts_wait_while_the_meta_data_is_being_read() {
    let mut n = Node::new(&["ip", "db"], 3, 60_000);
    n.group.set_validation(n.now, 1, Validation::Unknown);
    n.start();
    n.expect(0, Start, Outcome::Success);
    n.advance_ms(10 * INTERVAL_MS);
    n.idle();
    assert_eq!(n.group.state(), GroupState::Starting);
    assert_eq!(n.group.poll_timeout(), Micros::MAX, "nothing to wake up for but the answer");
    n.group.set_validation(n.now, 1, Validation::NotAdvertised);
    n.expect(1, Start, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Running);
}

#[test]
fn a_validation_passed_before_a_stop_does_not_count_for_a_later_start() {
    let mut n = Node::new(&["db"], 3, 60_000);
    n.group.set_validation(n.now, 0, Validation::Advertised);
    n.start();
    let validate = n.group.poll_action().unwrap();
    assert_eq!(validate.action, ValidateAll);
    n.group.stop(n.now);
    n.group.handle_result(n.now, validate.id, Outcome::Success);
    n.idle();
    assert_eq!(n.group.state(), GroupState::Stopped);
    n.start();
    n.expect(0, ValidateAll, Outcome::Success);
    n.expect(0, Start, Outcome::Success);
}

#[test]
fn cleanup_forgets_the_last_failure_and_its_reason() {
    let mut n = Node::new(&["db"], 0, 60_000);
    n.start();
    n.expect_with_reason(0, Start, Outcome::Failed(1), "port 5432 is taken");
    n.expect(0, Stop, Outcome::Success);
    assert_eq!(n.group.state(), GroupState::Failed);
    assert_eq!(n.status(0).last_failure.unwrap().exit_reason.as_str(), "port 5432 is taken");
    n.group.cleanup(n.now);
    assert_eq!(n.status(0).last_failure, None);
}

#[test]
fn exit_reasons_are_cut_at_the_bound_on_a_character_boundary() {
    let long = "é".repeat(MAX_EXIT_REASON_BYTES);
    let cut = exit_reason(&long);
    assert!(cut.len() <= MAX_EXIT_REASON_BYTES && cut.len() >= MAX_EXIT_REASON_BYTES - 1);
    assert!(cut.chars().all(|c| c == 'é'));
}

mod configuration {
    use super::super::config::ResourcesConfig;
    use super::*;

    #[derive(serde::Deserialize)]
    struct File {
        resources: ResourcesConfig,
    }

    fn parse(text: &str) -> Result<ResourcesConfig, String> {
        toml::from_str::<File>(text).map(|f| f.resources).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_example_parses_into_a_group() {
        let text = r#"
            [resources]
            max_restarts = 2
            restart_window_s = 120

            [[resources.group]]
            name = "ip"
            agent = "/usr/lib/ha/agents/ipaddr"
            params = { ip = "10.0.0.10", cidr_netmask = "24" }
            start_timeout_ms = 5000

            [[resources.group]]
            name = "db"
            agent = "/usr/lib/ha/agents/pgsql"
        "#;
        let spec = parse(text).unwrap().to_spec(&mut Vec::new()).unwrap();
        assert_eq!(spec.max_restarts, 2);
        assert_eq!(spec.restart_window_ms, 120_000);
        assert_eq!(spec.resources.len(), 2);
        let ip = &spec.resources[0];
        assert_eq!(ip.name.as_str(), "ip");
        assert_eq!(ip.start_timeout_ms, 5000);
        assert_eq!(ip.stop_timeout_ms, config::DEFAULT_STOP_TIMEOUT_MS);
        assert_eq!(
            ip.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<std::vec::Vec<_>>(),
            vec![("cidr_netmask", "24"), ("ip", "10.0.0.10")]
        );
        assert_eq!(spec.resources[1].monitor_interval_ms, config::DEFAULT_MONITOR_INTERVAL_MS);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = parse("[resources]\nmax_restart = 3\n").unwrap_err();
        assert!(err.contains("max_restart"), "{err}");
        let err = parse("[resources]\n[[resources.group]]\nname = \"a\"\nagent = \"/a\"\ntimeout = 1\n")
            .unwrap_err();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_with_its_location() {
        let text = r#"
            [resources]
            max_restarts = 100
            restart_window_s = 0
            [[resources.group]]
            name = "db"
            agent = "relative/path"
            params = { "bad-name" = "x" }
            stop_timeout_ms = 0
            [[resources.group]]
            name = "db"
            agent = "/ok"
            monitor_interval_ms = 0
        "#;
        let mut problems = std::vec::Vec::new();
        assert!(parse(text).unwrap().to_spec(&mut problems).is_none());
        let locations: std::vec::Vec<std::string::String> =
            problems.iter().map(|p| format!("agent.toml: {}", p.path)).collect();
        let locations: std::vec::Vec<&str> = locations.iter().map(|l| l.as_str()).collect();
        for expected in [
            "agent.toml: resources.max_restarts",
            "agent.toml: resources.restart_window_s",
            "agent.toml: resources.group[0].agent",
            "agent.toml: resources.group[0].params.bad-name",
            "agent.toml: resources.group[0].stop_timeout_ms",
            "agent.toml: resources.group[1].name",
            "agent.toml: resources.group[1].monitor_interval_ms",
        ] {
            assert!(locations.contains(&expected), "missing {expected} in {locations:?}");
        }
    }

    #[test]
    fn more_resources_than_the_bound_are_rejected() {
        let mut text = String::from("[resources]\n");
        for i in 0..=MAX_RESOURCES {
            text.push_str(&format!("[[resources.group]]\nname = \"r{i}\"\nagent = \"/a\"\n"));
        }
        let mut problems = std::vec::Vec::new();
        assert!(parse(&text).unwrap().to_spec(&mut problems).is_none());
        assert!(problems.iter().any(|p| format!("f: {}", p.path) == "f: resources.group"));
    }
}
