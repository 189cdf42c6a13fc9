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
use hookmetry_core::{Attempt, CaptureId, EndpointId, Header, OutgoingRequest, Role, Timestamp};
use hookmetry_replay::{ListenerDelivery, ListenerError, ListenerReport};
use hookmetry_store::{LeaseOutcome, ListenerClaim, ListenerLease};

use super::common::{Access, parse_id, validate_listener_name};
use super::delivery::{AttemptErrorValue, DeliveryObject};
use crate::ApiError;

/// Most attempts a listener may give one capture.
pub const MAX_LISTENER_ATTEMPTS: i32 = 1_000;
/// Most response body bytes a report may carry; the listener truncates before sending.
pub const MAX_REPORTED_BODY: usize = 64 * 1024;
/// How long a listener's lease lasts unless renewed; listeners renew every third of it.
pub const LEASE_TTL_SECS: i64 = 30;
/// Longest holder id and description a listener may give.
const MAX_HOLDER: usize = 200;

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
    /// For a durable listener: the newest capture such that it finished every capture up to it,
    /// where the cursor moves (it never moves back). Without it, a finished capture moves the
    /// cursor to itself, which skips earlier captures still being retried.
    pub cursor: Option<ID>,
}

#[derive(InputObject)]
#[graphql(name = "StartListenerInput")]
pub struct StartListenerInput {
    pub endpoint_id: ID,
    pub name: String,
    /// Made up by the process at start; renewals and the stop must give the same one.
    pub holder: String,
    /// For people: where it runs, e.g. `laptop.local pid 4711`.
    #[graphql(default)]
    pub description: String,
    /// Take the name from a listener still running (it stops at its next renewal).
    #[graphql(default)]
    pub takeover: bool,
}

#[derive(InputObject)]
#[graphql(name = "ListenerLeaseInput")]
pub struct ListenerLeaseInput {
    pub endpoint_id: ID,
    pub name: String,
    pub holder: String,
    /// As given to `startListener`.
    #[graphql(default)]
    pub description: String,
}

#[derive(SimpleObject)]
#[graphql(name = "ListenerStart")]
pub struct ListenerStartObject {
    /// Where the listener stands: captures after this one are its to deliver.
    pub cursor: ListenerCursorObject,
    /// RFC 3339: the lease ends then unless renewed.
    pub lease_expires_at: String,
}

#[derive(SimpleObject)]
#[graphql(name = "ListenerLease")]
pub struct ListenerLeaseObject {
    /// RFC 3339.
    pub expires_at: String,
}

/// A capture's request as a listener should send it now: the signature made again.
#[derive(SimpleObject)]
#[graphql(name = "ResignedRequest")]
pub struct ResignedRequestObject {
    /// Every header in order, the signature's replaced in place.
    pub headers: Vec<super::captures::HeaderObject>,
    /// Only for schemes that sign inside the body (e.g. Mailgun); null keeps the captured body.
    pub body_base64: Option<String>,
}

fn holder_field(field: &'static str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() && field == "holder" || v.len() > MAX_HOLDER || v.chars().any(char::is_control) {
        return Err(ApiError::bad(field, format!("must be 1 to {MAX_HOLDER} printable characters")));
    }
    Ok(v.to_owned())
}

/// The name is the caller's, or refused: a teammate's listener, cursor and delivery records
/// are not another token's to write. Only a durable (named) listener claims a new name: an
/// unnamed one reports under a name made up per run, and claiming those would fill the
/// endpoint's names with dead runs (a limit of 0 claims nothing new and still says who holds
/// an existing name).
async fn claim(
    a: &Access<'_>,
    endpoint: EndpointId,
    name: &str,
    durable: bool,
    now: Timestamp,
) -> Result<(), ApiError> {
    let limit = if durable { a.ctx.settings.max_listeners_per_endpoint } else { 0 };
    match a.ctx.store.claim_listener(endpoint, name, a.caller.token_id, limit, now).await? {
        ListenerClaim::Owned => Ok(()),
        ListenerClaim::Full { .. } if !durable => Ok(()),
        ListenerClaim::Taken { .. } => Err(ApiError::NotOwner(format!(
            "listener `{name}` belongs to another token: only the token that first reported under it may write under it (choose another --name)"
        ))),
        ListenerClaim::Full { limit } => Err(ApiError::LimitExceeded(format!(
            "this endpoint already has {limit} listener names (api.max_listeners_per_endpoint); reuse one with --name"
        ))),
    }
}

