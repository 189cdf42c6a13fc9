//! Comparing two attempts' responses: status, headers and a line diff of the bodies.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use hookmetry_core::{Attempt, DeliveryId};

use super::common::{Access, parse_id};
use super::delivery::AttemptObject;
use crate::ApiError;
use crate::diff;

/// Names one attempt of one delivery.
#[derive(InputObject)]
#[graphql(name = "AttemptRef")]
pub struct AttemptRefInput {
    pub delivery_id: ID,
    pub number: i32,
}

#[derive(Default)]
pub struct CompareQuery;

#[Object]
impl CompareQuery {
    /// What changed between two attempts' responses (typically of the same capture, before and
    /// after a fix): status, headers and body.
    async fn compare_attempts(
        &self,
        c: &Context<'_>,
        before: AttemptRefInput,
        after: AttemptRefInput,
    ) -> Result<AttemptComparison, ApiError> {
        let a = Access::of(c);
        let first = find_attempt(&a, "before", &before).await?;
        let second = find_attempt(&a, "after", &after).await?;
        Ok(AttemptComparison::of(first, second))
    }
}

async fn find_attempt(a: &Access<'_>, field: &'static str, r: &AttemptRefInput) -> Result<Attempt, ApiError> {
    let id: DeliveryId = parse_id(field, &r.delivery_id)?;
    let delivery = a.ctx.store.delivery(id).await?.filter(|d| a.caller.can_read(d.team_id));
    let delivery = delivery.ok_or(ApiError::NotFound("delivery"))?;
    let attempts = a.ctx.store.attempts(delivery.id).await?;
    attempts
        .into_iter()
        .find(|t| i64::from(t.number) == i64::from(r.number))
        .ok_or_else(|| ApiError::bad(format!("{field}.number"), format!("delivery {id} has no attempt {}", r.number)))
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "Change")]
pub enum ChangeValue {
    Same,
    Added,
    Removed,
    Changed,
}

#[derive(SimpleObject)]
#[graphql(name = "HeaderChange")]
pub struct HeaderChange {
    /// Lower case.
    pub name: String,
    pub change: ChangeValue,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "DiffLine")]
pub struct DiffLine {
    pub change: ChangeValue,
    pub text: String,
}

/// Two attempts' responses side by side.
#[derive(SimpleObject)]
#[graphql(name = "AttemptComparison")]
pub struct AttemptComparison {
    pub before: AttemptObject,
    pub after: AttemptObject,
    pub status_changed: bool,
    /// Every header name of either response, sorted, with what happened to it.
    pub headers: Vec<HeaderChange>,
    /// The kept response bodies are byte for byte equal.
    pub body_equal: bool,
    /// Line diff of the bodies (JSON pretty-printed with sorted keys first); null when either
    /// is not text or has more than 2000 lines.
    pub body_diff: Option<Vec<DiffLine>>,
}

impl AttemptComparison {
    fn of(before: Attempt, after: Attempt) -> Self {
        use std::collections::BTreeMap;
        let mut names: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for (side, attempt) in [(0, &before), (1, &after)] {
            for h in &attempt.response_headers {
                let values = names.entry(h.name.to_ascii_lowercase()).or_default();
                let v = String::from_utf8_lossy(&h.value).into_owned();
                if side == 0 { values.0.push(v) } else { values.1.push(v) }
            }
        }
        let headers = names
            .into_iter()
            .map(|(name, (b, a))| {
                let change = match (b.is_empty(), a.is_empty()) {
                    (true, false) => ChangeValue::Added,
                    (false, true) => ChangeValue::Removed,
                    _ if a == b => ChangeValue::Same,
                    _ => ChangeValue::Changed,
                };
                HeaderChange { name, change, before: b, after: a }
            })
            .collect();
        let body_diff = match (std::str::from_utf8(&before.response_body), std::str::from_utf8(&after.response_body)) {
            (Ok(b), Ok(a)) => {
                let (b, a) = (diff::normalise(b), diff::normalise(a));
                diff::lines(&b, &a).map(|lines| {
                    lines
                        .into_iter()
                        .map(|(op, text)| DiffLine {
                            change: match op {
                                diff::Op::Same => ChangeValue::Same,
                                diff::Op::Added => ChangeValue::Added,
                                diff::Op::Removed => ChangeValue::Removed,
                            },
                            text: text.to_owned(),
                        })
                        .collect()
                })
            }
            _ => None,
        };
        Self {
            status_changed: before.response_status != after.response_status,
            body_equal: before.response_body == after.response_body,
            body_diff,
            headers,
            before: AttemptObject(before),
            after: AttemptObject(after),
        }
    }
}
