//! The hardware watchdog's feed policy (rule N3), a pure function: feed only when every
//! health source is fresh (the core's loop ran, the links were serviced, the journal was
//! written recently) and no self-fence is requested.
//!
//! It does not own the device (that is `ha-agent`'s `devices::watchdog`, which re-exports this
//! module), does not decide when to self-fence (the core does) and does not read the clock: the
//! shell passes `now` and the health timestamps.

#![forbid(unsafe_code)]

use crate::time::Micros;

// ---- Feed policy (pure) ----

/// A health source the feeder depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The core's loop completed an iteration.
    CoreLoop,
    /// The links were serviced (sent and polled).
    Links,
    /// The journal accepted a write.
    Journal,
}

/// When each health source last proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthStamps {
    pub core_loop_at: Micros,
    pub links_serviced_at: Micros,
    pub journal_written_at: Micros,
}

/// Freshness bounds and feeding rhythm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedPolicy {
    pub core_loop_max_age_ms: u64,
    pub links_max_age_ms: u64,
    pub journal_max_age_ms: u64,
    /// Feed at most this often (the driver needs nothing faster).
    pub feed_interval_ms: u64,
}

impl FeedPolicy {
    /// Defaults for a watchdog of `timeout_s`: feed four times per timeout; every source must
    /// have proved itself within half the timeout.
    pub fn for_timeout(timeout_s: u32) -> FeedPolicy {
        let timeout_ms = u64::from(timeout_s) * 1000;
        FeedPolicy {
            core_loop_max_age_ms: timeout_ms / 2,
            links_max_age_ms: timeout_ms / 2,
            journal_max_age_ms: timeout_ms / 2,
            feed_interval_ms: (timeout_ms / 4).max(1),
        }
    }
}

/// Why the feeder withholds food.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReason {
    SelfFence,
    Stale { source: Source, age_ms: u64 },
}

/// Bound on hold reasons: self-fence plus one per source.
pub const MAX_HOLD_REASONS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedDecision {
    Feed,
    /// Healthy, but fed recently: next feed due at this instant.
    NotYet {
        due: Micros,
    },
    /// Do not feed; the watchdog will reset the machine if this lasts.
    Withhold(heapless::Vec<HoldReason, MAX_HOLD_REASONS>),
}

/// The feed decision at `now`. A stamp later than `now` counts as fresh (age 0): the shell
/// stamps and decides from one monotonic clock.
pub fn decide(
    policy: &FeedPolicy,
    now: Micros,
    stamps: &HealthStamps,
    last_fed_at: Option<Micros>,
    self_fence_requested: bool,
) -> FeedDecision {
    let mut reasons: heapless::Vec<HoldReason, MAX_HOLD_REASONS> = heapless::Vec::new();
    if self_fence_requested {
        let _ = reasons.push(HoldReason::SelfFence);
    }
    for (source, at, max_ms) in [
        (Source::CoreLoop, stamps.core_loop_at, policy.core_loop_max_age_ms),
        (Source::Links, stamps.links_serviced_at, policy.links_max_age_ms),
        (Source::Journal, stamps.journal_written_at, policy.journal_max_age_ms),
    ] {
        let age_ms = now.since_us(at) / 1000;
        if age_ms > max_ms {
            let _ = reasons.push(HoldReason::Stale { source, age_ms });
        }
    }
    if !reasons.is_empty() {
        return FeedDecision::Withhold(reasons);
    }
    match last_fed_at {
        Some(at) if now.since_us(at) < policy.feed_interval_ms * 1000 => {
            FeedDecision::NotYet { due: at.plus_ms(policy.feed_interval_ms) }
        }
        _ => FeedDecision::Feed,
    }
}

#[cfg(test)]
mod tests;
