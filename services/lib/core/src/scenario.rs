//! Response scenarios: what a capture URL answers, chosen per request by an ordered list of
//! rules, so a team can watch how a sender retries when its target fails on purpose.
//!
//! A rule matches on method, path, a header and the provider's event type; the first rule that
//! matches answers. An answer is fixed, a sequence (`500, 500, 429, 200`, then repeat or stick),
//! a percentage mix, `gone after N`, or a latency distribution. Sequences and `gone after` need a
//! count of the requests the rule answered so far: ingest keeps it in the store (one counter per
//! rule, shared by every ingest node), and passes it to [`ScenarioAnswer::choose`] with a random
//! roll; everything here is pure.
//!
//! Replies are checked with the rules of [`crate::answer`]: a scenario is set by any EDITOR and
//! served by the inspector's server, so it gets no more power than a custom response.

use serde::{Deserialize, Serialize};

use crate::{CapturedRequest, Header, HeaderMatch, MAX_RESPONSE_DELAY_MS};

/// Most rules an endpoint may have: each request walks them in order.
pub const MAX_RULES: usize = 20;
/// Most steps in a sequence, choices in a mix or points in a latency distribution.
pub const MAX_PARTS: usize = 50;
/// Largest reply body, as for a custom response.
pub const MAX_REPLY_BODY: usize = 64 * 1024;
/// Most headers one reply may set.
pub const MAX_REPLY_HEADERS: usize = 50;
/// How long a `timeout` reply holds the request before giving up with 504: longer than every
/// major provider waits (Slack 3 s, Shopify 5 s, GitHub 10 s, Svix 15 s, Stripe 20 s), so the
/// sender has timed out first, and no longer than any delay may be.
pub const TIMEOUT_HOLD_MS: u32 = MAX_RESPONSE_DELAY_MS;
/// 100 % in basis points: mix shares and latency percentiles are kept as integers.
pub const ALL_BP: u32 = 10_000;
/// Longest rule id.
pub const MAX_RULE_ID: usize = 64;

/// One rule: which requests it answers, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRule {
    /// Unique within the endpoint; recorded on every capture the rule answers, and the name of
    /// its counter.
    pub id: String,
    #[serde(default)]
    pub when: RequestMatch,
    pub answer: ScenarioAnswer,
}

/// Conditions on a request; an empty match takes every request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMatch {
    /// Exactly this method (as sent, case matters as in HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path after `/h/<token>` starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// A header (name in any case) whose value contains this (empty: present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
    /// The provider's event type matches one of these patterns ([`crate::event_type_matches`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
}

impl RequestMatch {
    /// Whether the request passes every condition. `event_type` is only read when the match
    /// names event types: finding it costs a pass over the body.
    pub fn matches(&self, method: &str, path: &str, headers: &[Header], event_type: Option<&str>) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self.path_prefix.as_ref().is_none_or(|p| path.starts_with(p.as_str()))
            && self.header.as_ref().is_none_or(|h| {
                headers.iter().any(|ch| {
                    ch.name.eq_ignore_ascii_case(&h.name)
                        && (h.contains.is_empty()
                            || ch.value.windows(h.contains.len()).any(|w| w == h.contains.as_bytes()))
                })
            })
            && (self.event_types.is_empty()
                || event_type.is_some_and(|t| self.event_types.iter().any(|p| crate::event_type_matches(p, t))))
    }

    pub fn matches_capture(&self, c: &CapturedRequest, event_type: Option<&str>) -> bool {
        self.matches(&c.method, &c.path, &c.headers, event_type)
    }
}

