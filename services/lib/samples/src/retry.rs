//! How providers retry a webhook their receiver did not acknowledge, as data: the schedule, the
//! timeout, what counts as a failure and what a retry carries. `hookmetry trigger --retry-like`
//! and replay's `retryLike` follow a profile; the inspector uses [`guess`] to say "this looks like
//! Stripe's 3rd retry".
//!
//! Every fact comes from the provider's public documentation, linked from [`RetryProfile::source`].
//! Where a provider documents only an envelope ("exponential backoff for up to 3 days") the delays
//! are an approximation that fits it, and the profile says so ([`RetryProfile::approximate`]).

use std::time::Duration;

/// What makes a provider try a delivery again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Anything but a 2xx answer within the timeout: error statuses, redirects, no answer.
    NotSuccess,
    /// Only no answer: the connection failed or the timeout passed. An HTTP answer of any
    /// status ends the delivery.
    NoAnswer,
}

/// One provider's documented retry behaviour.
#[derive(Debug)]
pub struct RetryProfile {
    /// The provider id, as in `hookmetry_verify::providers()` and [`crate::catalog`].
    pub id: &'static str,
    pub name: &'static str,
    /// The public page the facts come from.
    pub source: &'static str,
    /// How long the provider waits for an answer to one attempt.
    pub timeout: Duration,
    pub failure: Failure,
    /// The wait before each retry in seconds, counted from the failure of the attempt before:
    /// `delays[0]` is the wait before the first retry.
    delays: &'static [u64],
    /// More retries after `delays`, each after the last of `delays` (for schedules documented as
    /// a count over a window, such as Paddle's 60).
    repeat_last: u32,
    /// The delays fit a documented envelope, not a documented list.
    pub approximate: bool,
    /// The documented schedule, in a few words.
    pub schedule: &'static str,
    /// What stays the same on a retry and what a retry adds, in a few words.
    pub markers: &'static str,
    /// Whether a retry is signed afresh, with the time it is sent (schemes that sign a timestamp).
    pub resigns: bool,
}

const MIN: u64 = 60;
const HOUR: u64 = 3600;

