//! Column lists and the mapping between rows and domain types.

use bytes::Bytes;
use hookmetry_core::{
    ApiToken, Attempt, CaptureId, CapturedRequest, CustomResponse, Delivery, DeliveryId, Endpoint, EndpointId,
    OutgoingRequest, Role, Team, TeamId, Timestamp, TokenId, VerificationSettings,
};
use rusqlite::Row;
use rusqlite::types::Type;

use super::error::corrupt;
use super::headers::decode_headers;
use crate::{Result, StoreError};

pub(super) const TEAM_COLUMNS: &str = "id, name, retention_days, created_at";
pub(super) const TOKEN_COLUMNS: &str =
    "id, team_id, role, name, instance_admin, hash, created_at, last_used_at, revoked";
pub(super) const ENDPOINT_COLUMNS: &str = "id, team_id, name, token, response, created_at, verification, handshakes, event_fields, scenario, \
     max_captures, expires_at";
/// The columns `put_captures` writes, in `CapturedRequest` order; the body goes to `capture_bodies`.
pub(super) const CAPTURE_INSERT_COLUMNS: &str = "id, endpoint_id, team_id, method, path, query, headers, body_size, \
                                      body_sha256, remote_addr, http_version, received_at, answered_status, answered_delay_ms, \
                                      answered_rule, answered_step, answered_timed_out";
/// What `capture_from_row` reads, the body fetched from its own table by the capture's id. In a
/// select list the subquery runs only for rows the query returns.
pub(super) const CAPTURE_COLUMNS: &str = "id, endpoint_id, team_id, method, path, query, headers, \
                               (SELECT body FROM capture_bodies WHERE capture_id = captures.id), \
                               body_sha256, remote_addr, http_version, received_at, answered_status, \
                               answered_delay_ms, answered_rule, answered_step, answered_timed_out";
/// How many columns `CAPTURE_COLUMNS` has: a listing reads what it selects after them from here.
pub(super) const CAPTURE_COLUMN_COUNT: usize = 17;
/// `CAPTURE_COLUMNS` with an empty blob in the body's place, for listings without bodies: they
/// never touch `capture_bodies`.
pub(super) const CAPTURE_COLUMNS_WITHOUT_BODY: &str = "id, endpoint_id, team_id, method, path, query, headers, x'', \
                                            body_sha256, remote_addr, http_version, received_at, \
                                            answered_status, answered_delay_ms, answered_rule, answered_step, \
                                            answered_timed_out";
pub(super) const DELIVERY_COLUMNS: &str = "id, team_id, endpoint_id, capture_id, origin, method, url, headers, body, body_sha256, \
                                edited, resigned, state, attempts, max_attempts, next_attempt_at, created_at, updated_at, \
                                trace_parent, retry_like_provider, retry_like_speed";
pub(super) const ATTEMPT_COLUMNS: &str = "delivery_id, number, started_at, latency_ms, response_status, response_headers, \
                               response_body, response_truncated, error, error_message";
pub(super) fn response_json(endpoint: &Endpoint) -> Result<Option<String>> {
    endpoint
        .response
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode endpoint response: {e}")))
}

pub(super) fn verification_json(endpoint: &Endpoint) -> Result<Option<String>> {
    endpoint
        .verification
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode endpoint verification: {e}")))
}

pub(super) fn event_fields_json(endpoint: &Endpoint) -> Result<Option<String>> {
    endpoint
        .event_fields
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode endpoint event fields: {e}")))
}

pub(super) fn scenario_json(endpoint: &Endpoint) -> Result<Option<String>> {
    (!endpoint.scenario.is_empty())
        .then(|| serde_json::to_string(&endpoint.scenario))
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode endpoint scenario: {e}")))
}

pub(super) fn team_from_row(row: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        id: TeamId::from_bytes(row.get(0)?),
        name: row.get(1)?,
        retention_days: row.get(2)?,
        created_at: Timestamp::from_micros(row.get(3)?),
    })
}

