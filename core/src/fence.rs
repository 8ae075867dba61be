//! The fence procedure, as mature fence agents do it, and the relay health check.
//!
//! Owns [`FenceProcedure`], a sans-I/O state machine: it is given `(now, result of the last
//! step)` and answers the next step (read the state, command off or on, wait until an instant,
//! or done). For a relay board ([`Confirmation::ReadBack`]) the order is: read the state first;
//! command off; wait `settle_ms`; poll the state every `poll_interval_ms` until it reads off or
//! `confirm_timeout_ms` after the command passes. A fence agent ([`Confirmation::ByCommand`])
//! does that procedure itself before it answers, so its off command is the whole fence, as in
//! Pacemaker. The outcome is [`FenceOutcome::Confirmed`] (read back off, or the agent's off
//! succeeded), `Unconfirmed` (the channel cannot read back, the off command was accepted) or
//! `Failed(reason)`. A reboot is a
//! confirmed (or unconfirmed) off, `reboot_delay_ms`, then on; a failed power-on is only
//! reported, never turns the fence into a failure. A power-on ([`FenceAction::On`], fence-agents'
//! `on`) is the same procedure towards on: read, command on, then on a board with read-back
//! poll until it reads on within `confirm_timeout_ms` (after the same settle wait: a relay closes
//! as slowly as it opens); a channel without read-back is done once the
//! command is accepted (`Unconfirmed`). Owns also [`run`], the blocking driver
//! that executes the steps on a [`RelayChannel`] with a [`Clock`] (the process's clock is the
//! agent's `devices::fence::SystemClock`), and [`HealthMonitor`],
//! the pure policy that turns periodic read-state checks into "board stopped answering" /
//! "board answers again" events.
//!
//! It does not decide whether an unconfirmed fence may be trusted (the witness's
//! configuration does), and it never fences on its own.

#![forbid(unsafe_code)]

use crate::relay::{RelayChannel, RelayError, RelayState};
use crate::time::Micros;

/// Bound on state polls in one fence, whatever the timeouts say.
pub const MAX_POLLS: u32 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceAction {
    Off,
    Reboot,
    /// Not a fence: power on, confirmed like an off (fence-agents' `on`).
    On,
}

impl FenceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Off => "off",
            FenceAction::Reboot => "reboot",
            FenceAction::On => "on",
        }
    }

    /// The state the switching part drives the relay to: on for `On`, off for the others.
    pub fn target(self) -> RelayState {
        match self {
            FenceAction::On => RelayState::On,
            FenceAction::Off | FenceAction::Reboot => RelayState::Off,
        }
    }
}

/// Timing of a fence; the defaults follow fence-agents' `power_wait` / `power_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceOptions {
    /// Timeout of each single exchange with the board.
    pub exchange_timeout_ms: u64,
    /// Wait after the off command before the first poll.
    pub settle_ms: u64,
    /// Interval between polls.
    pub poll_interval_ms: u64,
    /// Give up confirming this long after the off command.
    pub confirm_timeout_ms: u64,
    /// Reboot: time between the confirmed off and the on.
    pub reboot_delay_ms: u64,
}

impl Default for FenceOptions {
    fn default() -> FenceOptions {
        FenceOptions {
            exchange_timeout_ms: 1000,
            settle_ms: 500,
            poll_interval_ms: 500,
            confirm_timeout_ms: 20_000,
            reboot_delay_ms: 5000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceOutcome {
    /// The relay was commanded off and read back off.
    Confirmed,
    /// The relay was commanded off and accepted it, but cannot be read back.
    Unconfirmed,
    Failed(String),
}

impl FenceOutcome {
    /// In an operator's words, for the state the relay was driven to: `power on confirmed by
    /// read-back`, `failed: relay still reads off`.
    pub fn words(&self, target: RelayState) -> String {
        match self {
            FenceOutcome::Confirmed => format!("power {target} confirmed by read-back"),
            FenceOutcome::Unconfirmed => format!("power {target} accepted, not confirmed (no read-back)"),
            FenceOutcome::Failed(reason) => format!("failed: {reason}"),
        }
    }
}

/// A fence's outcome in an operator's words: `power off confirmed by read-back`, `failed: relay
/// still reads on`.
impl std::fmt::Display for FenceOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words(RelayState::Off))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceReport {
    pub outcome: FenceOutcome,
    /// State read before the command, if it could be read.
    pub initial: Option<RelayState>,
    /// State polls after the command.
    pub polls: u32,
    /// Reboot only: the result of the power-on (an error is logged, not a failure).
    pub power_on: Option<Result<(), RelayError>>,
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceStep {
    ReadState,
    CommandOff,
    CommandOn,
    WaitUntil(Micros),
    Done(FenceReport),
}

/// What the last step gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepResult {
    State(Result<RelayState, RelayError>),
    Commanded(Result<(), RelayError>),
    Waited,
}

pub use crate::relay::Confirmation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    InitialRead,
    /// The switching command (off, or on for [`FenceAction::On`]) was given.
    Switch,
    Settle,
    Poll,
    PollWait,
    RebootDelay,
    On,
    Finished,
}

/// The fence state machine. Call order: [`FenceProcedure::start`] once, then
/// [`FenceProcedure::step`] with the result of each step until it returns `Done`.
#[derive(Debug)]
pub struct FenceProcedure {
    action: FenceAction,
    options: FenceOptions,
    confirmation: Confirmation,
    phase: Phase,
    initial: Option<RelayState>,
    switch_error: Option<RelayError>,
    switched_at: Micros,
    polls: u32,
    last_poll: Option<Result<RelayState, RelayError>>,
    outcome: Option<FenceOutcome>,
}

impl FenceProcedure {
    /// `confirmation` is [`RelayChannel::confirmation`].
    pub fn new(action: FenceAction, options: FenceOptions, confirmation: Confirmation) -> FenceProcedure {
        assert!(options.poll_interval_ms > 0, "a zero poll interval would spin");
        FenceProcedure {
            action,
            options,
            confirmation,
            phase: Phase::InitialRead,
            initial: None,
            switch_error: None,
            switched_at: Micros::ZERO,
            polls: 0,
            last_poll: None,
            outcome: None,
        }
    }

