//! Fence decisions: when to ask the relay to power a node off again, and what a result means.
//!
//! Owns retries with exponential backoff and the interpretation of results (a confirmed off
//! fences; an unconfirmed one fences only where the configuration trusts it; a failure is
//! retried). It does not drive relays (the shell does, through the relay drivers) and does not
//! decide whom to fence (the witness does).

#![forbid(unsafe_code)]

use crate::time::Micros;

/// What the relay driver reported for a power-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceResult {
    /// Commanded off and read back off.
    Confirmed,
    /// Commanded off, but the board cannot be read back.
    Unconfirmed,
    /// No answer, wrong answer, or it still reads on.
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceConfig {
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Count an unconfirmed power-off as a fence (only for boards wired so that it is safe).
    pub trust_unconfirmed: bool,
}

impl Default for FenceConfig {
    fn default() -> Self {
        FenceConfig { retry_initial_ms: 1000, retry_max_ms: 30_000, trust_unconfirmed: false }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// The shell should send the power-off now.
    Due,
    InFlight,
    Backoff {
        until: Micros,
    },
}

/// The fence procedure for one target at a time.
#[derive(Clone, Debug)]
pub struct Fencer {
    config: FenceConfig,
    target: u8,
    state: State,
    attempts: u32,
    backoff_ms: u64,
    /// Cancelled while a request was in flight: its result is still heard (a confirmed off
    /// is not lost), but a failure is not retried.
    cancelled: bool,
}

/// What a result means for the witness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The target is off: it can no longer run resources.
    Fenced,
    /// Not fenced; a retry is scheduled.
    Retry { unconfirmed: bool },
    /// A result for a request we no longer track.
    Ignored,
}

impl Fencer {
    pub fn new(config: FenceConfig) -> Fencer {
        assert!(config.retry_initial_ms > 0 && config.retry_max_ms >= config.retry_initial_ms);
        Fencer {
            config,
            target: 0,
            state: State::Idle,
            attempts: 0,
            backoff_ms: config.retry_initial_ms,
            cancelled: false,
        }
    }

    pub fn target(&self) -> Option<u8> {
        (self.state != State::Idle).then_some(self.target)
    }
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    pub fn in_flight(&self) -> bool {
        self.state == State::InFlight
    }

    /// Start fencing `node` unless already doing so.
    pub fn request(&mut self, node: u8) {
        if self.state != State::Idle && self.target == node {
            self.cancelled = false;
            return;
        }
        assert!(self.state == State::Idle || self.state != State::InFlight, "one fence at a time");
        self.target = node;
        self.state = State::Due;
        self.cancelled = false;
        self.attempts = 0;
        self.backoff_ms = self.config.retry_initial_ms;
    }

    /// Stop retrying (the target came back, or it was released otherwise). A request in
    /// flight stays tracked until its result arrives, so its outcome is not lost; if it
    /// failed, it is not tried again.
    pub fn cancel(&mut self) {
        if self.state == State::InFlight {
            self.cancelled = true;
        } else {
            self.state = State::Idle;
        }
    }

    /// The power-off to send now, if one is due.
    pub fn poll_power_off(&mut self, now: Micros) -> Option<u8> {
        if let State::Backoff { until } = self.state {
            if now >= until {
                self.state = State::Due;
            }
        }
        if self.state == State::Due {
            self.state = State::InFlight;
            self.attempts += 1;
            return Some(self.target);
        }
        None
    }

    pub fn handle_result(&mut self, now: Micros, node: u8, result: FenceResult) -> Verdict {
        if self.state != State::InFlight || node != self.target {
            return Verdict::Ignored;
        }
        let fenced = match result {
            FenceResult::Confirmed => true,
            FenceResult::Unconfirmed => self.config.trust_unconfirmed,
            FenceResult::Failed => false,
        };
        if fenced {
            self.state = State::Idle;
            return Verdict::Fenced;
        }
        if std::mem::take(&mut self.cancelled) {
            self.state = State::Idle;
            return Verdict::Ignored;
        }
        self.state = State::Backoff { until: now.plus_ms(self.backoff_ms) };
        self.backoff_ms = (self.backoff_ms * 2).min(self.config.retry_max_ms);
        Verdict::Retry { unconfirmed: result == FenceResult::Unconfirmed }
    }