/// The endpoint, name and holder of a lease call, after the caller's role is checked.
async fn lease_input(a: &Access<'_>, input: &ListenerLeaseInput) -> Result<(EndpointId, String, String), ApiError> {
    let endpoint_id: EndpointId = parse_id("endpointId", &input.endpoint_id)?;
    let name = validate_listener_name("name", &input.name)?;
    let holder = holder_field("holder", &input.holder)?;
    let endpoint = a.endpoint(endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    a.require(endpoint.team_id, Role::Editor, "run a named listener (needs EDITOR)")?;
    claim(a, endpoint_id, &name, true, Timestamp::now()).await?;
    Ok((endpoint_id, name, holder))
}

/// `at` as people read it in an error: `2026-12-05 14:03:07 UTC`.
fn when(at: Timestamp) -> String {
    let t = at.to_rfc3339();
    format!("{} UTC", t.get(..19).unwrap_or(&t).replace('T', " "))
}

#[derive(Default)]
pub struct ListenMutation;

#[Object]
impl ListenMutation {
    /// Starts a named listener: claims the name for the calling token, takes its lease (a
    /// running listener of that name is refused with CONFLICT unless `takeover`), and gives it
    /// a cursor at the newest capture when it has none, so nothing sent from now on is ever
    /// skipped. Needs EDITOR.
    async fn start_listener(
        &self,
        c: &Context<'_>,
        input: StartListenerInput,
    ) -> Result<ListenerStartObject, ApiError> {
        let a = Access::of(c);
        let endpoint_id: EndpointId = parse_id("endpointId", &input.endpoint_id)?;
        let name = validate_listener_name("name", &input.name)?;
        let holder = holder_field("holder", &input.holder)?;
        let description = holder_field("description", &input.description)?;
        let endpoint = a.endpoint(endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        a.require(endpoint.team_id, Role::Editor, "start a named listener (needs EDITOR)")?;
        let now = Timestamp::now();
        claim(&a, endpoint_id, &name, true, now).await?;
        let before = a.ctx.store.listener_cursor(endpoint_id, &name).await?;
        let lease = ListenerLease {
            holder,
            description,
            acquired_at: now,
            expires_at: Timestamp::from_micros(now.micros() + LEASE_TTL_SECS * 1_000_000),
        };
        let held = match a.ctx.store.lease_listener(endpoint_id, &name, &lease, now, input.takeover).await? {
            LeaseOutcome::Held(l) => l,
            LeaseOutcome::Busy(other) => {
                return Err(ApiError::Conflict(format!(
                    "listener `{name}` is already running ({}, since {}, lease until {}): stop it first, or take over with --takeover",
                    other.description,
                    when(other.acquired_at),
                    when(other.expires_at)
                )));
            }
        };
        let cursor = match before {
            Some(c) => c,
            None => {
                // The newest capture stored now, or, for an endpoint without any, the first id
                // possible from now on: either way the cursor exists before anything is missed.
                let start = a
                    .ctx
                    .store
                    .captures(
                        endpoint_id,
                        &hookmetry_store::CapturePage { limit: 1, without_bodies: true, ..Default::default() },
                    )
                    .await?
                    .items
                    .first()
                    .map_or_else(|| CaptureId::floor_at(now), |c| c.id);
                a.ctx.store.advance_listener(endpoint_id, &name, start, now).await?;
                a.ctx.store.listener_cursor(endpoint_id, &name).await?.ok_or(ApiError::NotFound("endpoint"))?
            }
        };
        Ok(ListenerStartObject {
            cursor: ListenerCursorObject {
                capture_id: ID(cursor.capture_id.to_string()),
                updated_at: cursor.updated_at.to_rfc3339(),
            },
            lease_expires_at: held.expires_at.to_rfc3339(),
        })
    }

    /// Renews a listener's lease; CONFLICT when another process took the name over (the
    /// listener should stop). Needs EDITOR.
    async fn renew_listener(
        &self,
        c: &Context<'_>,
        input: ListenerLeaseInput,
    ) -> Result<ListenerLeaseObject, ApiError> {
        let a = Access::of(c);
        let (endpoint_id, name, holder) = lease_input(&a, &input).await?;
        let description = holder_field("description", &input.description)?;
        let now = Timestamp::now();
        let lease = ListenerLease {
            holder,
            description,
            acquired_at: now,
            expires_at: Timestamp::from_micros(now.micros() + LEASE_TTL_SECS * 1_000_000),
        };
        // Never a takeover: a process that lost the name finds it held by the one that took it,
        // and stops. Its own lease, lapsed while it could not renew (a laptop asleep), it
        // simply takes again when nobody else has.
        match a.ctx.store.lease_listener(endpoint_id, &name, &lease, now, false).await? {
            LeaseOutcome::Held(l) => Ok(ListenerLeaseObject { expires_at: l.expires_at.to_rfc3339() }),
            LeaseOutcome::Busy(other) => Err(ApiError::Conflict(format!(
                "listener `{name}` was taken over by {} at {}",
                other.description,
                when(other.acquired_at)
            ))),
        }
    }

    /// Ends a listener's lease so the name is free at once. Needs EDITOR.
    async fn stop_listener(&self, c: &Context<'_>, input: ListenerLeaseInput) -> Result<bool, ApiError> {
        let a = Access::of(c);
        let (endpoint_id, name, holder) = lease_input(&a, &input).await?;
        a.ctx.store.release_listener(endpoint_id, &name, &holder).await?;
        Ok(true)
    }

    /// The capture's headers with its signature made again now with the endpoint's current
    /// secret, as `hookmetry listen --resign` forwards it to `target` (schemes that sign the
    /// URL sign this one). Needs EDITOR: the answer is a valid signature.
    async fn resigned_capture(
        &self,
        c: &Context<'_>,
        capture_id: ID,
        target: String,
    ) -> Result<ResignedRequestObject, ApiError> {
        let a = Access::of(c);
        let capture_id: CaptureId = parse_id("captureId", &capture_id)?;
        let capture = a.ctx.store.capture(capture_id).await?.filter(|c| a.caller.can_read(c.team_id));
        let capture = capture.ok_or(ApiError::NotFound("capture"))?;
        a.require(capture.team_id, Role::Editor, "re-sign captures (needs EDITOR)")?;
        let target = hookmetry_egress::Url::parse(target.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ApiError::bad("target", "must be an http:// or https:// URL"))?;
        let endpoint = a.ctx.store.endpoint(capture.endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        let mut request = OutgoingRequest {
            method: capture.method.clone(),
            url: target.to_string(),
            headers: capture.headers.clone(),
            body: capture.body.clone(),
            body_sha256: capture.body_sha256,
        };
        hookmetry_replay::resign(&endpoint, &mut request, Timestamp::now())
            .map_err(|e| ApiError::bad("resign", e.to_string()))?;
        let body_base64 = (request.body_sha256 != capture.body_sha256).then(|| B64.encode(&request.body));
        Ok(ResignedRequestObject {
            headers: request
                .headers
                .into_iter()
                .map(|h| super::captures::HeaderObject { name: h.name, value: h.value.to_vec() })
                .collect(),
            body_base64,
        })
    }

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
        claim(&a, capture.endpoint_id, &name, input.durable, now).await?;
        let cursor: Option<CaptureId> = input.cursor.as_ref().map(|c| parse_id("cursor", c)).transpose()?;
        let listener = ListenerDelivery {
            name: &name,
            missed: input.missed,
            target: &target,
            max_attempts: input.max_attempts as u32,
            now,
        };
        let report = ListenerReport { attempt, started_at, last: input.last, durable: input.durable, cursor };
        let delivery =
            a.ctx.deliveries.report_listener_attempt(&capture, listener, report).await.map_err(|e| match e {
                ListenerError::Store(e) => e.into(),
                e @ ListenerError::AttemptsExhausted { .. } => ApiError::bad("maxAttempts", e.to_string()),
            })?;
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
