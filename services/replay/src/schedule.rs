//! When a failed delivery is tried again: exponential backoff with full jitter, or a provider's
//! documented schedule for a delivery made with `retryLike`.

use std::time::Duration;

use hookmetry_core::{RetryLike, Timestamp};
use hookmetry_samples::retry;
use rand::Rng;

use crate::SettingError;

/// The retry schedule of a delivery (`replay.retry_initial`, `replay.retry_max_delay`,
/// `replay.max_attempts`).
///
/// The wait before attempt `n + 1`, after `n` attempts failed, is drawn uniformly from
/// `[0, min(max_delay, initial * 2^(n-1))]` ("full jitter"): the bound doubles with every failure
/// up to `max_delay`, and the draw spreads the retries of many deliveries that failed together
/// (a receiver that was down for a minute) instead of sending them back in one burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// `replay.retry_initial`: the bound of the wait after the first failure.
    pub initial: Duration,
    /// `replay.retry_max_delay`: the bound never grows past this.
    pub max_delay: Duration,
    /// `replay.max_attempts`: attempts in all, the first one included. After the last one fails
    /// the delivery is dead-lettered.
    pub max_attempts: u32,
}

/// Longest `replay.retry_initial` accepted: a first retry an hour out is already a schedule for
/// a receiver that is down, not one that hiccuped.
const MAX_INITIAL: Duration = Duration::from_secs(3600);
/// Longest `replay.retry_max_delay` accepted.
const MAX_MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most `replay.max_attempts` accepted: every attempt is kept, so the count bounds storage too.
const MAX_ATTEMPTS: u32 = 100;

