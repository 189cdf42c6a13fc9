//! `hookmetry listen`: a developer's machine forwards captures to its own local server and
//! reports every attempt here, so teammates see them as deliveries of the capture.
//!
//! The server sends nothing for a listener: the delivery a report creates is pending with no
//! due time, so replay workers never pick it up. A named listener also keeps a cursor (the newest
//! capture it finished), which is where it resumes after being offline.
//!
//! Role: watching captures live and forwarding them needs `VIEWER`; reporting attempts needs
//! `EDITOR`, because a report writes: it records delivery outcomes teammates rely on and moves
//! the listener's cursor. A name belongs to the token that first reported under it; other tokens
//! may read its cursor but not write under it. Reports are bounded: `maxAttempts` per delivery
//! and `api.max_listeners_per_endpoint` names per endpoint. A listener delivery references the
//! capture's body instead of storing a copy.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_core::{
    Attempt, CaptureId, Delivery, DeliveryOrigin, DeliveryState, EndpointId, Header, OutgoingRequest, Role, Timestamp,
};
use hookmetry_store::{DeliveryProgress, ListenerClaim};

use super::replay::{AttemptErrorValue, DeliveryObject};
use super::{Access, parse_id};
use crate::ApiError;

/// Longest listener name.
pub const MAX_NAME: usize = 64;
/// Most attempts a listener may give one capture.
pub const MAX_LISTENER_ATTEMPTS: i32 = 1_000;
/// Most response body bytes a report may carry; the listener truncates before sending.
pub const MAX_REPORTED_BODY: usize = 64 * 1024;

/// `letters, digits, '.', '-', '_'`, 1 to [`MAX_NAME`]: no `:`, which separates the parts of a
/// stored delivery origin.
pub(crate) fn validate_listener_name(field: &'static str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(ApiError::bad(field, format!("must be 1 to {MAX_NAME} letters, digits, `.`, `-` or `_`")));
    }
    Ok(name.to_owned())
}

#[derive(SimpleObject)]
#[graphql(name = "ListenerCursor")]
pub struct ListenerCursorObject {
    /// The newest capture the listener finished (delivered or gave up on).
    pub capture_id: ID,
    /// RFC 3339: when it finished it.
    pub updated_at: String,
}

#[derive(Default)]
pub struct ListenQuery;