/// What a rule answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScenarioAnswer {
    /// The same reply every time.
    Fixed { reply: Reply },
    /// The steps in order, one per request; after the last, start over or keep the last.
    Sequence { steps: Vec<Reply>, then: SequenceEnd },
    /// Each choice with its share of requests (drawn at random per request), `rest` otherwise.
    Mix { choices: Vec<MixChoice>, rest: Reply },
    /// `before` for the first `count` requests, `after` (410 by default) from then on.
    GoneAfter { count: u64, before: Reply, after: Reply },
    /// `reply`, delayed by a duration drawn from a distribution given by percentiles.
    Latency { reply: Reply, points: Vec<LatencyPoint> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceEnd {
    Repeat,
    Stick,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixChoice {
    /// Share of requests in basis points (1 % = 100).
    pub share_bp: u32,
    pub reply: Reply,
}

/// One point of a latency distribution: `percentile_bp` (basis points, 50 % = 5000) of requests
/// wait at most `ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyPoint {
    pub percentile_bp: u32,
    pub ms: u32,
}

/// One answer: status, headers from the allowlist, body and a delay; or a simulated timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(default)]
    pub delay_ms: u32,
    /// Hold the request for [`TIMEOUT_HOLD_MS`], then answer 504: the sender has given up.
    #[serde(default)]
    pub timeout: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new(), delay_ms: 0, timeout: false }
    }

    /// The status the sender is told (504 after a simulated timeout) and how long before it.
    pub fn outcome(&self) -> (u16, u32) {
        if self.timeout { (504, TIMEOUT_HOLD_MS) } else { (self.status, self.delay_ms.min(MAX_RESPONSE_DELAY_MS)) }
    }

    /// `503`, `429 Retry-After: 30`, `timeout`, `200 after 250ms`: one reply in a summary.
    fn summary(&self) -> String {
        if self.timeout {
            return "timeout".into();
        }
        let mut s = self.status.to_string();
        if let Some((_, v)) = self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("retry-after")) {
            s.push_str(&format!(" Retry-After: {v}"));
        }
        if self.delay_ms > 0 {
            s.push_str(&format!(" after {}ms", self.delay_ms));
        }
        s
    }
}

/// The reply a rule chose for one request, and how long to wait before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen<'a> {
    pub reply: &'a Reply,
    pub delay_ms: u32,
}

impl ScenarioAnswer {
    /// Whether choosing needs the rule's request count (ingest then bumps the shared counter).
    pub fn counts(&self) -> bool {
        matches!(self, ScenarioAnswer::Sequence { .. } | ScenarioAnswer::GoneAfter { .. })
    }

    /// The reply for the `n`-th request this rule answers (1 for the first; only read when
    /// [`counts`](Self::counts)), with `roll` uniform in `[0, 1)` for mixes and latencies.
    pub fn choose(&self, n: u64, roll: f64) -> Chosen<'_> {
        fn plain(reply: &Reply) -> Chosen<'_> {
            Chosen { reply, delay_ms: reply.outcome().1 }
        }
        match self {
            ScenarioAnswer::Fixed { reply } => plain(reply),
            ScenarioAnswer::Sequence { steps, then } => {
                let len = steps.len().max(1) as u64;
                let i = n.saturating_sub(1);
                let i = match then {
                    SequenceEnd::Repeat => i % len,
                    SequenceEnd::Stick => i.min(len - 1),
                };
                plain(&steps[i as usize])
            }
            ScenarioAnswer::Mix { choices, rest } => {
                let at = (roll.clamp(0.0, 1.0) * f64::from(ALL_BP)) as u32;
                let mut edge = 0;
                for c in choices {
                    edge += c.share_bp;
                    if at < edge {
                        return plain(&c.reply);
                    }
                }
                plain(rest)
            }
            ScenarioAnswer::GoneAfter { count, before, after } => plain(if n <= *count { before } else { after }),
            ScenarioAnswer::Latency { reply, points } => {
                let delay = if reply.timeout { TIMEOUT_HOLD_MS } else { latency_at(points, roll) };
                Chosen { reply, delay_ms: delay.min(MAX_RESPONSE_DELAY_MS) }
            }
        }
    }

    /// One line for lists: `500, 500, 429 Retry-After: 30, 200 then repeat`.
    pub fn summary(&self) -> String {
        match self {
            ScenarioAnswer::Fixed { reply } => reply.summary(),
            ScenarioAnswer::Sequence { steps, then } => {
                let steps = steps.iter().map(Reply::summary).collect::<Vec<_>>().join(", ");
                match then {
                    SequenceEnd::Repeat => format!("{steps} then repeat"),
                    SequenceEnd::Stick => format!("{steps} then stay"),
                }
            }
            ScenarioAnswer::Mix { choices, rest } => {
                let mut parts: Vec<String> =
                    choices.iter().map(|c| format!("{} {}", percent(c.share_bp), c.reply.summary())).collect();
                parts.push(format!("rest {}", rest.summary()));
                parts.join(", ")
            }
            ScenarioAnswer::GoneAfter { count, before, after } => {
                format!("{} for {count}, then {}", before.summary(), after.summary())
            }
            ScenarioAnswer::Latency { reply, points } => {
                let points = points.iter().map(|p| format!("p{} {}ms", percent_number(p.percentile_bp), p.ms));
                format!("{} after {}", reply.summary(), points.collect::<Vec<_>>().join(", "))
            }
        }
    }
}