impl RetrySchedule {
    /// Checks the values as configured; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        if self.initial.is_zero() {
            return Err(SettingError::new("replay.retry_initial", "must be more than 0s, such as 1s"));
        }
        if self.initial > MAX_INITIAL {
            return Err(SettingError::new(
                "replay.retry_initial",
                format!("is {}; it can be at most {}", human(self.initial), human(MAX_INITIAL)),
            ));
        }
        if self.max_delay < self.initial {
            return Err(SettingError::new(
                "replay.retry_max_delay",
                format!(
                    "is {}, less than replay.retry_initial ({}); it must be at least that",
                    human(self.max_delay),
                    human(self.initial)
                ),
            ));
        }
        if self.max_delay > MAX_MAX_DELAY {
            return Err(SettingError::new(
                "replay.retry_max_delay",
                format!("is {}; it can be at most {}", human(self.max_delay), human(MAX_MAX_DELAY)),
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(SettingError::new(
                "replay.max_attempts",
                format!("is {}; it must be between 1 and {MAX_ATTEMPTS}", self.max_attempts),
            ));
        }
        Ok(())
    }

    /// The upper bound of the wait after `attempts_made` failed attempts (at least 1):
    /// `min(max_delay, initial * 2^(attempts_made - 1))`, without overflowing.
    pub fn bound(&self, attempts_made: u32) -> Duration {
        let doublings = attempts_made.saturating_sub(1);
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.initial.checked_mul(factor).map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// When the next attempt is due, given that `attempts_made` attempts failed so far and the
    /// last one ended at `now`; `None` once the schedule is exhausted (the delivery is
    /// dead-lettered). With no attempt made yet the first one is due at `now`.
    pub fn next_attempt_at(&self, now: Timestamp, attempts_made: u32, rng: &mut impl Rng) -> Option<Timestamp> {
        if attempts_made >= self.max_attempts {
            return None;
        }
        if attempts_made == 0 {
            return Some(now);
        }
        let bound = u64::try_from(self.bound(attempts_made).as_micros()).unwrap_or(u64::MAX);
        let wait = rng.random_range(0..=bound);
        let wait = i64::try_from(wait).unwrap_or(i64::MAX);
        Some(Timestamp::from_micros(now.micros().saturating_add(wait)))
    }
}

/// A provider's whole schedule is compressed into this by default, as `hookmetry trigger
/// --retry-like` does, so a replay with `retryLike` and no speed finishes in about a minute.
const RETRY_LIKE_BUDGET: Duration = Duration::from_secs(60);
/// Most a `retryLike` speed can be: every wait is under a millisecond long before.
pub const MAX_RETRY_SPEED: u32 = 1_000_000_000;

/// Checks a `retryLike` provider and speed as asked for; the error is a sentence about the one
/// that is wrong, and says which (`Err((field, message))`). The speed defaults to the one that
/// fits the provider's whole schedule into about a minute.
pub fn retry_like(provider: &str, speed: Option<i64>) -> Result<RetryLike, (&'static str, String)> {
    let provider = provider.trim();
    let profile = retry::profile(provider).ok_or_else(|| {
        let known: Vec<_> = retry::profiles().iter().map(|p| p.id).collect();
        ("retryLike", format!("`{provider}` has no retry profile; known: {}", known.join(", ")))
    })?;
    let speed = match speed {
        None => retry::speed_to_fit(profile, RETRY_LIKE_BUDGET).ceil() as u32,
        Some(s) if (1..=i64::from(MAX_RETRY_SPEED)).contains(&s) => s as u32,
        Some(s) => {
            return Err(("retrySpeed", format!("must be 1 (real time) to {MAX_RETRY_SPEED}, got {s}")));
        }
    };
    Ok(RetryLike { provider: profile.id.to_owned(), speed })
}

/// Attempts in all (the first included) of a delivery retrying like `r`: the provider's retries
/// plus one; `None` when the provider has no profile (any more).
pub fn retry_like_attempts(r: &RetryLike) -> Option<u32> {
    retry::profile(&r.provider).map(|p| p.max_retries() + 1)
}

/// When the next attempt of a delivery retrying like `r` is due, after `attempts_made` attempts
/// failed and the last one ended at `now`: the provider's wait before that retry divided by the
/// speed, without jitter (the point is to reproduce the provider). `None` once the provider would
/// give up; with no attempt made yet, `now`.
pub fn retry_like_next_attempt_at(r: &RetryLike, now: Timestamp, attempts_made: u32) -> Option<Timestamp> {
    if attempts_made == 0 {
        return Some(now);
    }
    let profile = retry::profile(&r.provider)?;
    let wait = retry::scaled(profile.delay_before(attempts_made)?, f64::from(r.speed));
    let wait = i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
    Some(Timestamp::from_micros(now.micros().saturating_add(wait)))
}

/// Durations in messages, written as in config.
pub(crate) use hookmetry_egress::human_duration as human;

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const NOW: Timestamp = Timestamp(1_795_762_508_000_000);

    fn schedule(initial_ms: u64, max_delay_ms: u64, max_attempts: u32) -> RetrySchedule {
        RetrySchedule {
            initial: Duration::from_millis(initial_ms),
            max_delay: Duration::from_millis(max_delay_ms),
            max_attempts,
        }
    }

    fn wait_us(s: &RetrySchedule, attempts_made: u32, rng: &mut StdRng) -> i64 {
        s.next_attempt_at(NOW, attempts_made, rng).unwrap().micros() - NOW.micros()
    }

    #[test]
    fn the_first_attempt_is_due_now() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(schedule(1000, 60_000, 5).next_attempt_at(NOW, 0, &mut rng), Some(NOW));
    }

    #[test]
    fn every_wait_stays_within_its_doubling_bound() {
        let s = schedule(1000, 3_600_000, 12);
        let mut rng = StdRng::seed_from_u64(7);
        for attempts_made in 1..12 {
            let bound_us = 1_000_000i64 << (attempts_made - 1);
            assert_eq!(s.bound(attempts_made).as_micros() as i64, bound_us);
            for _ in 0..500 {
                let wait = wait_us(&s, attempts_made, &mut rng);
                assert!((0..=bound_us).contains(&wait), "attempt {attempts_made}: waited {wait}us");
            }
        }
    }

    #[test]
    fn the_bound_stops_growing_at_max_delay() {
        let s = schedule(1000, 10_000, 100);
        assert_eq!(s.bound(1), Duration::from_secs(1));
        assert_eq!(s.bound(4), Duration::from_secs(8));
        assert_eq!(s.bound(5), Duration::from_secs(10));
        // 2^(n-1) overflows u32 and the Duration multiplication long before this.
        assert_eq!(s.bound(99), Duration::from_secs(10));
        assert_eq!(s.bound(u32::MAX), Duration::from_secs(10));
        let mut rng = StdRng::seed_from_u64(3);
        let mut max_seen = 0;
        for attempts_made in 5..100 {
            for _ in 0..50 {
                let wait = wait_us(&s, attempts_made, &mut rng);
                assert!((0..=10_000_000).contains(&wait), "attempt {attempts_made}: waited {wait}us");
                max_seen = max_seen.max(wait);
            }
        }
        // Capped, not collapsed: the draws still reach near the cap.
        assert!(max_seen > 9_000_000, "largest wait {max_seen}us");
    }

    #[test]
    fn the_schedule_is_exhausted_after_max_attempts() {
        let s = schedule(1000, 60_000, 3);
        let mut rng = StdRng::seed_from_u64(5);
        assert!(s.next_attempt_at(NOW, 1, &mut rng).is_some());
        assert!(s.next_attempt_at(NOW, 2, &mut rng).is_some());
        assert_eq!(s.next_attempt_at(NOW, 3, &mut rng), None);
        assert_eq!(s.next_attempt_at(NOW, 4, &mut rng), None);
        // A single attempt means no retry at all.
        assert_eq!(schedule(1000, 60_000, 1).next_attempt_at(NOW, 1, &mut rng), None);
    }

    #[test]
    fn the_jitter_spreads_over_the_whole_range() {
        let s = schedule(1000, 60_000, 10);
        let mut rng = StdRng::seed_from_u64(11);
        // Third retry: bound 4s. Ten equal buckets over [0, 4s] must all be hit, none by more
        // than twice its fair share.
        let mut buckets = [0u32; 10];
        let draws = 2000;
        for _ in 0..draws {
            let wait = wait_us(&s, 3, &mut rng);
            buckets[((wait * 10 / 4_000_001) as usize).min(9)] += 1;
        }
        for (i, n) in buckets.iter().enumerate() {
            assert!((draws / 20..=draws / 5).contains(n), "bucket {i} got {n} of {draws}: {buckets:?}");
        }
        // The same seed gives the same waits: schedules are reproducible in tests.
        let a: Vec<_> = (0..5).map(|_| wait_us(&s, 2, &mut StdRng::seed_from_u64(42))).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn validation_names_the_key_to_fix() {
        let key = |s: RetrySchedule| s.validate().unwrap_err().key;
        assert_eq!(schedule(1000, 60_000, 5).validate(), Ok(()));
        assert_eq!(schedule(1, 1, 1).validate(), Ok(()));
        assert_eq!(key(schedule(0, 60_000, 5)), "replay.retry_initial");
        assert_eq!(key(schedule(3_600_001, 7_200_000, 5)), "replay.retry_initial");
        assert_eq!(key(schedule(1000, 999, 5)), "replay.retry_max_delay");
        assert_eq!(key(schedule(1000, 8 * 24 * 3_600_000, 5)), "replay.retry_max_delay");
        assert_eq!(key(schedule(1000, 60_000, 0)), "replay.max_attempts");
        assert_eq!(key(schedule(1000, 60_000, 101)), "replay.max_attempts");
        let msg = schedule(1000, 500, 5).validate().unwrap_err().to_string();
        assert_eq!(
            msg,
            "replay.retry_max_delay: is 500ms, less than replay.retry_initial (1s); it must be at least that"
        );
    }

    fn like(provider: &str, speed: u32) -> RetryLike {
        RetryLike { provider: provider.into(), speed }
    }

    #[test]
    fn retry_like_follows_the_providers_waits_scaled_and_stops_where_it_does() {
        let stripe = like("stripe", 3600);
        assert_eq!(retry_like_attempts(&stripe), Some(8));
        assert_eq!(retry_like_next_attempt_at(&stripe, NOW, 0), Some(NOW));
        let wait = |r: &RetryLike, n| retry_like_next_attempt_at(r, NOW, n).map(|t| t.micros() - NOW.micros());
        assert_eq!(wait(&stripe, 1), Some(1_000_000), "1h / 3600");
        assert_eq!(wait(&stripe, 2), Some(2_000_000));
        assert_eq!(wait(&stripe, 7), Some(16_000_000));
        assert_eq!(wait(&stripe, 8), None, "Stripe's 7 retries are over");
        let slack = like("slack", 1);
        assert_eq!((wait(&slack, 1), wait(&slack, 2), wait(&slack, 3)), (Some(0), Some(60_000_000), Some(300_000_000)));
        assert_eq!(retry_like_attempts(&like("github", 1)), Some(1), "GitHub sends once");
        assert_eq!(wait(&like("github", 1), 1), None);
        assert_eq!(retry_like_attempts(&like("gone", 1)), None);
        assert_eq!(wait(&like("gone", 1), 1), None);
    }

    #[test]
    fn retry_like_input_is_checked_with_the_field_named() {
        assert_eq!(retry_like(" slack ", None), Ok(like("slack", 6)), "6 minutes into 60 s");
        assert_eq!(retry_like("stripe", Some(10)), Ok(like("stripe", 10)));
        let (field, msg) = retry_like("paypal", None).unwrap_err();
        assert_eq!(field, "retryLike");
        assert!(msg.contains("`paypal` has no retry profile") && msg.contains("stripe, github"), "{msg}");
        for bad in [0, -1, i64::from(MAX_RETRY_SPEED) + 1] {
            let (field, msg) = retry_like("stripe", Some(bad)).unwrap_err();
            assert_eq!(field, "retrySpeed");
            assert_eq!(msg, format!("must be 1 (real time) to 1000000000, got {bad}"));
        }
    }

    #[test]
    fn durations_print_as_config_files_write_them() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_micros(5)), "5us");
        assert_eq!(human(Duration::ZERO), "0s");
    }
}
