//! The feed policy.

use super::*;

// ---- Feeder policy ----

fn policy() -> FeedPolicy {
    FeedPolicy {
        core_loop_max_age_ms: 1000,
        links_max_age_ms: 2000,
        journal_max_age_ms: 5000,
        feed_interval_ms: 500,
    }
}

fn fresh(at: Micros) -> HealthStamps {
    HealthStamps { core_loop_at: at, links_serviced_at: at, journal_written_at: at }
}

#[test]
fn feeds_when_everything_is_fresh_and_paces_the_feeding() {
    let now = Micros::from_ms(10_000);
    assert_eq!(decide(&policy(), now, &fresh(now), None, false), FeedDecision::Feed);
    let last = now.minus_us(200_000);
    assert_eq!(
        decide(&policy(), now, &fresh(now), Some(last), false),
        FeedDecision::NotYet { due: last.plus_ms(500) }
    );
    assert_eq!(decide(&policy(), now, &fresh(now), Some(now.minus_us(500_000)), false), FeedDecision::Feed);
}

#[test]
fn a_stale_source_withholds_food_and_is_named() {
    let now = Micros::from_ms(10_000);
    let mut stamps = fresh(now);
    stamps.core_loop_at = now.minus_us(1_001_000);
    let FeedDecision::Withhold(reasons) = decide(&policy(), now, &stamps, None, false) else { panic!() };
    assert_eq!(reasons.as_slice(), &[HoldReason::Stale { source: Source::CoreLoop, age_ms: 1001 }]);

    // Exactly at the bound is still fresh.
    stamps.core_loop_at = now.minus_us(1_000_000);
    assert_eq!(decide(&policy(), now, &stamps, None, false), FeedDecision::Feed);

    let stamps = HealthStamps {
        core_loop_at: now,
        links_serviced_at: now.minus_us(2_500_000),
        journal_written_at: Micros::ZERO,
    };
    let FeedDecision::Withhold(reasons) = decide(&policy(), now, &stamps, Some(now), false) else { panic!() };
    assert_eq!(
        reasons.as_slice(),
        &[
            HoldReason::Stale { source: Source::Links, age_ms: 2500 },
            HoldReason::Stale { source: Source::Journal, age_ms: 10_000 }
        ]
    );
}

#[test]
fn a_self_fence_request_withholds_food_even_when_healthy() {
    let now = Micros::from_ms(10_000);
    let FeedDecision::Withhold(reasons) = decide(&policy(), now, &fresh(now), None, true) else { panic!() };
    assert_eq!(reasons.as_slice(), &[HoldReason::SelfFence]);
}

#[test]
fn default_policy_feeds_well_within_the_timeout() {
    let p = FeedPolicy::for_timeout(10);
    assert_eq!(p.feed_interval_ms, 2500);
    assert!(p.core_loop_max_age_ms < 10_000);
}