    pub fn start(&mut self) -> FenceStep {
        assert_eq!(self.phase, Phase::InitialRead);
        if self.confirmation == Confirmation::ReadBack {
            FenceStep::ReadState
        } else {
            self.switch()
        }
    }

    /// Give the switching command towards the action's target.
    fn switch(&mut self) -> FenceStep {
        self.phase = Phase::Switch;
        match self.action.target() {
            RelayState::Off => FenceStep::CommandOff,
            RelayState::On => FenceStep::CommandOn,
        }
    }

    fn report(&mut self, power_on: Option<Result<(), RelayError>>) -> FenceStep {
        self.phase = Phase::Finished;
        FenceStep::Done(FenceReport {
            outcome: self.outcome.clone().expect("outcome set before the report"),
            initial: self.initial,
            polls: self.polls,
            power_on,
        })
    }

    /// Decide after the fence-off part: reboot goes on, off is done.
    fn off_part_done(&mut self, now: Micros, outcome: FenceOutcome) -> FenceStep {
        let failed = matches!(outcome, FenceOutcome::Failed(_));
        self.outcome = Some(outcome);
        if self.action == FenceAction::Reboot && !failed {
            self.phase = Phase::RebootDelay;
            return FenceStep::WaitUntil(now.plus_ms(self.options.reboot_delay_ms));
        }
        self.report(None)
    }

