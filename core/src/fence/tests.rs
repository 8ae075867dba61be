//! Fence procedure and health monitor against a scripted relay on a virtual clock.

use super::*;
use crate::relay::ReplyError;

/// A relay whose behaviour is scripted; time only moves through the clock.
struct FakeRelay {
    state: RelayState,
    read_back: bool,
    /// A fence agent: its off succeeds only once it read the device off itself.
    by_command: bool,
    /// The relay ignores commands (contacts welded).
    stuck: bool,
    /// Reads fail with a timeout.
    mute_reads: bool,
    off_error: Option<RelayError>,
    on_error: Option<RelayError>,
    /// Reads report the old state for this many reads after a command (slow relay).
    lag_reads: u32,
    pending: Option<RelayState>,
    log: Vec<&'static str>,
}

impl FakeRelay {
    fn new(read_back: bool) -> FakeRelay {
        FakeRelay {
            state: RelayState::On,
            read_back,
            by_command: false,
            stuck: false,
            mute_reads: false,
            off_error: None,
            on_error: None,
            lag_reads: 0,
            pending: None,
            log: Vec::new(),
        }
    }
    /// A fence agent: it can read status, and its off confirms by itself.
    fn fence_agent() -> FakeRelay {
        FakeRelay { by_command: true, ..FakeRelay::new(true) }
    }
    fn command(&mut self, to: RelayState) {
        if !self.stuck {
            if self.lag_reads > 0 {
                self.pending = Some(to);
            } else {
                self.state = to;
            }
        }
    }
}

impl RelayChannel for FakeRelay {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn can_read_back(&self) -> bool {
        self.read_back
    }
    fn confirmation(&self) -> Confirmation {
        match (self.by_command, self.read_back) {
            (true, _) => Confirmation::ByCommand,
            (false, true) => Confirmation::ReadBack,
            (false, false) => Confirmation::None,
        }
    }
    fn power_off(&mut self, _t: u64) -> Result<(), RelayError> {
        self.log.push("off");
        self.command(RelayState::Off);
        self.off_error.clone().map_or(Ok(()), Err)
    }
    fn power_on(&mut self, _t: u64) -> Result<(), RelayError> {
        self.log.push("on");
        self.command(RelayState::On);
        self.on_error.clone().map_or(Ok(()), Err)
    }
    fn read_state(&mut self, _t: u64) -> Result<RelayState, RelayError> {
        self.log.push("read");
        if !self.read_back {
            return Err(RelayError::NoReadback);
        }
        if self.mute_reads {
            return Err(RelayError::Timeout { after_ms: 100, received: 0 });
        }
        if let Some(p) = self.pending {
            if self.lag_reads == 0 {
                self.state = p;
                self.pending = None;
            } else {
                self.lag_reads -= 1;
            }
        }
        Ok(self.state)
    }
}

struct VirtualClock(Micros);
impl Clock for VirtualClock {
    fn now(&mut self) -> Micros {
        self.0
    }
    fn sleep_until(&mut self, t: Micros) {
        assert!(t >= self.0, "the procedure never waits for the past");
        self.0 = t;
    }
}

fn options() -> FenceOptions {
    FenceOptions {
        exchange_timeout_ms: 100,
        settle_ms: 200,
        poll_interval_ms: 100,
        confirm_timeout_ms: 1000,
        reboot_delay_ms: 3000,
    }
}

#[test]
fn a_working_relay_is_confirmed_off_after_read_off_read() {
    let mut relay = FakeRelay::new(true);
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::Off, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(report.initial, Some(RelayState::On));
    assert_eq!(relay.log, ["read", "off", "read"]);
    assert_eq!(clock.0, Micros::from_ms(200), "one settle wait, no more");
    assert_eq!(relay.state, RelayState::Off);
}

