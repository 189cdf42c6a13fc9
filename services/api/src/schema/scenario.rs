//! Response scenarios in GraphQL: the rules that choose what a capture URL answers, and what each
//! capture was answered. Inputs mirror `hookmetry_core::scenario`; checking lives there, so the
//! API and endpoints-as-code refuse the same things with the same field names.

use async_graphql::{Enum, InputObject, Object, OneofObject, SimpleObject};
use hookmetry_core::scenario::{
    self, ALL_BP, LatencyPoint, MixChoice, Reply, RequestMatch, ScenarioAnswer, ScenarioRule, SequenceEnd,
};
use hookmetry_core::{Answered, HeaderMatch, MAX_RESPONSE_DELAY_MS};

use super::captures::HeaderObject;
use super::endpoints::HeaderInput;
use crate::ApiError;

/// One rule: which requests it answers (every condition set must hold), and how.
#[derive(InputObject, Clone)]
pub(crate) struct ScenarioRuleInput {
    /// Unique within the endpoint (letters, digits, `-`, `_`, `.`); default `rule-<position>`.
    pub id: Option<String>,
    /// Exactly this method.
    pub method: Option<String>,
    /// The path after `/h/<token>` starts with this.
    pub path_prefix: Option<String>,
    /// A header (any case) whose value contains `contains` (empty: present).
    pub header: Option<ScenarioHeaderInput>,
    /// The provider's event type matches one of these (`charge.*`).
    #[graphql(default)]
    pub event_types: Vec<String>,
    pub answer: ScenarioAnswerInput,
}

#[derive(InputObject, Clone)]
pub(crate) struct ScenarioHeaderInput {
    pub name: String,
    #[graphql(default)]
    pub contains: String,
}

/// Exactly one kind of answer.
#[derive(OneofObject, Clone)]
pub(crate) enum ScenarioAnswerInput {
    /// The same reply every time.
    Fixed(ReplyInput),
    /// One step per request, in order.
    Sequence(SequenceInput),
    /// Replies drawn at random with the given shares.
    Mix(MixInput),
    /// `before` for the first `count` requests, then `after`.
    GoneAfter(GoneAfterInput),
    /// A reply delayed by a duration drawn from percentiles.
    Latency(LatencyInput),
}

/// An answer: status, headers (the custom-response allowlist), body and delay; or `timeout`: hold
/// the request 30 s, longer than senders wait, then 504.
#[derive(InputObject, Clone)]
pub(crate) struct ReplyInput {
    #[graphql(default = 200)]
    pub status: i32,
    #[graphql(default)]
    pub headers: Vec<HeaderInput>,
    #[graphql(default)]
    pub body: String,
    #[graphql(default)]
    pub delay_ms: i32,
    #[graphql(default)]
    pub timeout: bool,
}

#[derive(InputObject, Clone)]
pub(crate) struct SequenceInput {
    pub steps: Vec<ReplyInput>,
    /// After the last step: start over (default) or keep answering the last.
    #[graphql(default_with = "SequenceEndValue::Repeat")]
    pub then: SequenceEndValue,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "SequenceEnd")]
pub(crate) enum SequenceEndValue {
    Repeat,
    Stick,
}

#[derive(InputObject, Clone)]
pub(crate) struct MixInput {
    pub choices: Vec<MixChoiceInput>,
    /// For the requests no choice took.
    pub rest: ReplyInput,
}

#[derive(InputObject, Clone)]
pub(crate) struct MixChoiceInput {
    /// Share of requests, in percent (to 0.01).
    pub percent: f64,
    pub reply: ReplyInput,
}

#[derive(InputObject, Clone)]
pub(crate) struct GoneAfterInput {
    pub count: i64,
    /// Default 200.
    pub before: Option<ReplyInput>,
    /// Default 410.
    pub after: Option<ReplyInput>,
}