    pub fn step(&mut self, now: Micros, result: StepResult) -> FenceStep {
        match (self.phase, result) {
            (Phase::InitialRead, StepResult::State(r)) => {
                // A failed first read does not stop the fence: the off command may still work
                // and the polls may still confirm it.
                self.initial = r.ok();
                self.switch()
            }
            (Phase::Switch, StepResult::Commanded(r)) => {
                self.switched_at = now;
                self.switch_error = r.err();
                let command = self.action.target();
                match (self.confirmation, &self.switch_error) {
                    // A lost acknowledgement does not mean a lost command: poll anyway.
                    (Confirmation::ReadBack, _) => {}
                    // Nothing to wait for before an unconfirmed power-on.
                    (Confirmation::None, None) if command == RelayState::On => {
                        return self.off_part_done(now, FenceOutcome::Unconfirmed)
                    }
                    (Confirmation::None, None) => {}
                    (_, Some(e)) => {
                        let reason = format!("{command} command failed: {e}");
                        return self.off_part_done(now, FenceOutcome::Failed(reason));
                    }
                    (Confirmation::ByCommand, None) => {
                        return self.off_part_done(now, FenceOutcome::Confirmed)
                    }
                }
                self.phase = Phase::Settle;
                FenceStep::WaitUntil(now.plus_ms(self.options.settle_ms))
            }
            (Phase::Settle, StepResult::Waited) if self.confirmation == Confirmation::None => {
                self.off_part_done(now, FenceOutcome::Unconfirmed)
            }
            (Phase::Settle, StepResult::Waited) | (Phase::PollWait, StepResult::Waited) => {
                self.phase = Phase::Poll;
                FenceStep::ReadState
            }
            (Phase::Poll, StepResult::State(r)) => {
                self.polls += 1;
                let target = self.action.target();
                if r == Ok(target) {
                    return self.off_part_done(now, FenceOutcome::Confirmed);
                }
                self.last_poll = Some(r);
                let confirm_deadline = self.switched_at.plus_ms(self.options.confirm_timeout_ms);
                let next = now.plus_ms(self.options.poll_interval_ms);
                if next > confirm_deadline || self.polls >= MAX_POLLS {
                    let last = match &self.last_poll {
                        Some(Ok(state)) => format!("relay still reads {state}"),
                        Some(Err(e)) => format!("last read failed: {e}"),
                        None => "no read".to_string(),
                    };
                    let command = match &self.switch_error {
                        Some(e) => format!("{target} command failed ({e}); "),
                        None => String::new(),
                    };
                    let reason = format!(
                        "{command}{last} {} ms after the {target} command ({} polls)",
                        now.since_us(self.switched_at) / 1000,
                        self.polls
                    );
                    return self.off_part_done(now, FenceOutcome::Failed(reason));
                }
                self.phase = Phase::PollWait;
                FenceStep::WaitUntil(next)
            }
            (Phase::RebootDelay, StepResult::Waited) => {
                self.phase = Phase::On;
                FenceStep::CommandOn
            }
            (Phase::On, StepResult::Commanded(r)) => {
                if let Err(e) = &r {
                    log::warn!("fence reboot: power on after the fence failed: {e}");
                }
                self.report(Some(r))
            }
            (phase, result) => {
                panic!("fence procedure: {result:?} does not answer the step of phase {phase:?}")
            }
        }
    }
}

/// The clock of the blocking driver: real time in the agent, virtual time in tests.
pub trait Clock {
    fn now(&mut self) -> Micros;
    fn sleep_until(&mut self, t: Micros);
}

/// Run a fence to completion on `channel`. Blocking; bounded by the options (each exchange by
/// `exchange_timeout_ms`, the polls by `confirm_timeout_ms` and [`MAX_POLLS`]).
pub fn run(
    channel: &mut dyn RelayChannel,
    action: FenceAction,
    options: FenceOptions,
    clock: &mut dyn Clock,
) -> FenceReport {
    let mut procedure = FenceProcedure::new(action, options, channel.confirmation());
    let mut step = procedure.start();
    loop {
        let result = match step {
            FenceStep::Done(report) => {
                let words = report.outcome.words(action.target());
                log::info!("fence ({}) via {}: {}", action.as_str(), channel.describe(), words);
                return report;
            }
            FenceStep::ReadState => StepResult::State(channel.read_state(options.exchange_timeout_ms)),
            FenceStep::CommandOff => StepResult::Commanded(channel.power_off(options.exchange_timeout_ms)),
            FenceStep::CommandOn => StepResult::Commanded(channel.power_on(options.exchange_timeout_ms)),
            FenceStep::WaitUntil(t) => {
                clock.sleep_until(t);
                StepResult::Waited
            }
        };
        step = procedure.step(clock.now(), result);
    }
}

/// Event of the relay health check (the shell turns them into log lines and traps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// The board failed `failures` checks in a row; the last error says how.
    StoppedAnswering { failures: u32, error: RelayError },
    /// The board answers again after having stopped.
    AnswersAgain { state: RelayState },
}

/// Pure policy of the periodic health check: one read-state every `interval_ms`; an alarm after
/// `failures_before_alarm` consecutive failures (one lost answer on a serial line is not yet
/// a broken fence device), cleared by the next success. Channels without read-back are not
/// checked (`read_state` is meaningless for them).
#[derive(Debug)]
pub struct HealthMonitor {
    interval_ms: u64,
    failures_before_alarm: u32,
    consecutive_failures: u32,
    alarmed: bool,
    next_check: Micros,
}

impl HealthMonitor {
    pub fn new(now: Micros, interval_ms: u64, failures_before_alarm: u32) -> HealthMonitor {
        assert!(interval_ms > 0 && failures_before_alarm > 0);
        HealthMonitor {
            interval_ms,
            failures_before_alarm,
            consecutive_failures: 0,
            alarmed: false,
            next_check: now,
        }
    }

    /// When the next check is due.
    pub fn next_check(&self) -> Micros {
        self.next_check
    }

    pub fn is_alarmed(&self) -> bool {
        self.alarmed
    }

    /// Record the result of a check made at `now`.
    #[must_use]
    pub fn on_check(&mut self, now: Micros, result: Result<RelayState, RelayError>) -> Option<HealthEvent> {
        self.next_check = now.plus_ms(self.interval_ms);
        match result {
            Ok(state) => {
                self.consecutive_failures = 0;
                if self.alarmed {
                    self.alarmed = false;
                    return Some(HealthEvent::AnswersAgain { state });
                }
                None
            }
            Err(error) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if !self.alarmed && self.consecutive_failures >= self.failures_before_alarm {
                    self.alarmed = true;
                    return Some(HealthEvent::StoppedAnswering {
                        failures: self.consecutive_failures,
                        error,
                    });
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
