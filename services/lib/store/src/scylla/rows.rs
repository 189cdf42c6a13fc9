//! Rows as the driver reads and writes them, and their mapping to domain types.

use ::scylla::DeserializeRow;
use bytes::Bytes;
use hookmetry_core::{
    ApiToken, Attempt, CaptureId, CapturedRequest, CustomResponse, Delivery, DeliveryId, Endpoint, EndpointId, Header,
    OutgoingRequest, Role, Team, TeamId, Timestamp, TokenId, VerificationSettings,
};
use uuid::Uuid;

use super::paging;
use crate::{Result, StoreError};

#[derive(DeserializeRow)]
pub(super) struct TeamRow {
    id: Uuid,
    name: String,
    retention_days: i32,
    created_at: i64,
}

impl TeamRow {
    pub(super) fn into_team(self) -> Result<Team> {
        Ok(Team {
            id: TeamId(self.id),
            name: self.name,
            retention_days: u32::try_from(self.retention_days).map_err(|_| {
                StoreError::Corrupt(format!("team {}: retention_days {}", self.id, self.retention_days))
            })?,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

#[derive(DeserializeRow)]
pub(super) struct TokenRow {
    id: Uuid,
    team_id: Uuid,
    role: String,
    name: String,
    instance_admin: bool,
    hash: Vec<u8>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked: Option<bool>,
}

impl TokenRow {
    pub(super) fn into_token(self) -> Result<ApiToken> {
        let bad = |what: String| StoreError::Corrupt(format!("token {}: {what}", self.id));
        Ok(ApiToken {
            id: TokenId(self.id),
            team_id: TeamId(self.team_id),
            role: self.role.parse::<Role>().map_err(bad)?,
            name: self.name.clone(),
            instance_admin: self.instance_admin,
            hash: self.hash.as_slice().try_into().map_err(|_| bad(format!("hash of {} bytes", self.hash.len())))?,
            created_at: Timestamp::from_micros(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp::from_micros),
            revoked: self.revoked.unwrap_or(false),
        })
    }
}

#[derive(DeserializeRow)]
pub(super) struct EndpointRow {
    id: Uuid,
    team_id: Uuid,
    name: String,
    token: String,
    response: Option<String>,
    verification: Option<String>,
    handshakes: Option<bool>,
    event_fields: Option<String>,
    /// Null in rows written before schema version 10, and for an endpoint without rules.
    scenario: Option<String>,
    max_captures: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
}

impl EndpointRow {
    pub(super) fn into_endpoint(self) -> Result<Endpoint> {
        let id = self.id;
        let bad = move |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("endpoint {id}: {what}: {e}"));
        Ok(Endpoint {
            id: EndpointId(self.id),
            team_id: TeamId(self.team_id),
            name: self.name,
            token: self.token,
            response: self
                .response
                .map(|json| serde_json::from_str::<CustomResponse>(&json))
                .transpose()
                .map_err(|e| bad("response", e))?,
            verification: self
                .verification
                .map(|json| serde_json::from_str::<VerificationSettings>(&json))
                .transpose()
                .map_err(|e| bad("verification", e))?,
            handshakes: self.handshakes.unwrap_or(false),
            event_fields: self
                .event_fields
                .map(|json| serde_json::from_str::<hookmetry_core::EventFields>(&json))
                .transpose()
                .map_err(|e| bad("event fields", e))?,
            scenario: self
                .scenario
                .map(|json| serde_json::from_str::<Vec<hookmetry_core::scenario::ScenarioRule>>(&json))
                .transpose()
                .map_err(|e| bad("scenario", e))?
                .unwrap_or_default(),
            max_captures: self
                .max_captures
                .map(|n| u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("endpoint {id}: max_captures {n}"))))
                .transpose()?,
            expires_at: self.expires_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// `endpoint_id, day, received_at, TTL(received_at)` of `SELECT_CAPTURE_LOCATION`.
pub(super) type LocationRow = (Option<Uuid>, Option<i32>, Option<i64>, Option<i32>);

/// A row of either capture table. Every column but the key is optional so that leftover rows
/// (see the module documentation) can be recognised instead of failing to decode.
#[derive(DeserializeRow)]
pub(super) struct CaptureRow {
    capture_id: Uuid,
    endpoint_id: Option<Uuid>,
    team_id: Option<Uuid>,
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    headers: Option<Vec<(String, Bytes)>>,
    body: Option<Bytes>,
    body_sha256: Option<Vec<u8>>,
    remote_addr: Option<String>,
    http_version: Option<String>,
    received_at: Option<i64>,
    verdict: Option<String>,
    verification: Option<String>,
    /// Null in rows written before schema version 8, which hold the body itself.
    body_size: Option<i64>,
    /// `(status, delay_ms)`; null in rows written before schema version 9.
    answered: Option<(i32, i32)>,
    /// `(rule_id, step, timed_out)`; null in rows written before schema version 10 and for
    /// answers no scenario rule chose.
    answered_by: Option<AnsweredBy>,
}

impl CaptureRow {
    /// `None` for a leftover row without capture data. A `captures_by_endpoint` row written since
    /// schema version 8 has no body, only its size: the capture comes back with an empty body
    /// and `body_loaded` false.
    pub(super) fn into_stored(self) -> Result<Option<paging::StoredCapture>> {
        let Some(received_at) = self.received_at else { return Ok(None) };
        let id = self.capture_id;
        let missing = |column: &str| StoreError::Corrupt(format!("capture {id}: {column} is missing"));
        let body_sha256 = self.body_sha256.ok_or_else(|| missing("body_sha256"))?;
        // An empty blob is a value, not null: a row with neither a body nor its size is broken.
        let (body, body_size) = match (self.body, self.body_size) {
            (Some(body), _) => {
                let size = body.len() as u64;
                (Some(body), size)
            }
            (None, Some(size)) => (None, u64::try_from(size).map_err(|_| missing("a valid body_size"))?),
            (None, None) => return Err(missing("body")),
        };
        let body_loaded = body.is_some();
        let capture = CapturedRequest {
            id: CaptureId(id),
            endpoint_id: EndpointId(self.endpoint_id.ok_or_else(|| missing("endpoint_id"))?),
            team_id: TeamId(self.team_id.ok_or_else(|| missing("team_id"))?),
            method: self.method.ok_or_else(|| missing("method"))?,
            path: self.path.ok_or_else(|| missing("path"))?,
            query: self.query,
            // An empty frozen list may come back as null.
            headers: self.headers.unwrap_or_default().into_iter().map(|(name, value)| Header { name, value }).collect(),
            body: body.unwrap_or_default(),
            body_sha256: body_sha256.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt(format!("capture {id}: body_sha256 of {} bytes", body_sha256.len()))
            })?,
            remote_addr: self.remote_addr.ok_or_else(|| missing("remote_addr"))?,
            http_version: self.http_version.ok_or_else(|| missing("http_version"))?,
            received_at: Timestamp::from_micros(received_at),
            answered: answered(self.answered, self.answered_by),
        };
        // The verdict is only meaningful with its detail; a half-written result counts as none.
        let verdict = self.verdict.filter(|_| self.verification.is_some());
        let (event_type, event_id) =
            self.verification.as_deref().map(crate::verification_codec::event_keys).unwrap_or_default();
        Ok(Some(paging::StoredCapture { capture, verdict, event_type, event_id, body_size, body_loaded }))
    }
}

/// The `answered_by` column: which scenario rule chose the answer, the rule's count that chose
/// it, whether it was a simulated timeout. Elements are null when unset.
pub(super) type AnsweredBy = (Option<String>, Option<i64>, Option<bool>);

/// What ingest answered, from its `(status, delay_ms)` and `answered_by` columns; nothing when
/// absent or no status. Without `answered_by` (rows from before schema version 10, answers no
/// rule chose) it is a plain answer.
pub(super) fn answered(column: Option<(i32, i32)>, by: Option<AnsweredBy>) -> Option<hookmetry_core::Answered> {
    let (status, delay_ms) = column?;
    let status = u16::try_from(status).ok().filter(|s| (100..=999).contains(s))?;
    let mut answered = hookmetry_core::Answered::plain(status, u32::try_from(delay_ms).unwrap_or(0));
    if let Some((rule_id, step, timed_out)) = by {
        answered.rule_id = rule_id;
        answered.step = step.and_then(|n| u64::try_from(n).ok());
        answered.timed_out = timed_out.unwrap_or(false);
    }
    Some(answered)
}

/// The `answered` column of a capture.
pub(super) fn answered_column(c: &CapturedRequest) -> Option<(i32, i32)> {
    c.answered.as_ref().map(|a| (i32::from(a.status), i32::try_from(a.delay_ms).unwrap_or(i32::MAX)))
}

/// The `answered_by` column of a capture: null unless a scenario rule chose its answer, so a
/// plain answer writes no more than it did before version 10.
pub(super) fn answered_by_column(c: &CapturedRequest) -> Option<(Option<&str>, Option<i64>, bool)> {
    let a = c.answered.as_ref()?;
    if a.rule_id.is_none() && a.step.is_none() && !a.timed_out {
        return None;
    }
    Some((a.rule_id.as_deref(), a.step.map(|n| i64::try_from(n).unwrap_or(i64::MAX)), a.timed_out))
}

/// Bucket partitions of `endpoints_by_expiry`: few, because the sweeper reads every one each
/// pass, and more than one, so a burst of ephemeral endpoints does not all land in one partition.
pub(super) const EXPIRY_BUCKETS: i32 = 8;

pub(super) fn expiry_bucket(id: EndpointId) -> i32 {
    // The low bits of a UUIDv7 are random, so buckets fill evenly.
    (id.0.as_u128() % EXPIRY_BUCKETS as u128) as i32
}

/// The values of `INSERT_CAPTURE_BY_ID`, in its column order (more than a tuple can carry).
#[derive(::scylla::SerializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
pub(super) struct CaptureByIdValues<'a> {
    pub(super) capture_id: Uuid,
    pub(super) endpoint_id: Uuid,
    pub(super) team_id: Uuid,
    pub(super) day: i32,
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
    pub(super) headers: Vec<(String, Bytes)>,
    pub(super) body: Bytes,
    pub(super) body_size: i64,
    pub(super) body_sha256: &'a [u8],
    pub(super) remote_addr: &'a str,
    pub(super) http_version: &'a str,
    pub(super) received_at: i64,
    pub(super) answered: Option<(i32, i32)>,
    pub(super) answered_by: Option<(Option<&'a str>, Option<i64>, bool)>,
    pub(super) ttl: i32,
}

/// Shards of `deliveries_due`.
pub(super) const DUE_SHARDS: i32 = 16;

pub(super) fn due_shard(id: DeliveryId) -> i32 {
    // The low bits of a UUIDv7 are random, so shards fill evenly.
    (id.0.as_u128() % DUE_SHARDS as u128) as i32
}

/// The values of `INSERT_DELIVERY`, in its column order (more than a tuple can carry).
#[derive(::scylla::SerializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
pub(super) struct DeliveryValues {
    pub(super) delivery_id: Uuid,
    pub(super) team_id: Uuid,
    pub(super) endpoint_id: Uuid,
    pub(super) capture_id: Uuid,
    pub(super) origin: String,
    pub(super) method: String,
    pub(super) url: String,
    pub(super) headers: Vec<(String, Bytes)>,
    pub(super) body: Bytes,
    pub(super) body_sha256: Vec<u8>,
    pub(super) edited: bool,
    pub(super) resigned: bool,
    pub(super) state: &'static str,
    pub(super) attempts: i32,
    pub(super) max_attempts: i32,
    pub(super) next_attempt_at: Option<i64>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) trace_parent: Option<String>,
    pub(super) retry_like: Option<(String, i32)>,
    pub(super) ttl: i32,
}

#[derive(DeserializeRow)]
pub(super) struct DeliveryRow {
    delivery_id: Uuid,
    team_id: Option<Uuid>,
    endpoint_id: Option<Uuid>,
    capture_id: Option<Uuid>,
    origin: Option<String>,
    method: Option<String>,
    url: Option<String>,
    headers: Option<Vec<(String, Bytes)>>,
    body: Option<Bytes>,
    body_sha256: Option<Vec<u8>>,
    edited: Option<bool>,
    resigned: Option<bool>,
    state: Option<String>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    next_attempt_at: Option<i64>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
    trace_parent: Option<String>,
    retry_like: Option<(String, i32)>,
}

impl DeliveryRow {
    /// `None` for a row that only a late progress update wrote (its delivery expired or was
    /// deleted meanwhile).
    pub(super) fn into_delivery(self) -> Result<Option<Delivery>> {
        let Some(created_at) = self.created_at else { return Ok(None) };
        let id = self.delivery_id;
        let missing = |column: &str| StoreError::Corrupt(format!("delivery {id}: {column} is missing"));
        let sha = self.body_sha256.ok_or_else(|| missing("body_sha256"))?;
        let count = |v: Option<i32>, column: &str| v.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| missing(column));
        Ok(Some(Delivery {
            id: DeliveryId(id),
            team_id: TeamId(self.team_id.ok_or_else(|| missing("team_id"))?),
            endpoint_id: EndpointId(self.endpoint_id.ok_or_else(|| missing("endpoint_id"))?),
            capture_id: CaptureId(self.capture_id.ok_or_else(|| missing("capture_id"))?),
            origin: crate::origin_from_str(&self.origin.ok_or_else(|| missing("origin"))?)?,
            request: OutgoingRequest {
                method: self.method.ok_or_else(|| missing("method"))?,
                url: self.url.ok_or_else(|| missing("url"))?,
                headers: self
                    .headers
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| Header { name, value })
                    .collect(),
                body: self.body.ok_or_else(|| missing("body"))?,
                body_sha256: sha.as_slice().try_into().map_err(|_| missing("body_sha256 (32 bytes)"))?,
            },
            edited: self.edited.unwrap_or(false),
            resigned: self.resigned.unwrap_or(false),
            state: crate::state_from_str(&self.state.ok_or_else(|| missing("state"))?)?,
            attempts: count(self.attempts, "attempts")?,
            max_attempts: count(self.max_attempts, "max_attempts")?,
            next_attempt_at: self.next_attempt_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(created_at),
            updated_at: Timestamp::from_micros(self.updated_at.unwrap_or(created_at)),
            trace_parent: self.trace_parent,
            retry_like: self.retry_like.map(|(provider, speed)| hookmetry_core::RetryLike {
                provider,
                speed: u32::try_from(speed).unwrap_or(1).max(1),
            }),
        }))
    }
}