fn percent_number(bp: u32) -> String {
    if bp.is_multiple_of(100) { (bp / 100).to_string() } else { format!("{}", f64::from(bp) / 100.0) }
}

fn percent(bp: u32) -> String {
    format!("{}%", percent_number(bp))
}

/// The delay at quantile `roll`: linear between the given points, from 0 ms at the 0th
/// percentile (unless a point says otherwise) to the last point's delay at the 100th.
fn latency_at(points: &[LatencyPoint], roll: f64) -> u32 {
    let at = roll.clamp(0.0, 1.0) * f64::from(ALL_BP);
    let mut prev = LatencyPoint { percentile_bp: 0, ms: 0 };
    for p in points {
        if at <= f64::from(p.percentile_bp) {
            let span = f64::from(p.percentile_bp - prev.percentile_bp);
            if span == 0.0 {
                return p.ms;
            }
            let t = (at - f64::from(prev.percentile_bp)) / span;
            return (f64::from(prev.ms) + t * (f64::from(p.ms) - f64::from(prev.ms))).round() as u32;
        }
        prev = *p;
    }
    prev.ms
}

/// The first rule that takes this request.
pub fn select<'a>(
    rules: &'a [ScenarioRule],
    method: &str,
    path: &str,
    headers: &[Header],
    event_type: Option<&str>,
) -> Option<&'a ScenarioRule> {
    rules.iter().find(|r| r.when.matches(method, path, headers, event_type))
}

/// Whether any rule needs the event type to decide, so ingest identifies the event only then.
pub fn needs_event_type(rules: &[ScenarioRule]) -> bool {
    rules.iter().any(|r| !r.when.event_types.is_empty())
}

/// The counter a rule's requests are counted in.
pub fn counter_key(rule_id: &str) -> String {
    format!("rule:{rule_id}")
}

/// The counter of captures an endpoint accepted, which `maxCaptures` caps.
pub const CAPTURES_COUNTER: &str = "captures";

/// Why a scenario cannot be stored: the field (`scenario[1].answer.sequence.steps[0].status`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScenarioError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError { field: field.into(), message: message.into() }
}

/// Checks a reply as a custom response is checked: status 200–599, delay within the limit,
/// body and header counts bounded, and only headers an answer may set. `field` names it.
pub fn check_reply(
    field: &str,
    status: u16,
    headers: &[(String, String)],
    body: &str,
    delay_ms: u32,
    separate_origin: bool,
) -> Result<(), ScenarioError> {
    if !(200..=599).contains(&status) {
        return Err(bad(format!("{field}.status"), format!("must be between 200 and 599, got {status}")));
    }
    if delay_ms > MAX_RESPONSE_DELAY_MS {
        return Err(bad(
            format!("{field}.delayMs"),
            format!("must be between 0 and {MAX_RESPONSE_DELAY_MS}, got {delay_ms}"),
        ));
    }
    if body.len() > MAX_REPLY_BODY {
        return Err(bad(format!("{field}.body"), format!("must be at most {MAX_REPLY_BODY} bytes")));
    }
    if headers.len() > MAX_REPLY_HEADERS {
        return Err(bad(format!("{field}.headers"), format!("at most {MAX_REPLY_HEADERS} headers")));
    }
    for (name, value) in headers {
        let f = format!("{field}.headers");
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(bad(f, format!("`{name}` is not a valid header name")));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(bad(f, format!("the value of `{name}` is not a valid header value")));
        }
        crate::answer::check_response_header(name).map_err(|m| bad(&f, m))?;
        if name.eq_ignore_ascii_case("content-type") {
            crate::answer::check_content_type(value, separate_origin).map_err(|m| bad(&f, m))?;
        }
    }
    Ok(())
}