#[derive(InputObject, Clone)]
pub(crate) struct LatencyInput {
    /// Default 200.
    pub reply: Option<ReplyInput>,
    /// Rising points: `percentile` percent of requests wait at most `ms`; linear in between,
    /// from 0 ms at the 0th percentile.
    pub points: Vec<LatencyPointInput>,
}

#[derive(InputObject, Clone)]
pub(crate) struct LatencyPointInput {
    pub percentile: f64,
    pub ms: i32,
}

impl ReplyInput {
    fn status(status: u16) -> Self {
        Self { status: i32::from(status), headers: Vec::new(), body: String::new(), delay_ms: 0, timeout: false }
    }

    fn into_reply(self, field: &str) -> Result<Reply, ApiError> {
        let status = u16::try_from(self.status).ok().filter(|s| (200..=599).contains(s)).ok_or_else(|| {
            bad(format!("{field}.status"), format!("must be between 200 and 599, got {}", self.status))
        })?;
        let delay_ms = u32::try_from(self.delay_ms).ok().filter(|d| *d <= MAX_RESPONSE_DELAY_MS).ok_or_else(|| {
            bad(
                format!("{field}.delayMs"),
                format!("must be between 0 and {MAX_RESPONSE_DELAY_MS}, got {}", self.delay_ms),
            )
        })?;
        Ok(Reply {
            status,
            headers: self.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: self.body,
            delay_ms,
            timeout: self.timeout,
        })
    }
}

fn bad(field: String, message: String) -> ApiError {
    ApiError::bad(field, message)
}

/// Percent (to 0.01) as basis points; the field is named when it is no number from 0 to 100.
fn basis_points(field: String, percent: f64) -> Result<u32, ApiError> {
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
        return Err(bad(field, format!("must be between 0 and 100, got {percent}")));
    }
    Ok((percent * 100.0).round() as u32)
}