#[test]
fn a_stuck_relay_fails_after_the_confirm_timeout() {
    let mut relay = FakeRelay::new(true);
    relay.stuck = true;
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::Reboot, options(), &mut clock);
    let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{report:?}") };
    assert!(reason.contains("still reads on"), "{reason}");
    assert!(clock.0 <= Micros::from_ms(1000), "gave up by the confirm timeout, at {}", clock.0);
    assert!(report.polls >= 8, "kept polling: {}", report.polls);
    assert!(!relay.log.contains(&"on"), "a failed fence does not power on");
}

#[test]
fn a_slow_relay_is_confirmed_by_a_later_poll() {
    let mut relay = FakeRelay::new(true);
    relay.lag_reads = 3;
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::Off, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(report.polls, 4);
}

#[test]
fn without_read_back_the_fence_is_unconfirmed_and_never_reads() {
    let mut relay = FakeRelay::new(false);
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::Off, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Unconfirmed);
    assert_eq!(relay.log, ["off"]);
    assert_eq!(report.initial, None);
}

#[test]
fn without_read_back_a_failed_command_is_a_failure() {
    let mut relay = FakeRelay::new(false);
    relay.off_error = Some(RelayError::Io("gone".into()));
    let report = run(&mut relay, FenceAction::Off, options(), &mut VirtualClock(Micros::ZERO));
    assert!(matches!(report.outcome, FenceOutcome::Failed(ref r) if r.contains("gone")));
}

#[test]
fn a_fence_agent_is_one_off_command_and_its_success_confirms() {
    let mut relay = FakeRelay::fence_agent();
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::Off, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(relay.log, ["off"], "no read before or after: the agent reads the device itself");
    assert_eq!(clock.0, Micros::ZERO, "no settle wait");
    assert_eq!((report.initial, report.polls), (None, 0));

    let mut relay = FakeRelay::fence_agent();
    let report = run(&mut relay, FenceAction::Reboot, options(), &mut VirtualClock(Micros::ZERO));
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(relay.log, ["off", "on"]);
}

#[test]
fn a_fence_agent_that_fails_is_a_failed_fence_never_read_back() {
    let mut relay = FakeRelay::fence_agent();
    relay.off_error = Some(RelayError::Reply(ReplyError::DeviceError("exited 1: still on".into())));
    let report = run(&mut relay, FenceAction::Reboot, options(), &mut VirtualClock(Micros::ZERO));
    let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{report:?}") };
    assert!(reason.contains("off command failed") && reason.contains("still on"), "{reason}");
    assert_eq!(relay.log, ["off"], "a failed fence is not read back as a success, nor powered on");
}

#[test]
fn a_lost_acknowledgement_is_still_confirmed_by_read_back() {
    let mut relay = FakeRelay::new(true);
    relay.off_error = Some(RelayError::Timeout { after_ms: 100, received: 0 });
    let report = run(&mut relay, FenceAction::Off, options(), &mut VirtualClock(Micros::ZERO));
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
}

#[test]
fn a_mute_board_fails_with_the_last_error() {
    let mut relay = FakeRelay::new(true);
    relay.mute_reads = true;
    relay.stuck = true;
    let report = run(&mut relay, FenceAction::Off, options(), &mut VirtualClock(Micros::ZERO));
    let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{report:?}") };
    assert!(reason.contains("no answer"), "{reason}");
    assert_eq!(report.initial, None);
}

#[test]
fn reboot_is_confirmed_off_delay_on_and_a_failed_on_is_only_reported() {
    let mut relay = FakeRelay::new(true);
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::Reboot, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(relay.log, ["read", "off", "read", "on"]);
    assert_eq!(clock.0, Micros::from_ms(200 + 3000));
    assert_eq!(report.power_on, Some(Ok(())));
    assert_eq!(relay.state, RelayState::On);

    let mut relay = FakeRelay::new(true);
    relay.on_error = Some(RelayError::Reply(ReplyError::DeviceError("x".into())));
    let report = run(&mut relay, FenceAction::Reboot, options(), &mut VirtualClock(Micros::ZERO));
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert!(matches!(report.power_on, Some(Err(_))));
}