#[derive(DeserializeRow)]
pub(super) struct AttemptRow {
    delivery_id: Uuid,
    number: i32,
    started_at: Option<i64>,
    latency_ms: Option<i64>,
    response_status: Option<i32>,
    response_headers: Option<Vec<(String, Bytes)>>,
    response_body: Option<Bytes>,
    response_truncated: Option<bool>,
    error: Option<String>,
    error_message: Option<String>,
}

impl AttemptRow {
    pub(super) fn into_attempt(self) -> Result<Attempt> {
        let (id, n) = (self.delivery_id, self.number);
        let missing = |column: &str| StoreError::Corrupt(format!("attempt {n} of delivery {id}: {column} is missing"));
        Ok(Attempt {
            delivery_id: DeliveryId(id),
            number: u32::try_from(n).map_err(|_| missing("number"))?,
            started_at: Timestamp::from_micros(self.started_at.ok_or_else(|| missing("started_at"))?),
            latency_ms: self.latency_ms.and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
            response_status: self.response_status.and_then(|s| u16::try_from(s).ok()),
            response_headers: self
                .response_headers
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            response_body: self.response_body.unwrap_or_default(),
            response_truncated: self.response_truncated.unwrap_or(false),
            error: self.error.as_deref().map(crate::attempt_error_from_str).transpose()?,
            error_message: self.error_message,
        })
    }
}