static PROFILES: &[RetryProfile] = &[
    RetryProfile {
        id: "stripe",
        name: "Stripe",
        source: "https://docs.stripe.com/webhooks#retries",
        // Stripe's page gives no per-attempt timeout; 30 s is the figure summaries of it give.
        timeout: Duration::from_secs(30),
        failure: Failure::NotSuccess,
        // Live mode: exponential backoff for up to 3 days. Doubling from 1 h, held at 16 h, puts the
        // 7th retry at 63 h, inside the 3 days.
        delays: &[HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR, 16 * HOUR, 16 * HOUR],
        repeat_last: 0,
        approximate: true,
        schedule: "exponential backoff for up to 3 days (live mode); approximated as 1h, 2h, 4h, 8h, 16h, 16h, 16h",
        markers: "same event (`id` in the body); Stripe-Signature made afresh with the new time",
        resigns: true,
    },
    RetryProfile {
        id: "github",
        name: "GitHub",
        source: "https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries",
        timeout: Duration::from_secs(10),
        failure: Failure::NotSuccess,
        delays: &[],
        repeat_last: 0,
        approximate: false,
        schedule: "no automatic retries: a failed delivery is only redelivered by hand or by a script",
        markers: "a redelivery keeps X-GitHub-Delivery",
        resigns: false,
    },
    RetryProfile {
        id: "shopify",
        name: "Shopify",
        source: "https://shopify.dev/changelog/updates-to-webhook-retry-mechanism",
        timeout: Duration::from_secs(5),
        failure: Failure::NotSuccess,
        // 8 retries over 4 hours, exponential: doubling from 1 min, the last at 4 h.
        delays: &[MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 32 * MIN, 64 * MIN, 113 * MIN],
        repeat_last: 0,
        approximate: true,
        schedule: "8 retries over 4 hours with exponential backoff; approximated as doubling from 1m",
        markers: "same body and X-Shopify-Webhook-Id, X-Shopify-Triggered-At of the first attempt; the HMAC is of the body, so unchanged",
        resigns: false,
    },
    RetryProfile {
        id: "standard-webhooks",
        name: "Standard Webhooks (Svix)",
        source: "https://docs.svix.com/retries",
        timeout: Duration::from_secs(15),
        failure: Failure::NotSuccess,
        delays: &[5, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
        repeat_last: 0,
        approximate: false,
        schedule: "5s, 5m, 30m, 2h, 5h, 10h, 10h after each failure; 3xx counts as a failure",
        markers: "same webhook-id; webhook-timestamp and webhook-signature made afresh",
        resigns: true,
    },
    RetryProfile {
        id: "svix",
        name: "Svix",
        source: "https://docs.svix.com/retries",
        timeout: Duration::from_secs(15),
        failure: Failure::NotSuccess,
        delays: &[5, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
        repeat_last: 0,
        approximate: false,
        schedule: "5s, 5m, 30m, 2h, 5h, 10h, 10h after each failure; 3xx counts as a failure",
        markers: "same svix-id; svix-timestamp and svix-signature made afresh",
        resigns: true,
    },
    RetryProfile {
        id: "twilio",
        name: "Twilio",
        source: "https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides",
        // Read timeout and total time both default to 15 000 ms.
        timeout: Duration::from_secs(15),
        failure: Failure::NoAnswer,
        // Retry count `rc` defaults to 1. The page says retries follow a failed connection or a
        // timeout; that an HTTP error answer is not retried by default is our reading of it.
        delays: &[0],
        repeat_last: 0,
        approximate: false,
        schedule: "1 retry, at once, when the connection fails (the `rc` override allows up to 5)",
        markers: "same I-Twilio-Idempotency-Token; X-Twilio-Signature is of the URL and form, so unchanged",
        resigns: false,
    },
    RetryProfile {
        id: "slack",
        name: "Slack",
        source: "https://docs.slack.dev/apis/events-api/#retries",
        timeout: Duration::from_secs(3),
        failure: Failure::NotSuccess,
        delays: &[0, MIN, 5 * MIN],
        repeat_last: 0,
        approximate: false,
        schedule: "3 retries: at once, after 1m, after 5m",
        markers: "X-Slack-Retry-Num (1, 2, 3) and X-Slack-Retry-Reason; X-Slack-Request-Timestamp and signature made afresh",
        resigns: true,
    },
    RetryProfile {
        id: "paddle",
        name: "Paddle",
        source: "https://developer.paddle.com/webhooks/about/respond-to-webhooks",
        timeout: Duration::from_secs(5),
        failure: Failure::NotSuccess,
        // Live accounts: up to 60 retries over 3 days, exponential. Doubling from 1 min to 64 min,
        // then every 79 min, puts the 60th retry at about 72 h.
        delays: &[MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 32 * MIN, 64 * MIN, 79 * MIN],
        repeat_last: 52,
        approximate: true,
        schedule: "up to 60 retries over 3 days with exponential backoff (live); approximated as doubling from 1m, then every 79m",
        markers: "same notification_id in the body; Paddle-Signature made afresh with the new time",
        resigns: true,
    },
];

/// Every provider with a retry profile.
pub fn profiles() -> &'static [RetryProfile] {
    PROFILES
}

/// The profile of provider `id`, if it has one.
pub fn profile(id: &str) -> Option<&'static RetryProfile> {
    PROFILES.iter().find(|p| p.id == id)
}

impl RetryProfile {
    /// Retries after the first attempt, at most.
    pub fn max_retries(&self) -> u32 {
        self.delays.len() as u32 + if self.delays.is_empty() { 0 } else { self.repeat_last }
    }

    /// The wait before retry `attempt` (1 = the first retry), from the failure of the attempt
    /// before; `None` past the last retry (and always for a provider that does not retry).
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt > self.max_retries() {
            return None;
        }
        let i = (attempt as usize - 1).min(self.delays.len() - 1);
        Some(Duration::from_secs(self.delays[i]))
    }

    /// All the waits, the first retry's first.
    pub fn delays(&self) -> Vec<Duration> {
        (1..=self.max_retries()).filter_map(|a| self.delay_before(a)).collect()
    }

    /// How long the whole schedule waits, the timeouts not counted.
    pub fn total_wait(&self) -> Duration {
        self.delays().iter().sum()
    }

    /// Whether an attempt answered `status` (`None`: no answer within the timeout, or no
    /// connection) makes this provider retry.
    pub fn is_failure(&self, status: Option<u16>) -> bool {
        match (self.failure, status) {
            (_, None) => true,
            (Failure::NotSuccess, Some(s)) => !(200..300).contains(&s),
            (Failure::NoAnswer, Some(_)) => false,
        }
    }

    /// Headers a retry adds, for retry `attempt` (1 = the first) after `last` was answered
    /// (`None`: no answer): Slack's retry number and reason.
    pub fn retry_headers(&self, attempt: u32, last: Option<u16>) -> Vec<(String, String)> {
        if self.id != "slack" || attempt == 0 {
            return Vec::new();
        }
        // Slack's reason names; a timeout and a refused connection both reach here as no answer.
        let reason = if last.is_some() { "http_error" } else { "http_timeout" };
        vec![("X-Slack-Retry-Num".into(), attempt.to_string()), ("X-Slack-Retry-Reason".into(), reason.into())]
    }
}