#[Object]
impl ListenQuery {
    /// Where the named listener of an endpoint stands; null before it finished any capture.
    async fn listener_cursor(
        &self,
        c: &Context<'_>,
        endpoint_id: ID,
        name: String,
    ) -> Result<Option<ListenerCursorObject>, ApiError> {
        let a = Access::of(c);
        let endpoint_id: EndpointId = parse_id("endpointId", &endpoint_id)?;
        let name = validate_listener_name("name", &name)?;
        a.endpoint(endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        Ok(a.ctx.store.listener_cursor(endpoint_id, &name).await?.map(|c| ListenerCursorObject {
            capture_id: ID(c.capture_id.to_string()),
            updated_at: c.updated_at.to_rfc3339(),
        }))
    }
}

/// What one attempt of a listener met.
#[derive(InputObject)]
#[graphql(name = "ListenerAttemptInput")]
pub struct ListenerAttemptInput {
    /// RFC 3339; default: when the report arrives.
    pub started_at: Option<String>,
    pub latency_ms: i32,
    /// Null when no response came.
    pub response_status: Option<i32>,
    /// Null for a 2xx answer.
    pub error: Option<AttemptErrorValue>,
    pub error_message: Option<String>,
    #[graphql(default)]
    pub response_headers: Vec<super::endpoints::HeaderInput>,
    /// The first bytes of the response body (at most 64 KiB).
    #[graphql(default)]
    pub response_body_base64: String,
    #[graphql(default)]
    pub response_truncated: bool,
}

#[derive(InputObject)]
#[graphql(name = "ReportListenerAttemptInput")]
pub struct ReportListenerAttemptInput {
    pub capture_id: ID,
    /// The listener's name: `--name`, or one made up for a single run.
    pub listener: String,
    /// The full URL the listener sent the capture to.
    pub target: String,
    /// The listener was offline when the capture arrived.
    #[graphql(default)]
    pub missed: bool,
    /// Keep the listener's cursor (named listeners, which resume where they stopped).
    #[graphql(default)]
    pub durable: bool,
    /// How many attempts the listener makes before giving up.
    pub max_attempts: i32,
    pub attempt: ListenerAttemptInput,
    /// The listener gives up after this attempt: a failure dead-letters the delivery.
    #[graphql(default)]
    pub last: bool,
}

#[derive(Default)]
pub struct ListenMutation;

#[Object]
impl ListenMutation {
    /// Records one attempt `hookmetry listen` made to forward a capture to its local server.
    /// The first report of a capture and listener creates the delivery (`origin:
    /// "listener:<name>"`); attempts are numbered in the order reported. A 2xx answer succeeds
    /// the delivery, a failure with `last` dead-letters it; either moves a durable listener's
    /// cursor to the capture.
    async fn report_listener_attempt(
        &self,
        c: &Context<'_>,
        input: ReportListenerAttemptInput,
    ) -> Result<DeliveryObject, ApiError> {
        let a = Access::of(c);
        let capture_id: CaptureId = parse_id("captureId", &input.capture_id)?;
        let name = validate_listener_name("listener", &input.listener)?;
        let target = hookmetry_egress::Url::parse(input.target.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ApiError::bad("target", "must be an http:// or https:// URL"))?;
        if !(1..=MAX_LISTENER_ATTEMPTS).contains(&input.max_attempts) {
            return Err(ApiError::bad("maxAttempts", format!("must be 1 to {MAX_LISTENER_ATTEMPTS}")));
        }
        let (started_at, attempt) = validate_attempt(input.attempt)?;
        let capture = a.ctx.store.capture(capture_id).await?.filter(|c| a.caller.can_read(c.team_id));
        let capture = capture.ok_or(ApiError::NotFound("capture"))?;
        a.require(capture.team_id, Role::Editor, "report listener attempts (needs EDITOR)")?;

        let now = Timestamp::now();
        // The name is the reporting token's, or refused: a teammate's listener, cursor and
        // delivery records are not another token's to write.
        // Only a durable (named) listener claims its name: an unnamed one reports under a name
        // made up per run, and claiming those would fill the endpoint's names with dead runs.
        // Either may write only under a name no other token holds (a limit of 0 claims nothing
        // new and still says who holds an existing name).
        let limit = if input.durable { a.ctx.settings.max_listeners_per_endpoint } else { 0 };
        match a.ctx.store.claim_listener(capture.endpoint_id, &name, a.caller.token_id, limit, now).await? {
            ListenerClaim::Owned => {}
            ListenerClaim::Full { .. } if !input.durable => {}
            ListenerClaim::Taken { .. } => {
                return Err(ApiError::NotOwner(format!(
                    "listener `{name}` belongs to another token: only the token that first reported under it may write under it (choose another --name)"
                )));
            }
            ListenerClaim::Full { limit } => {
                return Err(ApiError::LimitExceeded(format!(
                    "this endpoint already has {limit} listener names (api.max_listeners_per_endpoint); reuse one with --name"
                )));
            }
        }
        let id = DeliveryOrigin::listener_delivery_id(capture.id, &name);
        let delivery = match a.ctx.store.delivery(id).await? {
            Some(d) => d,
            None => {
                let d = Delivery {
                    id,
                    team_id: capture.team_id,
                    endpoint_id: capture.endpoint_id,
                    capture_id: capture.id,
                    origin: DeliveryOrigin::Listener { name: name.clone(), missed: input.missed },
                    request: OutgoingRequest {
                        method: capture.method.clone(),
                        url: target.to_string(),
                        headers: hookmetry_core::forwarded_headers(&capture.headers),
                        // Referenced, not copied: the listener sent the capture's own body,
                        // and `Delivery.body*` read it from the capture (see `listener_body`).
                        body: bytes::Bytes::new(),
                        body_sha256: capture.body_sha256,
                    },
                    edited: false,
                    resigned: false,
                    state: DeliveryState::Pending,
                    attempts: 0,
                    max_attempts: input.max_attempts as u32,
                    // Never due: no replay worker sends a listener's delivery.
                    next_attempt_at: None,
                    created_at: now,
                    updated_at: now,
                    // `hookmetry listen` is not traced: its attempts happen on the user's machine.
                    trace_parent: None,
                };
                // First write wins: two reports racing for a new delivery store one.
                a.ctx.store.put_delivery(&d).await?;
                a.ctx.store.delivery(id).await?.unwrap_or(d)
            }
        };
        let finished = if delivery.state.is_final() {
            // Already finished (a report repeated after a lost answer): nothing changes.
            true
        } else if delivery.attempts >= delivery.max_attempts {
            return Err(ApiError::bad(
                "maxAttempts",
                format!(
                    "this delivery already has {} attempts, its maxAttempts; report the last one with `last: true`",
                    delivery.attempts
                ),
            ));
        } else {
            let number = delivery.attempts + 1;
            let state = match (&attempt.error, input.last) {
                (None, _) => DeliveryState::Succeeded,
                (Some(_), true) => DeliveryState::DeadLettered,
                (Some(_), false) => DeliveryState::Pending,
            };
            let attempt = Attempt { delivery_id: id, number, started_at: started_at.unwrap_or(now), ..attempt };
            let progress = DeliveryProgress { state, attempts: number, next_attempt_at: None, updated_at: now };
            a.ctx.store.record_attempt(&attempt, &progress).await?;
            state.is_final()
        };
        if finished && input.durable {
            a.ctx.store.advance_listener(capture.endpoint_id, &name, capture.id, now).await?;
        }
        let delivery = a.ctx.store.delivery(id).await?.ok_or(ApiError::NotFound("delivery"))?;
        if let Some(replay) = a.ctx.replay.as_ref() {
            super::replay::announce(replay, &delivery).await;
        }
        Ok(DeliveryObject(delivery))
    }
}

/// The attempt as stored, but for its delivery and number, and its start time when given.
fn validate_attempt(input: ListenerAttemptInput) -> Result<(Option<Timestamp>, Attempt), ApiError> {
    let started_at = input
        .started_at
        .map(|s| Timestamp::parse_rfc3339(&s).map_err(|e| ApiError::bad("attempt.startedAt", e)))
        .transpose()?;
    if input.latency_ms < 0 {
        return Err(ApiError::bad("attempt.latencyMs", "must not be negative"));
    }
    let status = match input.response_status {
        None => None,
        Some(s) if (100..=599).contains(&s) => Some(s as u16),
        Some(s) => return Err(ApiError::bad("attempt.responseStatus", format!("must be 100 to 599, got {s}"))),
    };
    let body = B64
        .decode(input.response_body_base64.trim())
        .map_err(|e| ApiError::bad("attempt.responseBodyBase64", format!("is not base64: {e}")))?;
    if body.len() > MAX_REPORTED_BODY {
        return Err(ApiError::bad("attempt.responseBodyBase64", format!("must be at most {MAX_REPORTED_BODY} bytes")));
    }
    let success = status.is_some_and(|s| (200..300).contains(&s));
    let error = match (input.error, success) {
        (None, true) => None,
        (Some(_), true) => return Err(ApiError::bad("attempt.error", "must be null for a 2xx answer")),
        (Some(e), false) => Some(e.into()),
        (None, false) => {
            return Err(ApiError::bad("attempt.error", "must say why an attempt without a 2xx answer failed"));
        }
    };
    let attempt = Attempt {
        delivery_id: hookmetry_core::DeliveryId::from_bytes([0; 16]),
        number: 0,
        started_at: Timestamp::from_micros(0),
        latency_ms: input.latency_ms as u64,
        response_status: status,
        response_headers: input.response_headers.into_iter().map(|h| Header::new(h.name, h.value)).collect(),
        response_body: body.into(),
        response_truncated: input.response_truncated,
        error,
        error_message: input.error_message,
    };
    Ok((started_at, attempt))
}