#[test]
#[should_panic(expected = "does not answer the step")]
fn a_result_for_another_step_is_a_bug() {
    let mut p = FenceProcedure::new(FenceAction::Off, options(), Confirmation::ReadBack);
    let _ = p.start();
    let _ = p.step(Micros::ZERO, StepResult::Waited);
}

#[test]
fn health_monitor_alarms_once_after_consecutive_failures_and_clears() {
    let timeout = || Err(RelayError::Timeout { after_ms: 100, received: 0 });
    let mut h = HealthMonitor::new(Micros::ZERO, 60_000, 2);
    assert_eq!(h.next_check(), Micros::ZERO);
    assert_eq!(h.on_check(Micros::ZERO, Ok(RelayState::On)), None);
    assert_eq!(h.next_check(), Micros::from_ms(60_000));
    assert_eq!(h.on_check(Micros::from_ms(60_000), timeout()), None, "one lost answer is not an alarm");
    assert_eq!(h.on_check(Micros::from_ms(120_000), Ok(RelayState::On)), None);
    assert_eq!(h.on_check(Micros::from_ms(180_000), timeout()), None);
    assert!(matches!(
        h.on_check(Micros::from_ms(240_000), timeout()),
        Some(HealthEvent::StoppedAnswering { failures: 2, .. })
    ));
    assert!(h.is_alarmed());
    assert_eq!(h.on_check(Micros::from_ms(300_000), timeout()), None, "alarm is raised once");
    assert_eq!(
        h.on_check(Micros::from_ms(360_000), Ok(RelayState::Off)),
        Some(HealthEvent::AnswersAgain { state: RelayState::Off })
    );
    assert!(!h.is_alarmed());
}

fn switched_off() -> FakeRelay {
    FakeRelay { state: RelayState::Off, ..FakeRelay::new(true) }
}

#[test]
fn a_power_on_is_confirmed_when_the_relay_reads_on() {
    let mut relay = switched_off();
    relay.lag_reads = 2;
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::On, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(report.outcome.words(FenceAction::On.target()), "power on confirmed by read-back");
    assert_eq!(report.initial, Some(RelayState::Off));
    assert_eq!(relay.log, ["read", "on", "read", "read", "read"], "polled until it read on");
    assert_eq!(report.power_on, None, "a power-on is the switching part itself, not a reboot's tail");
    assert_eq!(relay.state, RelayState::On);
}

#[test]
fn a_power_on_that_never_reads_on_fails_by_the_confirm_timeout() {
    let mut relay = switched_off();
    relay.stuck = true;
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::On, options(), &mut clock);
    let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{report:?}") };
    assert!(reason.contains("still reads off") && reason.contains("after the on command"), "{reason}");
    assert!(clock.0 <= Micros::from_ms(1000), "gave up by the confirm timeout, at {}", clock.0);
    assert!(!relay.log.contains(&"off"), "a power-on never switches off: {:?}", relay.log);
}

#[test]
fn a_power_on_without_read_back_is_accepted_unconfirmed_at_once() {
    let mut relay = FakeRelay { state: RelayState::Off, ..FakeRelay::new(false) };
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::On, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Unconfirmed);
    assert_eq!(relay.log, ["on"]);
    assert_eq!(clock.0, Micros::ZERO, "nothing to wait for without read-back");

    let mut refusing = FakeRelay { on_error: Some(RelayError::NoReadback), ..FakeRelay::new(false) };
    let report = run(&mut refusing, FenceAction::On, options(), &mut clock);
    let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{report:?}") };
    assert!(reason.starts_with("on command failed"), "{reason}");
}

#[test]
fn a_fence_agents_power_on_is_its_own_confirmation() {
    let mut relay = FakeRelay { state: RelayState::Off, ..FakeRelay::fence_agent() };
    let mut clock = VirtualClock(Micros::ZERO);
    let report = run(&mut relay, FenceAction::On, options(), &mut clock);
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(relay.log, ["on"], "the agent polls by itself before it answers");
}