pub(super) fn json<T: serde::Serialize>(what: &str, value: &Option<T>) -> Result<Option<String>> {
    value
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use hookmetry_core::Answered;
    use hookmetry_core::scenario::{Reply, ScenarioAnswer, ScenarioRule};

    use super::*;

    fn endpoint_row() -> EndpointRow {
        EndpointRow {
            id: Uuid::now_v7(),
            team_id: Uuid::now_v7(),
            name: "e".into(),
            token: "t".into(),
            response: None,
            verification: None,
            handshakes: None,
            event_fields: None,
            scenario: None,
            max_captures: None,
            expires_at: None,
            created_at: 1_700_000_000_000_000,
        }
    }

    #[test]
    fn endpoint_rows_from_before_version_10_have_no_scenario_cap_or_expiry() {
        let e = endpoint_row().into_endpoint().unwrap();
        assert_eq!((e.scenario, e.max_captures, e.expires_at), (Vec::new(), None, None));
    }

    #[test]
    fn endpoint_scenario_cap_and_expiry_columns_map_exactly() {
        let rules = vec![ScenarioRule {
            id: "gone".into(),
            when: Default::default(),
            answer: ScenarioAnswer::GoneAfter {
                count: 3,
                before: Reply { status: 200, headers: Vec::new(), body: String::new(), delay_ms: 0, timeout: false },
                after: Reply { status: 410, headers: Vec::new(), body: "gone".into(), delay_ms: 0, timeout: false },
            },
        }];
        let row = EndpointRow {
            scenario: Some(serde_json::to_string(&rules).unwrap()),
            max_captures: Some(250),
            expires_at: Some(1_700_000_360_000_001),
            ..endpoint_row()
        };
        let e = row.into_endpoint().unwrap();
        assert_eq!(e.scenario, rules);
        assert_eq!(e.max_captures, Some(250));
        assert_eq!(e.expires_at, Some(Timestamp::from_micros(1_700_000_360_000_001)));

        let err = EndpointRow { max_captures: Some(-1), ..endpoint_row() }.into_endpoint().unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("max_captures -1")), "{err:?}");
        let err = EndpointRow { scenario: Some("{".into()), ..endpoint_row() }.into_endpoint().unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("scenario")), "{err:?}");
    }

    #[test]
    fn answers_without_a_rule_column_read_as_plain_answers() {
        assert_eq!(answered(Some((202, 15)), None), Some(Answered::plain(202, 15)));
        assert_eq!(answered(None, Some((Some("r".into()), Some(1), Some(false)))), None, "no status, no answer");
        assert_eq!(
            answered(Some((504, 30_000)), Some((Some("flaky".into()), Some(7), Some(true)))),
            Some(Answered {
                status: 504,
                delay_ms: 30_000,
                rule_id: Some("flaky".into()),
                step: Some(7),
                timed_out: true
            })
        );
        // Null tuple elements (a rule that does not count) are unset fields.
        assert_eq!(
            answered(Some((200, 0)), Some((Some("fixed".into()), None, None))),
            Some(Answered { rule_id: Some("fixed".into()), ..Answered::plain(200, 0) })
        );
    }

    #[test]
    fn only_answers_a_rule_chose_write_the_rule_column() {
        let mut c = capture();
        c.answered = Some(Answered::plain(200, 0));
        assert_eq!(answered_by_column(&c), None);
        c.answered = None;
        assert_eq!(answered_by_column(&c), None);
        c.answered = Some(Answered { step: Some(3), ..Answered::plain(429, 0) });
        assert_eq!(answered_by_column(&c), Some((None, Some(3), false)));
        c.answered = Some(Answered { rule_id: Some("r".into()), timed_out: true, ..Answered::plain(504, 30_000) });
        assert_eq!(answered_by_column(&c), Some((Some("r"), None, true)));
        let written = answered_by_column(&c).map(|(r, s, t)| (r.map(String::from), s, Some(t)));
        assert_eq!(answered(answered_column(&c), written), c.answered, "round trip");
    }

    #[test]
    fn expiry_buckets_cover_the_range() {
        let mut seen = [false; EXPIRY_BUCKETS as usize];
        for _ in 0..1_000 {
            let b = expiry_bucket(EndpointId(Uuid::now_v7()));
            assert!((0..EXPIRY_BUCKETS).contains(&b), "{b}");
            seen[b as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "every bucket is used: {seen:?}");
    }

    fn capture() -> CapturedRequest {
        CapturedRequest {
            id: CaptureId(Uuid::now_v7()),
            endpoint_id: EndpointId(Uuid::now_v7()),
            team_id: TeamId(Uuid::now_v7()),
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers: Vec::new(),
            body: Bytes::new(),
            body_sha256: [0; 32],
            remote_addr: "192.0.2.1".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::from_micros(1_700_000_000_000_000),
            answered: None,
        }
    }
}