/// `d` divided by `speed` (at least 1), to the millisecond.
pub fn scaled(d: Duration, speed: f64) -> Duration {
    let speed = if speed.is_finite() && speed >= 1.0 { speed } else { 1.0 };
    Duration::from_millis((d.as_millis() as f64 / speed).round() as u64)
}

/// A speed that fits `profile`'s whole schedule into `budget` (never slower than real time).
pub fn speed_to_fit(profile: &RetryProfile, budget: Duration) -> f64 {
    let total = profile.total_wait().as_secs_f64();
    let budget = budget.as_secs_f64().max(0.001);
    (total / budget).max(1.0)
}

/// What a capture looks like against a provider's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryGuess {
    /// 1 for the first retry.
    pub attempt: u32,
    /// "Stripe's 3rd retry".
    pub label: String,
    /// The documented wait before this retry; `None` past the provider's last retry, or for a
    /// provider that does not retry.
    pub expected_delay: Option<Duration>,
    /// How long after the delivery before this one it came.
    pub observed_delay: Option<Duration>,
    /// Whether the observed wait is within the tolerance of the expected one (see [`fits`]).
    pub fits_schedule: bool,
    /// The profile's delays are an approximation.
    pub approximate: bool,
    /// "Stripe retries after ~4h; this came 2s after the previous".
    pub explanation: String,
}

/// What the `deliveries_so_far + 1`-th delivery of one event of `provider` looks like, given
/// the gaps between consecutive deliveries so far (the last gap is the one before this
/// delivery). `None` for the first delivery, and for a provider without a profile.
pub fn guess(provider: &str, deliveries_so_far: u32, gaps: &[Duration]) -> Option<RetryGuess> {
    let p = profile(provider)?;
    if deliveries_so_far == 0 {
        return None;
    }
    let attempt = deliveries_so_far;
    let observed = gaps.last().copied();
    let expected = p.delay_before(attempt);
    let came = observed.map(|o| format!("this came {} after the previous", human(o))).unwrap_or_default();
    let join = |a: String| if came.is_empty() { a } else { format!("{a}; {came}") };
    if p.max_retries() == 0 {
        return Some(RetryGuess {
            attempt,
            label: format!("a manual {} redelivery", p.name),
            expected_delay: None,
            observed_delay: observed,
            fits_schedule: false,
            approximate: false,
            explanation: join(format!("{} does not retry on its own", p.name)),
        });
    }
    let Some(expected) = expected else {
        return Some(RetryGuess {
            attempt,
            label: format!("delivery {} of a {} event", attempt + 1, p.name),
            expected_delay: None,
            observed_delay: observed,
            fits_schedule: false,
            approximate: p.approximate,
            explanation: join(format!("{} retries at most {} times", p.name, p.max_retries())),
        });
    };
    let fits_schedule = observed.is_some_and(|o| fits(p, expected, o));
    let tilde = if p.approximate { "~" } else { "" };
    let after = if expected.is_zero() { "at once".to_string() } else { format!("after {tilde}{}", human(expected)) };
    Some(RetryGuess {
        attempt,
        label: format!("{}'s {} retry", p.name, ordinal(attempt)),
        expected_delay: Some(expected),
        observed_delay: observed,
        fits_schedule,
        approximate: p.approximate,
        explanation: join(format!("{} retries {after}", p.name)),
    })
}