pub(super) fn token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let role: String = row.get(2)?;
    Ok(ApiToken {
        id: TokenId::from_bytes(row.get(0)?),
        team_id: TeamId::from_bytes(row.get(1)?),
        role: role.parse::<Role>().map_err(|e| corrupt(2, Type::Text, e))?,
        name: row.get(3)?,
        instance_admin: row.get(4)?,
        hash: row.get(5)?,
        created_at: Timestamp::from_micros(row.get(6)?),
        last_used_at: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_micros),
        revoked: row.get(8)?,
    })
}

pub(super) fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let response = row
        .get::<_, Option<String>>(4)?
        .map(|json| serde_json::from_str::<CustomResponse>(&json))
        .transpose()
        .map_err(|e| corrupt(4, Type::Text, e))?;
    Ok(Endpoint {
        id: EndpointId::from_bytes(row.get(0)?),
        team_id: TeamId::from_bytes(row.get(1)?),
        name: row.get(2)?,
        token: row.get(3)?,
        response,
        created_at: Timestamp::from_micros(row.get(5)?),
        verification: row
            .get::<_, Option<String>>(6)?
            .map(|json| serde_json::from_str::<VerificationSettings>(&json))
            .transpose()
            .map_err(|e| corrupt(6, Type::Text, e))?,
        handshakes: row.get(7)?,
        event_fields: row
            .get::<_, Option<String>>(8)?
            .map(|json| serde_json::from_str::<hookmetry_core::EventFields>(&json))
            .transpose()
            .map_err(|e| corrupt(8, Type::Text, e))?,
        scenario: row
            .get::<_, Option<String>>(9)?
            .map(|json| serde_json::from_str::<Vec<hookmetry_core::scenario::ScenarioRule>>(&json))
            .transpose()
            .map_err(|e| corrupt(9, Type::Text, e))?
            .unwrap_or_default(),
        max_captures: row.get::<_, Option<i64>>(10)?.map(|n| n.max(0) as u64),
        expires_at: row.get::<_, Option<i64>>(11)?.map(Timestamp::from_micros),
    })
}

pub(super) fn capture_from_row(row: &Row<'_>) -> rusqlite::Result<CapturedRequest> {
    let headers: Vec<u8> = row.get(6)?;
    Ok(CapturedRequest {
        id: CaptureId::from_bytes(row.get(0)?),
        endpoint_id: EndpointId::from_bytes(row.get(1)?),
        team_id: TeamId::from_bytes(row.get(2)?),
        method: row.get(3)?,
        path: row.get(4)?,
        query: row.get(5)?,
        headers: decode_headers(&headers).map_err(|e| corrupt(6, Type::Blob, e))?,
        body: Bytes::from(row.get::<_, Vec<u8>>(7)?),
        body_sha256: row.get(8)?,
        remote_addr: row.get(9)?,
        http_version: row.get(10)?,
        received_at: Timestamp::from_micros(row.get(11)?),
        answered: match (row.get::<_, Option<u16>>(12)?, row.get::<_, Option<u32>>(13)?) {
            (Some(status), delay) => Some(hookmetry_core::Answered {
                status,
                delay_ms: delay.unwrap_or(0),
                rule_id: row.get(14)?,
                step: row.get::<_, Option<i64>>(15)?.map(|n| n.max(0) as u64),
                timed_out: row.get::<_, Option<bool>>(16)?.unwrap_or(false),
            }),
            (None, _) => None,
        },
    })
}

/// A delivery row as read, decoded outside the SQLite callback so its errors are store errors.
pub(super) struct DeliveryRow {
    id: [u8; 16],
    team_id: [u8; 16],
    endpoint_id: [u8; 16],
    capture_id: [u8; 16],
    origin: String,
    method: String,
    url: String,
    headers: Vec<u8>,
    body: Vec<u8>,
    body_sha256: [u8; 32],
    edited: bool,
    resigned: bool,
    state: String,
    attempts: u32,
    max_attempts: u32,
    next_attempt_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    trace_parent: Option<String>,
    retry_like_provider: Option<String>,
    retry_like_speed: Option<u32>,
}

