//! Resources on a node: one ordered group of OCF-style resources, started in order, monitored,
//! restarted locally within a budget, and stopped in reverse order.
//!
//! Owns the decision "which action runs next on which resource" (including `validate-all`
//! before a start when the agent advertises it), the interpretation of action results (OCF exit
//! codes, degraded monitors, exit reasons), the restart budget (`max_restarts` within
//! `restart_window_ms`) and the answer to the one question safety depends on:
//! [`Group::is_stopped`], true only when every resource is *confirmed* stopped. It does not
//! decide *whether* the node should run the service (that is the authority, which calls
//! [`Group::start`] and [`Group::stop`]), it does not run processes, read meta-data or enforce
//! timeouts (that is `shell::ocf`), and it never reads a clock. The agent's name ([`agent`]) and
//! its meta-data ([`meta_data`]) are parsed in submodules.
//!
//! Call order for the shell, each loop iteration:
//! 1. commands from the authority (`start`, `stop`, `cleanup`, `reset`) and what the shell
//!    learned from the agents' meta-data (`set_validation`);
//! 2. `handle_result_with_reason(now, id, outcome, exit_reason)` for every action the runner
//!    finished;
//! 3. `handle_timeout(now)`;
//! 4. drain `poll_action()` (hand each request to the runner) and `poll_event()`;
//! 5. sleep until `poll_timeout()` or the next input.
//!
//! Actions run **one at a time** (at most one in flight for the whole group). This is slower
//! than running monitors in parallel, but it keeps every decision a function of one result:
//! there is never a start racing a stop of the same or a dependent resource, and "what is
//! running" is always known from the last completed action. A command that arrives while an
//! action is in flight waits for its result (the runner enforces the action's timeout, and a
//! backstop here treats a result missing for `timeout + RESULT_GRACE_MS` as a timeout).
//!
//! In maintenance ([`Group::set_maintenance`]) the group issues no action at all (an action
//! already in flight finishes and its result is recorded). When maintenance ends it looks
//! again, since the operator may have started or stopped things by hand: a running group
//! monitors every resource at once, a stopping or stopped group stops every resource again
//! (OCF stop of a stopped resource succeeds), so nothing started by hand on a node that does
//! not hold the service survives the end of maintenance.
//!
//! A new group does not assume anything about the real resources: the agent may have been
//! restarted while they ran. It begins by stopping every resource in reverse order (OCF stop
//! on a stopped resource succeeds), and reports `Stopped` only once those stops are confirmed.
//!
//! A monitor (or start) that returns 190 or 191 (`OCF_DEGRADED`, `OCF_DEGRADED_PROMOTED`)
//! means running, but degraded: nothing is restarted, the resource's status says so, and an
//! event marks the change (and another when a monitor returns 0 again).

#![forbid(unsafe_code)]

pub mod agent;
pub mod filesystem;
pub mod ipaddr;
pub mod meta_data;
pub mod pgsql;
pub mod program;
mod types;

pub use agent::Agent;
pub use types::*;

use heapless::Deque;

use crate::time::Micros;

/// Bound on resources in the group.
pub const MAX_RESOURCES: usize = 8;
/// Bound on parameters per resource.
pub const MAX_PARAMS: usize = 16;
/// Bound on a resource name (it is carried in events and logs).
pub const MAX_NAME_BYTES: usize = 32;
/// Bound on the agent path (given, or resolved from `ocf:PROVIDER:TYPE`).
pub const MAX_AGENT_PATH_BYTES: usize = 256;
/// Bound on an exit reason (`ocf-exit-reason:` text) carried with a result: it fits a journal
/// field and leaves room in a notification's text.
pub const MAX_EXIT_REASON_BYTES: usize = 128;
/// Bound on a parameter name (the suffix of `OCF_RESKEY_<name>`).
pub const MAX_PARAM_NAME_BYTES: usize = 64;
/// Bound on a parameter value.
pub const MAX_PARAM_VALUE_BYTES: usize = 1024;
/// Bound on `max_restarts` (the restart history is a fixed ring of this size).
pub const MAX_RESTARTS: usize = 16;
/// Bound on any action timeout.
pub const MAX_ACTION_TIMEOUT_MS: u64 = 3_600_000;
/// Bound on the monitor interval.
pub const MAX_MONITOR_INTERVAL_MS: u64 = 86_400_000;
/// Bound on the restart window.
pub const MAX_RESTART_WINDOW_MS: u64 = 7 * 86_400_000;
/// Bound on events waiting to be polled; the oldest is dropped (and counted) when full.
pub const MAX_EVENTS: usize = 32;
/// A result that has not arrived this long after the action's own timeout is taken as
/// `TimedOut`. The runner kills at the timeout, so this only fires if the shell lost the action;
/// it keeps a lost stop from leaving the group waiting forever instead of escalating.
pub const RESULT_GRACE_MS: u64 = 5_000;