/// Whether `observed` fits an `expected` wait of `p`.
///
/// The wait starts when the attempt before failed, which is up to the provider's timeout after it
/// was sent, and providers add jitter and queueing, so: at least 80 % of the expected wait less
/// 2 s, at most 150 % plus the timeout plus 30 s. An approximated schedule is an envelope, not a
/// list, so there the band is a quarter to four times the expected wait (the same slack added).
pub fn fits(p: &RetryProfile, expected: Duration, observed: Duration) -> bool {
    let e = expected.as_secs_f64();
    let o = observed.as_secs_f64();
    let slack_high = p.timeout.as_secs_f64() + 30.0;
    let (low, high) = if p.approximate { (e / 4.0, e * 4.0) } else { (e * 0.8, e * 1.5) };
    o >= low - 2.0 && o <= high + slack_high
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st".
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A wait as people say it: `0.4s`, `2s`, `5m`, `1.5h`, `2d`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    let one = |v: f64, unit: &str| {
        let r = (v * 10.0).round() / 10.0;
        if r.fract() == 0.0 { format!("{r:.0}{unit}") } else { format!("{r:.1}{unit}") }
    };
    match s {
        s if s < 1.0 => one(s, "s"),
        s if s < 59.5 => format!("{}s", s.round()),
        s if s < 3600.0 => one(s / 60.0, "m"),
        s if s < 48.0 * 3600.0 => one(s / 3600.0, "h"),
        s => one(s / 86_400.0, "d"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn every_profile_is_a_provider_verify_knows_and_has_a_source() {
        let verify: Vec<_> = hookmetry_verify::providers().iter().map(|p| p.id).collect();
        for p in profiles() {
            assert!(verify.contains(&p.id), "{} is not a verification provider", p.id);
            assert!(p.source.starts_with("https://"), "{}", p.id);
            assert!(!p.timeout.is_zero(), "{}", p.id);
            assert!(!p.schedule.is_empty() && !p.markers.is_empty(), "{}", p.id);
        }
        let mut ids: Vec<_> = profiles().iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), profiles().len(), "an id twice");
        for id in ["stripe", "github", "shopify", "standard-webhooks", "twilio", "slack"] {
            assert!(profile(id).is_some(), "{id} has no profile");
            assert!(crate::catalog().iter().any(|c| c.id == id), "{id} has no samples");
        }
    }

    #[test]
    fn delays_never_shrink() {
        for p in profiles() {
            let d = p.delays();
            assert!(d.windows(2).all(|w| w[0] <= w[1]), "{}: {d:?}", p.id);
            assert_eq!(d.len() as u32, p.max_retries(), "{}", p.id);
        }
    }

    #[test]
    fn documented_schedules_are_exact() {
        let svix = profile("standard-webhooks").unwrap();
        assert_eq!(svix.max_retries(), 7);
        assert_eq!(svix.delay_before(1), Some(secs(5)));
        assert_eq!(svix.delay_before(3), Some(secs(30 * 60)));
        assert_eq!(svix.delay_before(7), Some(secs(10 * 3600)));
        assert_eq!(svix.delay_before(8), None);
        assert_eq!(svix.delay_before(0), None);
        // "fails three times before eventually succeeding ... roughly 35 minutes and 5 seconds".
        assert_eq!(svix.delays()[..3].iter().sum::<Duration>(), secs(35 * 60 + 5));
        let slack = profile("slack").unwrap();
        assert_eq!(slack.delays(), [secs(0), secs(60), secs(300)]);
        assert_eq!(slack.timeout, secs(3));
        let github = profile("github").unwrap();
        assert_eq!(github.max_retries(), 0);
        assert_eq!(github.delay_before(1), None);
        assert_eq!(profile("shopify").unwrap().max_retries(), 8);
        assert_eq!(profile("shopify").unwrap().total_wait(), secs(4 * 3600));
        assert_eq!(profile("paddle").unwrap().max_retries(), 60);
        assert!(profile("stripe").unwrap().total_wait() <= secs(3 * 86_400));
        assert!(profile("paddle").unwrap().total_wait() <= secs(3 * 86_400));
        assert!(profile("stripe").unwrap().approximate && !svix.approximate);
    }

    #[test]
    fn failure_follows_the_profile() {
        let stripe = profile("stripe").unwrap();
        assert!(stripe.is_failure(Some(500)));
        assert!(stripe.is_failure(Some(302)), "a redirect is not an acknowledgement");
        assert!(stripe.is_failure(None));
        assert!(!stripe.is_failure(Some(204)));
        let twilio = profile("twilio").unwrap();
        assert!(!twilio.is_failure(Some(500)), "Twilio retries only a failed connection");
        assert!(twilio.is_failure(None));
    }

    #[test]
    fn only_slack_adds_retry_headers() {
        let slack = profile("slack").unwrap();
        assert_eq!(
            slack.retry_headers(2, Some(500)),
            [("X-Slack-Retry-Num".to_string(), "2".to_string()), ("X-Slack-Retry-Reason".into(), "http_error".into())]
        );
        assert_eq!(slack.retry_headers(1, None)[1].1, "http_timeout");
        assert!(slack.retry_headers(0, None).is_empty());
        assert!(profile("stripe").unwrap().retry_headers(1, Some(500)).is_empty());
    }

    #[test]
    fn guess_names_the_retry_and_checks_the_gap() {
        let g = guess("standard-webhooks", 2, &[secs(5), secs(300)]).unwrap();
        assert_eq!(g.label, "Standard Webhooks (Svix)'s 2nd retry");
        assert_eq!(g.attempt, 2);
        assert_eq!(g.expected_delay, Some(secs(300)));
        assert!(g.fits_schedule);
        assert_eq!(g.explanation, "Standard Webhooks (Svix) retries after 5m; this came 5m after the previous");

        let g = guess("stripe", 3, &[secs(3600), secs(7200), secs(2)]).unwrap();
        assert_eq!(g.label, "Stripe's 3rd retry");
        assert!(!g.fits_schedule, "2 s is far from ~4 h");
        assert_eq!(g.explanation, "Stripe retries after ~4h; this came 2s after the previous");

        let g = guess("slack", 1, &[Duration::from_millis(3400)]).unwrap();
        assert_eq!(g.label, "Slack's 1st retry");
        assert!(g.fits_schedule, "at once, after the 3 s timeout");
        assert_eq!(g.explanation, "Slack retries at once; this came 3s after the previous");
        assert!(!guess("slack", 2, &[secs(3), secs(2)]).unwrap().fits_schedule, "Slack waits a minute");
    }

    #[test]
    fn guess_past_the_schedule_and_for_providers_that_do_not_retry() {
        let g = guess("slack", 4, &[secs(0), secs(60), secs(300), secs(10)]).unwrap();
        assert_eq!(g.label, "delivery 5 of a Slack event");
        assert!(!g.fits_schedule && g.expected_delay.is_none());
        assert_eq!(g.explanation, "Slack retries at most 3 times; this came 10s after the previous");
        let g = guess("github", 1, &[secs(120)]).unwrap();
        assert_eq!(g.label, "a manual GitHub redelivery");
        assert_eq!(g.explanation, "GitHub does not retry on its own; this came 2m after the previous");
        assert!(guess("stripe", 0, &[]).is_none());
        assert!(guess("mailgun", 1, &[secs(1)]).is_none());
    }

    #[test]
    fn fits_has_a_documented_band() {
        let svix = profile("standard-webhooks").unwrap();
        let e = secs(300);
        assert!(fits(svix, e, secs(240)));
        assert!(!fits(svix, e, secs(230)));
        assert!(fits(svix, e, secs(450 + 45)));
        assert!(!fits(svix, e, secs(450 + 46)));
        let stripe = profile("stripe").unwrap();
        assert!(fits(stripe, secs(3600), secs(900)));
        assert!(!fits(stripe, secs(3600), secs(800)));
    }

    #[test]
    fn speeds_and_words() {
        let svix = profile("standard-webhooks").unwrap();
        assert_eq!(scaled(secs(300), 100.0), secs(3));
        assert_eq!(scaled(secs(5), 0.5), secs(5), "never slower than real time");
        let speed = speed_to_fit(svix, secs(30));
        let total: Duration = svix.delays().iter().map(|d| scaled(*d, speed)).sum();
        assert!(total <= Duration::from_millis(30_010), "{total:?}");
        assert_eq!(speed_to_fit(profile("github").unwrap(), secs(30)), 1.0);
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
        assert_eq!(human(Duration::from_millis(400)), "0.4s");
        assert_eq!(human(secs(2)), "2s");
        assert_eq!(human(secs(300)), "5m");
        assert_eq!(human(secs(60)), "1m");
        assert_eq!(human(secs(90)), "1.5m");
        assert_eq!(human(secs(5400)), "1.5h");
        assert_eq!(human(secs(3 * 86_400)), "3d");
    }
}