/// The rules as stored, checked as a whole; the error names the first bad field
/// (`scenario[1].answer.sequence.steps[0].status`).
pub(crate) fn into_rules(input: Vec<ScenarioRuleInput>, separate_origin: bool) -> Result<Vec<ScenarioRule>, ApiError> {
    if input.len() > scenario::MAX_RULES {
        return Err(bad("scenario".into(), format!("at most {} rules, got {}", scenario::MAX_RULES, input.len())));
    }
    let mut rules = Vec::with_capacity(input.len());
    for (i, r) in input.into_iter().enumerate() {
        let f = format!("scenario[{i}].answer");
        let answer = match r.answer {
            ScenarioAnswerInput::Fixed(reply) => {
                ScenarioAnswer::Fixed { reply: reply.into_reply(&format!("{f}.fixed"))? }
            }
            ScenarioAnswerInput::Sequence(s) => ScenarioAnswer::Sequence {
                steps: s
                    .steps
                    .into_iter()
                    .take(scenario::MAX_PARTS + 1)
                    .enumerate()
                    .map(|(j, step)| step.into_reply(&format!("{f}.sequence.steps[{j}]")))
                    .collect::<Result<_, _>>()?,
                then: match s.then {
                    SequenceEndValue::Repeat => SequenceEnd::Repeat,
                    SequenceEndValue::Stick => SequenceEnd::Stick,
                },
            },
            ScenarioAnswerInput::Mix(m) => ScenarioAnswer::Mix {
                choices: m
                    .choices
                    .into_iter()
                    .take(scenario::MAX_PARTS + 1)
                    .enumerate()
                    .map(|(j, c)| {
                        let share_bp = basis_points(format!("{f}.mix.choices[{j}].percent"), c.percent)?;
                        Ok(MixChoice { share_bp, reply: c.reply.into_reply(&format!("{f}.mix.choices[{j}].reply"))? })
                    })
                    .collect::<Result<_, ApiError>>()?,
                rest: m.rest.into_reply(&format!("{f}.mix.rest"))?,
            },
            ScenarioAnswerInput::GoneAfter(g) => ScenarioAnswer::GoneAfter {
                count: u64::try_from(g.count)
                    .map_err(|_| bad(format!("{f}.goneAfter.count"), format!("must be 0 or more, got {}", g.count)))?,
                before: g
                    .before
                    .unwrap_or_else(|| ReplyInput::status(200))
                    .into_reply(&format!("{f}.goneAfter.before"))?,
                after: g
                    .after
                    .unwrap_or_else(|| ReplyInput::status(410))
                    .into_reply(&format!("{f}.goneAfter.after"))?,
            },
            ScenarioAnswerInput::Latency(l) => ScenarioAnswer::Latency {
                reply: l.reply.unwrap_or_else(|| ReplyInput::status(200)).into_reply(&format!("{f}.latency.reply"))?,
                points: l
                    .points
                    .into_iter()
                    .take(scenario::MAX_PARTS + 1)
                    .enumerate()
                    .map(|(j, p)| {
                        let pf = format!("{f}.latency.points[{j}]");
                        Ok(LatencyPoint {
                            percentile_bp: basis_points(format!("{pf}.percentile"), p.percentile)?,
                            ms: u32::try_from(p.ms)
                                .map_err(|_| bad(format!("{pf}.ms"), format!("must be 0 or more, got {}", p.ms)))?,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?,
            },
        };
        let blank = |v: Option<String>| v.filter(|s| !s.is_empty());
        rules.push(ScenarioRule {
            id: blank(r.id).unwrap_or_else(|| format!("rule-{}", i + 1)),
            when: RequestMatch {
                method: blank(r.method),
                path_prefix: blank(r.path_prefix),
                header: r.header.map(|h| HeaderMatch { name: h.name, contains: h.contains }),
                event_types: r.event_types,
            },
            answer,
        });
    }
    scenario::validate(&rules, separate_origin).map_err(|e| ApiError::bad(e.field, e.message))?;
    Ok(rules)
}

/// A rule as stored.
pub(crate) struct ScenarioRuleObject(pub ScenarioRule);

#[Object(name = "ScenarioRule")]
impl ScenarioRuleObject {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn method(&self) -> Option<&str> {
        self.0.when.method.as_deref()
    }
    async fn path_prefix(&self) -> Option<&str> {
        self.0.when.path_prefix.as_deref()
    }
    async fn header(&self) -> Option<ScenarioHeader> {
        self.0.when.header.as_ref().map(|h| ScenarioHeader { name: h.name.clone(), contains: h.contains.clone() })
    }
    async fn event_types(&self) -> &[String] {
        &self.0.when.event_types
    }
    async fn answer(&self) -> ScenarioAnswerObject<'_> {
        ScenarioAnswerObject(&self.0.answer)
    }
}

#[derive(SimpleObject)]
struct ScenarioHeader {
    name: String,
    contains: String,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum ScenarioAnswerKind {
    Fixed,
    Sequence,
    Mix,
    GoneAfter,
    Latency,
}

/// One kind of answer: `kind` says which of the fields is set.
struct ScenarioAnswerObject<'a>(&'a ScenarioAnswer);

#[Object(name = "ScenarioAnswer")]
impl ScenarioAnswerObject<'_> {
    async fn kind(&self) -> ScenarioAnswerKind {
        match self.0 {
            ScenarioAnswer::Fixed { .. } => ScenarioAnswerKind::Fixed,
            ScenarioAnswer::Sequence { .. } => ScenarioAnswerKind::Sequence,
            ScenarioAnswer::Mix { .. } => ScenarioAnswerKind::Mix,
            ScenarioAnswer::GoneAfter { .. } => ScenarioAnswerKind::GoneAfter,
            ScenarioAnswer::Latency { .. } => ScenarioAnswerKind::Latency,
        }
    }
    /// One line: `500, 500, 429 Retry-After: 30, 200 then repeat`.
    async fn summary(&self) -> String {
        self.0.summary()
    }
    async fn fixed(&self) -> Option<ReplyObject> {
        match self.0 {
            ScenarioAnswer::Fixed { reply } => Some(ReplyObject::of(reply)),
            _ => None,
        }
    }
    async fn sequence(&self) -> Option<SequenceObject> {
        match self.0 {
            ScenarioAnswer::Sequence { steps, then } => Some(SequenceObject {
                steps: steps.iter().map(ReplyObject::of).collect(),
                then: match then {
                    SequenceEnd::Repeat => SequenceEndValue::Repeat,
                    SequenceEnd::Stick => SequenceEndValue::Stick,
                },
            }),
            _ => None,
        }
    }
    async fn mix(&self) -> Option<MixObject> {
        match self.0 {
            ScenarioAnswer::Mix { choices, rest } => Some(MixObject {
                choices: choices
                    .iter()
                    .map(|c| MixChoiceObject {
                        percent: f64::from(c.share_bp) / 100.0,
                        reply: ReplyObject::of(&c.reply),
                    })
                    .collect(),
                rest: ReplyObject::of(rest),
            }),
            _ => None,
        }
    }
    async fn gone_after(&self) -> Option<GoneAfterObject> {
        match self.0 {
            ScenarioAnswer::GoneAfter { count, before, after } => Some(GoneAfterObject {
                count: i64::try_from(*count).unwrap_or(i64::MAX),
                before: ReplyObject::of(before),
                after: ReplyObject::of(after),
            }),
            _ => None,
        }
    }
    async fn latency(&self) -> Option<LatencyObject> {
        match self.0 {
            ScenarioAnswer::Latency { reply, points } => Some(LatencyObject {
                reply: ReplyObject::of(reply),
                points: points
                    .iter()
                    .map(|p| LatencyPointObject {
                        percentile: f64::from(p.percentile_bp) / f64::from(ALL_BP) * 100.0,
                        ms: i32::try_from(p.ms).unwrap_or(i32::MAX),
                    })
                    .collect(),
            }),
            _ => None,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Reply")]
struct ReplyObject {
    status: i32,
    headers: Vec<HeaderObject>,
    body: String,
    delay_ms: i32,
    timeout: bool,
}

impl ReplyObject {
    fn of(r: &Reply) -> Self {
        Self {
            status: i32::from(r.status),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| HeaderObject { name: n.clone(), value: v.as_bytes().to_vec() })
                .collect(),
            body: r.body.clone(),
            delay_ms: i32::try_from(r.delay_ms).unwrap_or(i32::MAX),
            timeout: r.timeout,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Sequence")]
struct SequenceObject {
    steps: Vec<ReplyObject>,
    then: SequenceEndValue,
}

#[derive(SimpleObject)]
#[graphql(name = "Mix")]
struct MixObject {
    choices: Vec<MixChoiceObject>,
    rest: ReplyObject,
}

#[derive(SimpleObject)]
#[graphql(name = "MixChoice")]
struct MixChoiceObject {
    percent: f64,
    reply: ReplyObject,
}

#[derive(SimpleObject)]
#[graphql(name = "GoneAfter")]
struct GoneAfterObject {
    count: i64,
    before: ReplyObject,
    after: ReplyObject,
}

#[derive(SimpleObject)]
#[graphql(name = "Latency")]
struct LatencyObject {
    reply: ReplyObject,
    points: Vec<LatencyPointObject>,
}

#[derive(SimpleObject)]
#[graphql(name = "LatencyPoint")]
struct LatencyPointObject {
    percentile: f64,
    ms: i32,
}

/// What a capture URL answered one capture, and which scenario rule chose it.
#[derive(SimpleObject)]
pub(crate) struct CaptureAnswer {
    /// The scenario rule that answered; null for the custom response or the default answer.
    rule_id: Option<String>,
    status: i32,
    /// How long the answer was held (a simulated timeout: 30000).
    delay_ms: i32,
    /// The rule's request count that chose the answer (a sequence's position, from 1), for
    /// sequences and gone-after rules.
    step: Option<i64>,
    /// The answer was a simulated timeout: held, then 504.
    timed_out: bool,
}

impl CaptureAnswer {
    pub(crate) fn of(a: &Answered) -> Self {
        Self {
            rule_id: a.rule_id.clone(),
            status: i32::from(a.status),
            delay_ms: i32::try_from(a.delay_ms).unwrap_or(i32::MAX),
            step: a.step.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            timed_out: a.timed_out,
        }
    }
}

/// How many requests an endpoint's counters have seen since creation or the last reset.
#[derive(SimpleObject)]
pub(crate) struct EndpointCounters {
    /// Captures accepted, which `maxCaptures` caps (requests it refused are not counted).
    pub captures: i64,
    /// Requests each counting rule (sequence, gone after) answered.
    pub rules: Vec<RuleCount>,
}

#[derive(SimpleObject)]
pub(crate) struct RuleCount {
    pub rule_id: String,
    pub count: i64,
}

impl EndpointCounters {
    /// Past the cap, refused requests are counted too: exactly `max_captures` were accepted.
    pub(crate) fn of(counters: Vec<(String, u64)>, max_captures: Option<u64>) -> Self {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut out = Self { captures: 0, rules: Vec::new() };
        for (key, v) in counters {
            if key == scenario::CAPTURES_COUNTER {
                out.captures = n(max_captures.map_or(v, |max| v.min(max)));
            } else if let Some(rule) = key.strip_prefix("rule:") {
                out.rules.push(RuleCount { rule_id: rule.to_string(), count: n(v) });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: i32) -> ReplyInput {
        ReplyInput { status, headers: Vec::new(), body: String::new(), delay_ms: 0, timeout: false }
    }

    fn rule(answer: ScenarioAnswerInput) -> ScenarioRuleInput {
        ScenarioRuleInput { id: None, method: None, path_prefix: None, header: None, event_types: Vec::new(), answer }
    }

    #[test]
    fn inputs_become_rules_with_default_ids_and_replies() {
        let rules = into_rules(
            vec![
                rule(ScenarioAnswerInput::Sequence(SequenceInput {
                    steps: vec![reply(500), reply(200)],
                    then: SequenceEndValue::Stick,
                })),
                rule(ScenarioAnswerInput::GoneAfter(GoneAfterInput { count: 3, before: None, after: None })),
                rule(ScenarioAnswerInput::Mix(MixInput {
                    choices: vec![MixChoiceInput { percent: 12.345, reply: reply(503) }],
                    rest: reply(200),
                })),
            ],
            false,
        )
        .unwrap();
        assert_eq!(rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["rule-1", "rule-2", "rule-3"]);
        assert_eq!(rules[0].answer.summary(), "500, 200 then stay");
        assert_eq!(rules[1].answer.summary(), "200 for 3, then 410");
        assert_eq!(rules[2].answer.summary(), "12.35% 503, rest 200");
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let err = |a| into_rules(vec![rule(a)], false).unwrap_err().to_string();
        assert_eq!(
            err(ScenarioAnswerInput::Sequence(SequenceInput {
                steps: vec![reply(200), reply(70_000)],
                then: SequenceEndValue::Repeat
            })),
            "invalid `scenario[0].answer.sequence.steps[1].status`: must be between 200 and 599, got 70000"
        );
        assert_eq!(
            err(ScenarioAnswerInput::Mix(MixInput {
                choices: vec![MixChoiceInput { percent: f64::NAN, reply: reply(503) }],
                rest: reply(200)
            })),
            "invalid `scenario[0].answer.mix.choices[0].percent`: must be between 0 and 100, got NaN"
        );
        assert_eq!(
            err(ScenarioAnswerInput::GoneAfter(GoneAfterInput { count: -1, before: None, after: None })),
            "invalid `scenario[0].answer.goneAfter.count`: must be 0 or more, got -1"
        );
        let mut cookie = reply(200);
        cookie.headers.push(HeaderInput { name: "Set-Cookie".into(), value: "a=b".into() });
        assert!(err(ScenarioAnswerInput::Fixed(cookie)).starts_with("invalid `scenario[0].answer.fixed.headers`"));
    }
}