/// OCF exit code: success.
pub const OCF_SUCCESS: i32 = 0;
/// OCF exit code: the resource is not running.
pub const OCF_NOT_RUNNING: i32 = 7;
/// OCF 1.1 exit code: running, but degraded.
pub const OCF_DEGRADED: i32 = 190;
/// OCF 1.1 exit code: running in the promoted role, but degraded.
pub const OCF_DEGRADED_PROMOTED: i32 = 191;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    Stop,
    Run,
    /// Stop everything, then report `Failed`.
    StopThenFail,
}

#[derive(Clone, Debug)]
struct Resource {
    state: ResourceState,
    next_monitor_at: Micros,
    failures: u32,
    last_failure: Option<Failure>,
    /// `Some` while running degraded (only in `ResourceState::Running`).
    degraded: Option<ExitReason>,
    validation: Validation,
    /// validate-all succeeded and the start it belongs to has not been issued yet.
    validated: bool,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    request: ActionRequest,
    backstop_at: Micros,
}

/// The resource group of one node.
#[derive(Clone, Debug)]
pub struct Group {
    spec: GroupSpec,
    resources: heapless::Vec<Resource, MAX_RESOURCES>,
    goal: Goal,
    stop_failed: bool,
    /// During a local restart: resources from this index on are stopped before any start.
    restart_floor: Option<usize>,
    generation: u64,
    next_id: u64,
    in_flight: Option<InFlight>,
    /// The in-flight request, until the shell polls it.
    outbox: Option<ActionRequest>,
    /// When each restart in the current window was decided, oldest first.
    restarts: Deque<Micros, MAX_RESTARTS>,
    last_state: GroupState,
    events: Deque<Event, MAX_EVENTS>,
    events_dropped: u64,
    stale_results: u64,
    backstop_timeouts: u64,
    maintenance: bool,
}

impl Group {
    /// A group that first confirms every resource stopped (reverse order), then waits for
    /// commands.
    pub fn new(spec: GroupSpec, now: Micros) -> Group {
        assert!(spec.max_restarts as usize <= MAX_RESTARTS);
        assert!(spec.restart_window_ms > 0 && spec.restart_window_ms <= MAX_RESTART_WINDOW_MS);
        for r in &spec.resources {
            assert!(!r.name.is_empty());
            assert!(r.agent.is_valid());
            for (k, v) in &r.params {
                assert!(!k.is_empty() && k.len() <= MAX_PARAM_NAME_BYTES);
                assert!(v.len() <= MAX_PARAM_VALUE_BYTES);
            }
            for t in [r.start_timeout_ms, r.stop_timeout_ms, r.monitor_timeout_ms] {
                assert!(t > 0 && t <= MAX_ACTION_TIMEOUT_MS);
            }
            assert!(r.monitor_interval_ms > 0 && r.monitor_interval_ms <= MAX_MONITOR_INTERVAL_MS);
        }
        let mut resources = heapless::Vec::new();
        for _ in &spec.resources {
            let r = Resource {
                state: ResourceState::Unknown,
                next_monitor_at: Micros::MAX,
                failures: 0,
                last_failure: None,
                degraded: None,
                validation: Validation::NotAdvertised,
                validated: false,
            };
            assert!(resources.push(r).is_ok(), "spec holds at most MAX_RESOURCES");
        }
        let mut group = Group {
            spec,
            resources,
            goal: Goal::Stop,
            stop_failed: false,
            restart_floor: None,
            generation: 0,
            next_id: 1,
            in_flight: None,
            outbox: None,
            restarts: Deque::new(),
            last_state: GroupState::Stopping,
            events: Deque::new(),
            events_dropped: 0,
            stale_results: 0,
            backstop_timeouts: 0,
            maintenance: false,
        };
        group.after_input(now);
        group
    }