/// Checks a whole scenario before it is stored; the error names the first bad field.
pub fn validate(rules: &[ScenarioRule], separate_origin: bool) -> Result<(), ScenarioError> {
    if rules.len() > MAX_RULES {
        return Err(bad("scenario", format!("at most {MAX_RULES} rules, got {}", rules.len())));
    }
    for (i, rule) in rules.iter().enumerate() {
        let f = format!("scenario[{i}]");
        let id = &rule.id;
        if id.is_empty()
            || id.len() > MAX_RULE_ID
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(bad(
                format!("{f}.id"),
                format!("`{id}` is not a rule id: 1 to {MAX_RULE_ID} letters, digits, `-`, `_` or `.`"),
            ));
        }
        if rules[..i].iter().any(|r| r.id == *id) {
            return Err(bad(format!("{f}.id"), format!("`{id}` names two rules; rule ids are unique")));
        }
        check_match(&f, &rule.when)?;
        check_answer(&format!("{f}.answer"), &rule.answer, separate_origin)?;
    }
    Ok(())
}

fn check_match(f: &str, m: &RequestMatch) -> Result<(), ScenarioError> {
    if let Some(method) = &m.method
        && (method.is_empty() || method.len() > 32 || !method.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(bad(format!("{f}.method"), format!("`{method}` is not an HTTP method")));
    }
    if let Some(p) = &m.path_prefix
        && (!p.starts_with('/') || p.len() > 1024)
    {
        return Err(bad(format!("{f}.pathPrefix"), "must start with `/` and be at most 1024 bytes"));
    }
    if let Some(h) = &m.header
        && (h.name.is_empty() || h.name.len() > 256 || h.contains.len() > 1024)
    {
        return Err(bad(format!("{f}.header"), "a name of 1 to 256 bytes and a value of at most 1024"));
    }
    if m.event_types.len() > MAX_PARTS {
        return Err(bad(format!("{f}.eventTypes"), format!("at most {MAX_PARTS} patterns")));
    }
    if let Some(t) = m.event_types.iter().find(|t| t.is_empty() || t.len() > crate::MAX_EVENT_FIELD) {
        return Err(bad(format!("{f}.eventTypes"), format!("`{t}` must be 1 to {} bytes", crate::MAX_EVENT_FIELD)));
    }
    Ok(())
}

fn check_reply_of(field: &str, r: &Reply, separate_origin: bool) -> Result<(), ScenarioError> {
    check_reply(field, r.status, &r.headers, &r.body, r.delay_ms, separate_origin)
}