    pub fn poll_timeout(&self) -> Micros {
        match self.state {
            State::Backoff { until } => until,
            State::Due => Micros::ZERO,
            State::Idle | State::InFlight => Micros::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w2_a_fence_cancelled_in_flight_keeps_a_confirmed_result_but_does_not_retry_a_failure() {
        let mut f = Fencer::new(FenceConfig::default());
        f.request(2);
        assert_eq!(f.poll_power_off(Micros::ZERO), Some(2));
        f.cancel();
        assert_eq!(f.target(), Some(2), "its result is still awaited");
        assert_eq!(f.handle_result(Micros::ZERO, 2, FenceResult::Failed), Verdict::Ignored);
        assert_eq!(f.target(), None, "a released node is not fenced again");
        assert_eq!(f.poll_timeout(), Micros::MAX);

        f.request(3);
        assert_eq!(f.poll_power_off(Micros::ZERO), Some(3));
        f.cancel();
        assert_eq!(f.handle_result(Micros::ZERO, 3, FenceResult::Confirmed), Verdict::Fenced);

        f.request(2);
        assert_eq!(f.poll_power_off(Micros::ZERO), Some(2));
        f.cancel();
        f.request(2);
        assert_eq!(
            f.handle_result(Micros::ZERO, 2, FenceResult::Failed),
            Verdict::Retry { unconfirmed: false }
        );
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_bound_then_succeed() {
        let mut f =
            Fencer::new(FenceConfig { retry_initial_ms: 1000, retry_max_ms: 4000, trust_unconfirmed: false });
        f.request(2);
        let mut now = Micros::ZERO;
        assert_eq!(f.poll_power_off(now), Some(2));
        assert_eq!(f.poll_power_off(now), None, "one request in flight at a time");
        let mut waits = std::vec::Vec::new();
        for _ in 0..4 {
            assert_eq!(f.handle_result(now, 2, FenceResult::Failed), Verdict::Retry { unconfirmed: false });
            let next = f.poll_timeout();
            waits.push(next.since_us(now) / 1000);
            now = next;
            assert_eq!(f.poll_power_off(now), Some(2));
        }
        assert_eq!(waits, [1000, 2000, 4000, 4000]);
        assert_eq!(f.attempts(), 5);
        assert_eq!(f.handle_result(now, 2, FenceResult::Confirmed), Verdict::Fenced);
        assert_eq!(f.target(), None);
    }

    #[test]
    fn unconfirmed_counts_only_when_trusted() {
        let mut strict = Fencer::new(FenceConfig::default());
        strict.request(3);
        strict.poll_power_off(Micros::ZERO);
        assert_eq!(
            strict.handle_result(Micros::ZERO, 3, FenceResult::Unconfirmed),
            Verdict::Retry { unconfirmed: true }
        );
        let mut trusting = Fencer::new(FenceConfig { trust_unconfirmed: true, ..FenceConfig::default() });
        trusting.request(3);
        trusting.poll_power_off(Micros::ZERO);
        assert_eq!(trusting.handle_result(Micros::ZERO, 3, FenceResult::Unconfirmed), Verdict::Fenced);
    }

    #[test]
    fn stray_results_are_ignored_and_cancel_keeps_an_in_flight_request() {
        let mut f = Fencer::new(FenceConfig::default());
        assert_eq!(f.handle_result(Micros::ZERO, 2, FenceResult::Confirmed), Verdict::Ignored);
        f.request(2);
        f.poll_power_off(Micros::ZERO);
        f.cancel();
        assert_eq!(f.handle_result(Micros::ZERO, 3, FenceResult::Confirmed), Verdict::Ignored);
        assert_eq!(f.handle_result(Micros::ZERO, 2, FenceResult::Confirmed), Verdict::Fenced);
    }
}