    /// A group taken over from a previous agent that left its resources running in
    /// maintenance mode (`generation`: the grant they run under). Nothing is stopped at start:
    /// every resource counts as running as that agent left it, and the group stays in
    /// maintenance, running no action, until the authority says otherwise. When maintenance
    /// ends it monitors every resource at once (see [`Group::set_maintenance`]), which confirms
    /// or corrects that claim. Safe because "running" is never less than the truth: nothing is
    /// declared stopped without a stop.
    pub fn adopt(spec: GroupSpec, now: Micros, generation: u64) -> Group {
        let mut group = Group::new(spec, now);
        // `new` issued the first boot stop; the adopted group issues none (nothing has run it).
        group.outbox = None;
        group.in_flight = None;
        group.events.clear();
        group.goal = Goal::Run;
        group.generation = generation;
        group.maintenance = true;
        for r in group.resources.iter_mut() {
            r.state = ResourceState::Running;
            r.next_monitor_at = Micros::MAX;
        }
        group.last_state = group.state();
        assert_eq!(group.state(), GroupState::Running);
        assert!(group.in_flight.is_none());
        group
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn state(&self) -> GroupState {
        if self.stop_failed {
            return GroupState::StopFailed;
        }
        let all = |s: ResourceState| self.resources.iter().all(|r| r.state == s);
        match self.goal {
            Goal::Run => {
                let settled = self.restart_floor.is_none()
                    && all(ResourceState::Running)
                    && self.in_flight.is_none_or(|f| f.request.action == Action::Monitor);
                if settled {
                    GroupState::Running
                } else {
                    GroupState::Starting
                }
            }
            Goal::Stop | Goal::StopThenFail => {
                if !self.is_stopped() {
                    GroupState::Stopping
                } else if self.goal == Goal::Stop {
                    GroupState::Stopped
                } else {
                    GroupState::Failed
                }
            }
        }
    }

    /// True only when every resource is confirmed stopped and no action is in flight. The
    /// safety invariant ("never two nodes with resources not stopped") relies on this: an
    /// uncertain stop, a start in flight or a failed action all make it false.
    pub fn is_stopped(&self) -> bool {
        self.in_flight.is_none() && self.resources.iter().all(|r| r.state == ResourceState::Stopped)
    }

    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }
    pub fn resource_spec(&self, index: usize) -> Option<&ResourceSpec> {
        self.spec.resources.get(index)
    }
    pub fn resources(&self) -> impl Iterator<Item = ResourceStatus> + '_ {
        self.spec.resources.iter().zip(self.resources.iter()).map(|(s, r)| ResourceStatus {
            name: s.name.clone(),
            state: r.state,
            degraded: r.degraded.clone(),
            failures: r.failures,
            last_failure: r.last_failure.clone(),
        })
    }
    /// The generation of the latest `start` the group accepted (0 before any).
    pub fn generation(&self) -> u64 {
        self.generation
    }
    pub fn in_flight(&self) -> Option<ActionRequest> {
        self.in_flight.map(|f| f.request)
    }
    /// Restarts decided within the window ending at `now`.
    pub fn restarts_in_window(&self, now: Micros) -> u32 {
        let window_us = self.spec.restart_window_ms * 1000;
        self.restarts.iter().filter(|&&at| now.since_us(at) < window_us).count() as u32
    }
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }
    /// Results whose id was not the action in flight (late, duplicated or unknown); ignored.
    pub fn stale_results(&self) -> u64 {
        self.stale_results
    }
    /// Results the backstop had to assume (`RESULT_GRACE_MS` past the timeout).
    pub fn backstop_timeouts(&self) -> u64 {
        self.backstop_timeouts
    }
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }
    pub fn validation(&self, index: usize) -> Option<Validation> {
        self.resources.get(index).map(|r| r.validation)
    }

    // ---- commands ------------------------------------------------------------------------

    /// Run the group for grant `generation`: start in order (after stopping anything in an
    /// uncertain state). Accepted while running or stopping; a newer generation replaces the
    /// one later actions carry.
    pub fn start(&mut self, now: Micros, generation: u64) -> Result<(), Refused> {
        if self.stop_failed {
            return Err(Refused::StopFailed);
        }
        if self.goal == Goal::StopThenFail {
            return Err(Refused::Failed);
        }
        if generation < self.generation {
            return Err(Refused::OlderGeneration { current: self.generation, requested: generation });
        }
        self.generation = generation;
        self.goal = Goal::Run;
        self.after_input(now);
        Ok(())
    }

    /// Stop every resource in reverse order. An action in flight finishes first.
    pub fn stop(&mut self, now: Micros) {
        if self.goal == Goal::Run {
            self.goal = Goal::Stop;
            self.restart_floor = None;
            self.forget_validations();
        }
        self.after_input(now);
    }

    /// Forget failures: the restart history and the per-resource failure counts. A `Failed`
    /// group becomes `Stopped` (and may be started again). Does not clear `StopFailed`.
    pub fn cleanup(&mut self, now: Micros) {
        self.restarts.clear();
        for r in self.resources.iter_mut() {
            r.failures = 0;
            r.last_failure = None;
        }
        if self.goal == Goal::StopThenFail {
            self.goal = Goal::Stop;
        }
        self.after_input(now);
    }

    /// Maintenance on: issue nothing. Off: look again (monitor what runs, stop again what
    /// should be stopped), then carry on.
    pub fn set_maintenance(&mut self, now: Micros, on: bool) {
        if on == self.maintenance {
            return;
        }
        self.maintenance = on;
        if on {
            self.forget_validations();
        } else {
            let goal = self.goal;
            for r in self.resources.iter_mut() {
                match (goal, r.state) {
                    (Goal::Run, ResourceState::Running) => r.next_monitor_at = now,
                    (Goal::Stop | Goal::StopThenFail, ResourceState::Stopped) => {
                        r.state = ResourceState::Unknown;
                        r.next_monitor_at = Micros::MAX;
                    }
                    _ => {}
                }
            }
        }
        self.after_input(now);
    }

    /// What the shell learned about resource `index`'s agent: whether validate-all runs before
    /// its starts. `Unknown` holds its starts until a later call says which (the shell sets it
    /// while it reads the meta-data, and always follows up). A validate-all already passed for
    /// the next start still counts.
    pub fn set_validation(&mut self, now: Micros, index: usize, validation: Validation) {
        assert!(
            index < self.resources.len(),
            "set_validation of resource {index} of {}",
            self.resources.len()
        );
        self.resources[index].validation = validation;
        self.after_input(now);
    }

    /// Leave `StopFailed` by trying the stops again. Declares nothing stopped: the group
    /// reports `Stopped` only when the new stops succeed (and `StopFailed` again if they fail).
    pub fn reset(&mut self, now: Micros) {
        if self.stop_failed {
            self.stop_failed = false;
            if self.goal == Goal::Run {
                self.goal = Goal::Stop;
            }
            self.restart_floor = None;
            self.forget_validations();
        }
        self.after_input(now);
    }

    // ---- input ---------------------------------------------------------------------------

    /// The runner finished action `id`. Results for anything but the action in flight are
    /// counted and ignored.
    pub fn handle_result(&mut self, now: Micros, id: u64, outcome: Outcome) {
        self.handle_result_with_reason(now, id, outcome, ExitReason::new());
    }

    /// [`Group::handle_result`] with the agent's exit reason (empty if none): it is kept with
    /// the resource's last failure and carried in the failure and degraded events.
    pub fn handle_result_with_reason(
        &mut self,
        now: Micros,
        id: u64,
        outcome: Outcome,
        exit_reason: ExitReason,
    ) {
        self.apply_result(now, id, outcome, exit_reason);
        self.after_input(now);
    }

    pub fn handle_timeout(&mut self, now: Micros) {
        if let Some(f) = self.in_flight {
            if now >= f.backstop_at {
                self.backstop_timeouts += 1;
                self.apply_result(now, f.request.id, Outcome::TimedOut, ExitReason::new());
            }
        }
        self.after_input(now);
    }

    // ---- output --------------------------------------------------------------------------

    /// The next action to run (at most one is ever outstanding).
    pub fn poll_action(&mut self) -> Option<ActionRequest> {
        self.outbox.take()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` has work: the in-flight action's backstop, or the next monitor.
    pub fn poll_timeout(&self) -> Micros {
        if let Some(f) = self.in_flight {
            return f.backstop_at;
        }
        if self.state() == GroupState::Running && !self.maintenance {
            return self.resources.iter().map(|r| r.next_monitor_at).min().unwrap_or(Micros::MAX);
        }
        Micros::MAX
    }

    // ---- internals -----------------------------------------------------------------------

    fn name(&self, index: usize) -> Name {
        self.spec.resources[index].name.clone()
    }

    /// A passed validate-all belongs to the start that follows it; any change of plan in
    /// between makes the next start validate again.
    fn forget_validations(&mut self) {
        for r in self.resources.iter_mut() {
            r.validated = false;
        }
    }

    fn push_event(&mut self, event: Event) {
        if self.events.is_full() {
            let _ = self.events.pop_front();
            self.events_dropped += 1;
        }
        assert!(self.events.push_back(event).is_ok());
    }

    fn record_failure(&mut self, index: usize, action: Action, outcome: Outcome, exit_reason: ExitReason) {
        let r = &mut self.resources[index];
        r.failures = r.failures.saturating_add(1);
        r.last_failure = Some(Failure { action, outcome, exit_reason: exit_reason.clone() });
        let name = self.name(index);
        self.push_event(Event::ResourceFailed { resource: index, name, action, outcome, exit_reason });
    }

    /// A running resource reported 190/191: mark it (and tell once).
    fn mark_degraded(&mut self, index: usize, exit_reason: ExitReason) {
        let r = &mut self.resources[index];
        assert_eq!(r.state, ResourceState::Running);
        let newly = r.degraded.is_none();
        r.degraded = Some(exit_reason.clone());
        if newly {
            let name = self.name(index);
            self.push_event(Event::ResourceDegraded { resource: index, name, exit_reason });
        }
    }

    fn apply_result(&mut self, now: Micros, id: u64, outcome: Outcome, exit_reason: ExitReason) {
        let Some(f) = self.in_flight.filter(|f| f.request.id == id) else {
            self.stale_results += 1;
            return;
        };
        self.in_flight = None;
        if self.outbox.is_some_and(|r| r.id == id) {
            self.outbox = None;
        }
        let index = f.request.resource;
        let interval_ms = self.spec.resources[index].monitor_interval_ms;
        match (f.request.action, outcome) {
            (Action::ValidateAll, Outcome::Success) => {
                // The start this validation belongs to is issued next, unless a command came
                // in between (a stop, maintenance: then the next start validates again).
                let r = &mut self.resources[index];
                r.validated =
                    r.state == ResourceState::Stopped && self.goal == Goal::Run && !self.maintenance;
            }
            (Action::ValidateAll, failed) => {
                // A failed start that never began: the resource was left as it was, and the
                // group recovers exactly as from a failed start.
                self.record_failure(index, Action::ValidateAll, failed, exit_reason);
                self.recover(now, index, 0, failed.is_hard_failure());
            }
            (Action::Start, Outcome::Success | Outcome::Degraded { .. }) => {
                let r = &mut self.resources[index];
                r.state = ResourceState::Running;
                r.next_monitor_at = now.plus_ms(interval_ms);
                let name = self.name(index);
                self.push_event(Event::ResourceStarted { resource: index, name });
                if matches!(outcome, Outcome::Degraded { .. }) {
                    self.mark_degraded(index, exit_reason);
                }
            }
            (Action::Start, failed) => {
                // A failed or killed start may have left anything behind: stop it too.
                self.resources[index].state = ResourceState::Unknown;
                self.record_failure(index, Action::Start, failed, exit_reason);
                self.recover(now, index, 0, failed.is_hard_failure());
            }
            (Action::Monitor, Outcome::Success) => {
                let r = &mut self.resources[index];
                r.next_monitor_at = now.plus_ms(interval_ms);
                if r.degraded.take().is_some() {
                    let name = self.name(index);
                    self.push_event(Event::ResourceRecovered { resource: index, name });
                }
            }
            (Action::Monitor, Outcome::Degraded { .. }) => {
                // Running: no restart, no failure count; the next monitor as usual.
                self.resources[index].next_monitor_at = now.plus_ms(interval_ms);
                self.mark_degraded(index, exit_reason);
            }
            (Action::Monitor, failed) => {
                let r = &mut self.resources[index];
                r.state = ResourceState::Unknown;
                r.degraded = None;
                r.next_monitor_at = Micros::MAX;
                self.record_failure(index, Action::Monitor, failed, exit_reason);
                self.recover(now, index, index, failed.is_hard_failure());
            }
            (Action::Stop, Outcome::Success | Outcome::NotRunning) => {
                let r = &mut self.resources[index];
                r.state = ResourceState::Stopped;
                r.next_monitor_at = Micros::MAX;
                let name = self.name(index);
                self.push_event(Event::ResourceStopped { resource: index, name });
            }
            (Action::Stop, failed) => {
                // Including 190/191: the agent says the resource still runs.
                self.resources[index].state = ResourceState::Unknown;
                self.stop_failed = true;
                self.record_failure(index, Action::Stop, failed, exit_reason);
                let name = self.name(index);
                self.push_event(Event::StopFailed { resource: index, name, outcome: failed });
            }
        }
    }

    /// A start or monitor of `index` failed while running: restart from `from`, or fail the
    /// group when the budget is spent or the failure is hard. Outside `Goal::Run` the stop
    /// pass already takes care of the now-uncertain resource.
    fn recover(&mut self, now: Micros, index: usize, from: usize, hard: bool) {
        if self.goal != Goal::Run {
            return;
        }
        let window_us = self.spec.restart_window_ms * 1000;
        while self.restarts.front().is_some_and(|&at| now.since_us(at) >= window_us) {
            let _ = self.restarts.pop_front();
        }
        if hard || self.restarts.len() >= self.spec.max_restarts as usize {
            self.goal = Goal::StopThenFail;
            self.restart_floor = None;
            self.forget_validations();
            return;
        }
        assert!(self.restarts.push_back(now).is_ok(), "max_restarts <= MAX_RESTARTS");
        self.restart_floor = Some(self.restart_floor.map_or(from, |f| f.min(from)));
        let name = self.name(index);
        let restarts_in_window = self.restarts.len() as u32;
        self.push_event(Event::ResourceRestarted { resource: index, name, restarts_in_window });
    }

    fn after_input(&mut self, now: Micros) {
        self.step(now);
        let state = self.state();
        if state != self.last_state {
            match state {
                GroupState::Running => self.push_event(Event::GroupRunning),
                GroupState::Stopped => self.push_event(Event::GroupStopped),
                GroupState::Failed => self.push_event(Event::GroupFailed),
                _ => {}
            }
            self.last_state = state;
        }
        self.check_invariants();
    }

    /// Issue the next action if none is in flight. Bounded: one decision, at most one action.
    fn step(&mut self, now: Micros) {
        if self.in_flight.is_some() || self.stop_failed || self.maintenance {
            return;
        }
        if let Some((index, action)) = self.next_action(now) {
            self.issue(now, index, action);
        }
    }

    fn highest_not_stopped_from(&self, floor: usize) -> Option<usize> {
        (floor..self.resources.len()).rev().find(|&i| self.resources[i].state != ResourceState::Stopped)
    }

    fn next_action(&mut self, now: Micros) -> Option<(usize, Action)> {
        match self.goal {
            Goal::Stop | Goal::StopThenFail => self.highest_not_stopped_from(0).map(|i| (i, Action::Stop)),
            Goal::Run => {
                // Anything uncertain is stopped (with everything after it) before any start.
                let unknown = self.resources.iter().position(|r| r.state == ResourceState::Unknown);
                let floor = match (self.restart_floor, unknown) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let Some(floor) = floor {
                    if let Some(i) = self.highest_not_stopped_from(floor) {
                        return Some((i, Action::Stop));
                    }
                    self.restart_floor = None;
                }
                if let Some(i) = self.resources.iter().position(|r| r.state != ResourceState::Running) {
                    let r = &self.resources[i];
                    assert_eq!(r.state, ResourceState::Stopped);
                    return match (r.validation, r.validated) {
                        // The meta-data is still being read: wait for set_validation.
                        (Validation::Unknown, false) => None,
                        (Validation::Advertised, false) => Some((i, Action::ValidateAll)),
                        _ => Some((i, Action::Start)),
                    };
                }
                // All running: the most overdue monitor, if any is due.
                let (i, due) = self
                    .resources
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i, r.next_monitor_at))
                    .min_by_key(|&(_, at)| at)?;
                (due <= now).then_some((i, Action::Monitor))
            }
        }
    }

    fn issue(&mut self, now: Micros, index: usize, action: Action) {
        assert!(self.in_flight.is_none() && self.outbox.is_none());
        let spec = &self.spec.resources[index];
        let timeout_ms = spec.timeout_ms(action);
        // Every monitor this group issues is a recurring one (it never probes).
        let interval_ms = if action == Action::Monitor { spec.monitor_interval_ms } else { 0 };
        let request = ActionRequest {
            id: self.next_id,
            resource: index,
            action,
            timeout_ms,
            interval_ms,
            generation: self.generation,
        };
        self.next_id += 1;
        let r = &mut self.resources[index];
        match action {
            // From the moment a start or stop may run, the resource is in no known state.
            Action::Start | Action::Stop => {
                r.state = ResourceState::Unknown;
                r.degraded = None;
                r.validated = false;
            }
            Action::Monitor => assert_eq!(r.state, ResourceState::Running),
            Action::ValidateAll => assert_eq!(r.state, ResourceState::Stopped),
        }
        self.in_flight = Some(InFlight { request, backstop_at: now.plus_ms(timeout_ms + RESULT_GRACE_MS) });
        self.outbox = Some(request);
    }

    fn check_invariants(&self) {
        assert_eq!(self.resources.len(), self.spec.resources.len());
        assert!(self.restarts.len() <= self.spec.max_restarts as usize);
        if let Some(f) = self.in_flight {
            assert!(!self.stop_failed, "no action is issued once a stop failed");
            let r = &self.resources[f.request.resource];
            match f.request.action {
                Action::Start | Action::Stop => assert_eq!(r.state, ResourceState::Unknown),
                Action::Monitor => assert_eq!(r.state, ResourceState::Running),
                // Stopped when issued; the end of maintenance may have made it uncertain since.
                Action::ValidateAll => assert_ne!(r.state, ResourceState::Running),
            }
        }
        for r in &self.resources {
            assert!(
                r.degraded.is_none() || r.state == ResourceState::Running,
                "only a running resource is degraded"
            );
            assert!(
                !r.validated
                    || (r.state == ResourceState::Stopped && self.goal == Goal::Run && !self.maintenance),
                "a passed validate-all is for the start that follows it"
            );
        }
        if self.stop_failed {
            assert!(self.resources.iter().any(|r| r.state == ResourceState::Unknown));
        }
        if matches!(self.state(), GroupState::Stopped | GroupState::Failed) {
            assert!(self.is_stopped());
        }
        if self.is_stopped() {
            assert!(!self.stop_failed);
        }
    }
}

#[cfg(test)]
mod tests;