fn check_answer(f: &str, a: &ScenarioAnswer, sep: bool) -> Result<(), ScenarioError> {
    let parts = |field: String, n: usize| {
        if n == 0 || n > MAX_PARTS { Err(bad(field, format!("1 to {MAX_PARTS} entries, got {n}"))) } else { Ok(()) }
    };
    match a {
        ScenarioAnswer::Fixed { reply } => check_reply_of(&format!("{f}.fixed"), reply, sep),
        ScenarioAnswer::Sequence { steps, .. } => {
            parts(format!("{f}.sequence.steps"), steps.len())?;
            for (i, s) in steps.iter().enumerate() {
                check_reply_of(&format!("{f}.sequence.steps[{i}]"), s, sep)?;
            }
            Ok(())
        }
        ScenarioAnswer::Mix { choices, rest } => {
            parts(format!("{f}.mix.choices"), choices.len())?;
            let mut total = 0u32;
            for (i, c) in choices.iter().enumerate() {
                if c.share_bp == 0 || c.share_bp > ALL_BP {
                    return Err(bad(
                        format!("{f}.mix.choices[{i}].percent"),
                        format!("must be above 0 and at most 100, got {}", percent_number(c.share_bp)),
                    ));
                }
                total = total.saturating_add(c.share_bp);
                check_reply_of(&format!("{f}.mix.choices[{i}].reply"), &c.reply, sep)?;
            }
            if total > ALL_BP {
                return Err(bad(
                    format!("{f}.mix.choices"),
                    format!("the percentages add up to {}; at most 100 (the rest get `rest`)", percent_number(total)),
                ));
            }
            check_reply_of(&format!("{f}.mix.rest"), rest, sep)
        }
        ScenarioAnswer::GoneAfter { count, before, after } => {
            if *count > 1_000_000_000 {
                return Err(bad(format!("{f}.goneAfter.count"), format!("at most 1000000000, got {count}")));
            }
            check_reply_of(&format!("{f}.goneAfter.before"), before, sep)?;
            check_reply_of(&format!("{f}.goneAfter.after"), after, sep)
        }
        ScenarioAnswer::Latency { reply, points } => {
            check_reply_of(&format!("{f}.latency.reply"), reply, sep)?;
            parts(format!("{f}.latency.points"), points.len())?;
            let mut prev: Option<LatencyPoint> = None;
            for (i, p) in points.iter().enumerate() {
                let pf = format!("{f}.latency.points[{i}]");
                if p.percentile_bp > ALL_BP {
                    return Err(bad(
                        format!("{pf}.percentile"),
                        format!("must be between 0 and 100, got {}", percent_number(p.percentile_bp)),
                    ));
                }
                if p.ms > MAX_RESPONSE_DELAY_MS {
                    return Err(bad(
                        format!("{pf}.ms"),
                        format!("must be between 0 and {MAX_RESPONSE_DELAY_MS}, got {}", p.ms),
                    ));
                }
                if let Some(q) = prev
                    && (p.percentile_bp <= q.percentile_bp || p.ms < q.ms)
                {
                    return Err(bad(pf, "points go up: each percentile above the one before, with a delay no shorter"));
                }
                prev = Some(*p);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(statuses: &[u16], then: SequenceEnd) -> ScenarioAnswer {
        ScenarioAnswer::Sequence { steps: statuses.iter().map(|s| Reply::status(*s)).collect(), then }
    }

    #[test]
    fn a_sequence_repeats_or_sticks_after_its_last_step() {
        let a = seq(&[500, 500, 429, 200], SequenceEnd::Repeat);
        let got: Vec<u16> = (1..=9).map(|n| a.choose(n, 0.5).reply.status).collect();
        assert_eq!(got, [500, 500, 429, 200, 500, 500, 429, 200, 500]);
        let a = seq(&[500, 200], SequenceEnd::Stick);
        let got: Vec<u16> = (1..=5).map(|n| a.choose(n, 0.5).reply.status).collect();
        assert_eq!(got, [500, 200, 200, 200, 200]);
        assert_eq!(a.summary(), "500, 200 then stay");
    }

    #[test]
    fn gone_after_answers_before_for_count_requests_then_after() {
        let a = ScenarioAnswer::GoneAfter { count: 2, before: Reply::status(200), after: Reply::status(410) };
        let got: Vec<u16> = (1..=4).map(|n| a.choose(n, 0.0).reply.status).collect();
        assert_eq!(got, [200, 200, 410, 410]);
        assert!(a.counts());
        assert_eq!(a.summary(), "200 for 2, then 410");
    }

    #[test]
    fn a_mix_gives_each_choice_its_share_of_the_unit_interval() {
        let a = ScenarioAnswer::Mix {
            choices: vec![
                MixChoice { share_bp: 1000, reply: Reply::status(503) },
                MixChoice { share_bp: 500, reply: Reply { timeout: true, ..Reply::status(200) } },
            ],
            rest: Reply::status(200),
        };
        let at = |roll: f64| a.choose(0, roll);
        assert_eq!(at(0.0).reply.status, 503);
        assert_eq!(at(0.0999).reply.status, 503);
        assert!(at(0.10).reply.timeout);
        assert_eq!(at(0.10).delay_ms, TIMEOUT_HOLD_MS);
        assert_eq!(at(0.1499).reply.outcome(), (504, TIMEOUT_HOLD_MS));
        assert_eq!(at(0.15).reply.status, 200);
        assert_eq!(at(0.999).reply.status, 200);
        assert!(!a.counts());
        assert_eq!(a.summary(), "10% 503, 5% timeout, rest 200");
    }

    #[test]
    fn latency_interpolates_between_percentiles() {
        let points = vec![
            LatencyPoint { percentile_bp: 5000, ms: 100 },
            LatencyPoint { percentile_bp: 9000, ms: 500 },
            LatencyPoint { percentile_bp: 10_000, ms: 2000 },
        ];
        let a = ScenarioAnswer::Latency { reply: Reply::status(200), points };
        let d = |roll| a.choose(0, roll).delay_ms;
        assert_eq!(d(0.0), 0);
        assert_eq!(d(0.25), 50);
        assert_eq!(d(0.5), 100);
        assert_eq!(d(0.7), 300);
        assert_eq!(d(0.95), 1250);
        assert_eq!(d(1.0), 2000);
        assert_eq!(a.summary(), "200 after p50 100ms, p90 500ms, p100 2000ms");
    }

    #[test]
    fn the_first_matching_rule_answers() {
        let rule = |id: &str, when: RequestMatch| ScenarioRule {
            id: id.into(),
            when,
            answer: ScenarioAnswer::Fixed { reply: Reply::status(200) },
        };
        let rules = vec![
            rule("pushes", RequestMatch { event_types: vec!["push".into()], ..Default::default() }),
            rule(
                "github",
                RequestMatch {
                    header: Some(HeaderMatch { name: "x-github-event".into(), contains: String::new() }),
                    ..Default::default()
                },
            ),
            rule(
                "puts",
                RequestMatch { method: Some("PUT".into()), path_prefix: Some("/a".into()), ..Default::default() },
            ),
        ];
        let gh = [Header::new("X-GitHub-Event", "issues")];
        assert_eq!(select(&rules, "POST", "/", &gh, Some("push")).unwrap().id, "pushes");
        assert_eq!(select(&rules, "POST", "/", &gh, Some("issues.opened")).unwrap().id, "github");
        assert_eq!(select(&rules, "PUT", "/a/b", &[], None).unwrap().id, "puts");
        assert!(select(&rules, "PUT", "/b", &[], None).is_none());
        assert!(select(&rules, "POST", "/a", &[], None).is_none());
        assert!(needs_event_type(&rules));
        assert!(!needs_event_type(&rules[1..]));
    }

    #[test]
    fn validation_names_the_field() {
        let ok = |answer| vec![ScenarioRule { id: "r1".into(), when: RequestMatch::default(), answer }];
        let err = |rules: Vec<ScenarioRule>| validate(&rules, false).unwrap_err().to_string();
        assert!(validate(&ok(seq(&[500, 200], SequenceEnd::Repeat)), false).is_ok());
        assert_eq!(
            err(ok(seq(&[500, 99], SequenceEnd::Repeat))),
            "scenario[0].answer.sequence.steps[1].status: must be between 200 and 599, got 99"
        );
        assert_eq!(err(ok(seq(&[], SequenceEnd::Repeat))), "scenario[0].answer.sequence.steps: 1 to 50 entries, got 0");
        let mix = |a: u32, b: u32| ScenarioAnswer::Mix {
            choices: vec![
                MixChoice { share_bp: a, reply: Reply::status(503) },
                MixChoice { share_bp: b, reply: Reply::status(500) },
            ],
            rest: Reply::status(200),
        };
        assert_eq!(
            err(ok(mix(6000, 5050))),
            "scenario[0].answer.mix.choices: the percentages add up to 110.5; at most 100 (the rest get `rest`)"
        );
        assert!(err(ok(mix(0, 10))).starts_with("scenario[0].answer.mix.choices[0].percent: must be above 0"));
        let cookie = ScenarioAnswer::Fixed {
            reply: Reply { headers: vec![("Set-Cookie".into(), "a=b".into())], ..Reply::status(200) },
        };
        assert!(err(ok(cookie)).starts_with("scenario[0].answer.fixed.headers: `Set-Cookie` cannot be set"));
        let html = ScenarioAnswer::Fixed {
            reply: Reply { headers: vec![("Content-Type".into(), "text/html".into())], ..Reply::status(200) },
        };
        assert!(err(ok(html.clone())).contains("server.capture_base_url"));
        assert!(validate(&ok(html), true).is_ok());
        let slow = ScenarioAnswer::Latency {
            reply: Reply::status(200),
            points: vec![LatencyPoint { percentile_bp: 5000, ms: 100 }, LatencyPoint { percentile_bp: 4000, ms: 200 }],
        };
        assert_eq!(
            err(ok(slow)),
            "scenario[0].answer.latency.points[1]: points go up: each percentile above the one before, with a delay no shorter"
        );
        let mut two = ok(ScenarioAnswer::Fixed { reply: Reply::status(200) });
        two.push(two[0].clone());
        assert_eq!(err(two), "scenario[1].id: `r1` names two rules; rule ids are unique");
        let mut bad_id = ok(ScenarioAnswer::Fixed { reply: Reply::status(200) });
        bad_id[0].id = "a b".into();
        assert!(err(bad_id).starts_with("scenario[0].id: `a b` is not a rule id"));
    }

    #[test]
    fn a_scenario_round_trips_through_json() {
        let rules = vec![ScenarioRule {
            id: "flaky".into(),
            when: RequestMatch { method: Some("POST".into()), ..Default::default() },
            answer: seq(&[500, 200], SequenceEnd::Stick),
        }];
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(serde_json::from_str::<Vec<ScenarioRule>>(&json).unwrap(), rules);
    }
}