pub(super) fn delivery_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        team_id: r.get(1)?,
        endpoint_id: r.get(2)?,
        capture_id: r.get(3)?,
        origin: r.get(4)?,
        method: r.get(5)?,
        url: r.get(6)?,
        headers: r.get(7)?,
        body: r.get(8)?,
        body_sha256: r.get(9)?,
        edited: r.get(10)?,
        resigned: r.get(11)?,
        state: r.get(12)?,
        attempts: r.get(13)?,
        max_attempts: r.get(14)?,
        next_attempt_at: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
        trace_parent: r.get(18)?,
        retry_like_provider: r.get(19)?,
        retry_like_speed: r.get(20)?,
    })
}

impl DeliveryRow {
    pub(super) fn into_delivery(self) -> Result<Delivery> {
        Ok(Delivery {
            id: DeliveryId::from_bytes(self.id),
            team_id: TeamId::from_bytes(self.team_id),
            endpoint_id: EndpointId::from_bytes(self.endpoint_id),
            capture_id: CaptureId::from_bytes(self.capture_id),
            origin: crate::origin_from_str(&self.origin)?,
            request: OutgoingRequest {
                method: self.method,
                url: self.url,
                headers: decode_headers(&self.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                body: Bytes::from(self.body),
                body_sha256: self.body_sha256,
            },
            edited: self.edited,
            resigned: self.resigned,
            state: crate::state_from_str(&self.state)?,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            next_attempt_at: self.next_attempt_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(self.created_at),
            updated_at: Timestamp::from_micros(self.updated_at),
            trace_parent: self.trace_parent,
            retry_like: self.retry_like_provider.map(|provider| hookmetry_core::RetryLike {
                provider,
                speed: self.retry_like_speed.unwrap_or(1).max(1),
            }),
        })
    }
}

pub(super) struct AttemptRow {
    delivery_id: [u8; 16],
    number: u32,
    started_at: i64,
    latency_ms: i64,
    response_status: Option<u16>,
    response_headers: Vec<u8>,
    response_body: Vec<u8>,
    response_truncated: bool,
    error: Option<String>,
    error_message: Option<String>,
}

pub(super) fn attempt_row(r: &Row<'_>) -> rusqlite::Result<AttemptRow> {
    Ok(AttemptRow {
        delivery_id: r.get(0)?,
        number: r.get(1)?,
        started_at: r.get(2)?,
        latency_ms: r.get(3)?,
        response_status: r.get(4)?,
        response_headers: r.get(5)?,
        response_body: r.get(6)?,
        response_truncated: r.get(7)?,
        error: r.get(8)?,
        error_message: r.get(9)?,
    })
}

impl AttemptRow {
    pub(super) fn into_attempt(self) -> Result<Attempt> {
        Ok(Attempt {
            delivery_id: DeliveryId::from_bytes(self.delivery_id),
            number: self.number,
            started_at: Timestamp::from_micros(self.started_at),
            latency_ms: u64::try_from(self.latency_ms).unwrap_or(0),
            response_status: self.response_status,
            response_headers: decode_headers(&self.response_headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            response_body: Bytes::from(self.response_body),
            response_truncated: self.response_truncated,
            error: self.error.as_deref().map(crate::attempt_error_from_str).transpose()?,
            error_message: self.error_message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bodiless_columns_are_the_capture_columns_without_the_body() {
        let body = "(SELECT body FROM capture_bodies WHERE capture_id = captures.id)";
        assert_eq!(CAPTURE_COLUMNS.replace(body, "x''"), CAPTURE_COLUMNS_WITHOUT_BODY);
        assert_eq!(CAPTURE_COLUMNS.replace(body, "body_size"), CAPTURE_INSERT_COLUMNS);
    }
}
