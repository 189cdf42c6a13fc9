//! Replay: sending a capture (again) to a target, as captured or edited or re-signed. The API
//! only parses the request and asks `hookmetry_replay::Deliveries` to record the delivery and
//! wake a replay worker; the worker sends, retries and records attempts.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_core::{CaptureId, Header, Role};
use hookmetry_replay::{DeliveryError, EditError, Edits};
use hookmetry_store::CapturePage;
use tracing::Instrument as _;
use tracing::field::Empty;

use super::captures::CaptureFilterInput;
use super::common::{Access, parse_id, parse_target};
use super::delivery::DeliveryObject;
use super::endpoints::HeaderInput;
use crate::ApiError;

/// Most captures one `replayCaptures` call replays.
pub const MAX_BULK: u32 = 1_000;

/// Changes to the captured request before it is sent. Absent fields keep the captured value.
#[derive(InputObject, Default)]
#[graphql(name = "ReplayEdits")]
pub struct ReplayEditsInput {
    pub method: Option<String>,
    /// Path and query, e.g. `/webhooks/stripe?debug=1`, appended to the target URL's path.
    pub path: Option<String>,
    /// Replaces every captured header (hop-by-hop ones are dropped again).
    pub headers: Option<Vec<HeaderInput>>,
    /// The body as text. Give `body` or `bodyBase64`, not both.
    pub body: Option<String>,
    /// The exact body bytes.
    pub body_base64: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "ReplayCaptureInput")]
pub struct ReplayCaptureInput {
    pub capture_id: ID,
    /// `http://` or `https://` URL; the capture's path and query are appended to its path.
    pub target: String,
    pub edits: Option<ReplayEditsInput>,
    /// Replace the signature with a fresh one, made now with the endpoint's current secret, so a
    /// receiver that checks timestamps accepts the replay. The capture keeps the original.
    #[graphql(default)]
    pub resign: bool,
    /// Retry as this provider does (`stripe`, `slack`, …; `hookmetry trigger
    /// --list-retry-profiles`): its waits and its number of retries instead of the server's
    /// backoff.
    pub retry_like: Option<String>,
    /// Divide the provider's waits by this, 1 (real time) to 1e9; default: the whole schedule in
    /// about a minute. Only with `retryLike`.
    pub retry_speed: Option<i64>,
}

#[derive(InputObject)]
#[graphql(name = "ReplayCapturesInput")]
pub struct ReplayCapturesInput {
    pub endpoint_id: ID,
    pub filter: Option<CaptureFilterInput>,
    pub target: String,
    /// At most this many captures, newest first (default 100, at most 1000).
    pub limit: Option<i32>,
    #[graphql(default)]
    pub resign: bool,
    /// As in `replayCapture`.
    pub retry_like: Option<String>,
    /// As in `replayCapture`.
    pub retry_speed: Option<i64>,
}

#[derive(SimpleObject)]
#[graphql(name = "ReplayCapturesPayload")]
pub struct ReplayCapturesPayload {
    /// One per replayed capture, newest capture first.
    pub deliveries: Vec<DeliveryObject>,
    /// Whether more captures matched than `limit`.
    pub has_more: bool,
}

#[derive(Default)]
pub struct ReplayMutation;

#[Object]
impl ReplayMutation {
    /// Sends a capture to `target`, as captured (byte for byte) or with `edits`, with retries on
    /// the server's schedule. Answers at once with the pending delivery; follow it with
    /// `delivery(id)` or the `deliveryUpdated` subscription.
    async fn replay_capture(&self, c: &Context<'_>, input: ReplayCaptureInput) -> Result<DeliveryObject, ApiError> {
        let span = replay_span("replayCapture");
        let result = async {
            let a = Access::of(c);
            let replay = &a.ctx.replay;
            let id: CaptureId = parse_id("captureId", &input.capture_id)?;
            let capture = a.ctx.store.capture(id).await?.filter(|c| a.caller.can_read(c.team_id));
            let capture = capture.ok_or(ApiError::NotFound("capture"))?;
            a.require(capture.team_id, Role::Editor, "replay captures")?;
            let target = parse_target(&input.target, &replay.policy, &a.ctx.settings.own_base_urls)?;
            let edits = input.edits.map(ReplayEditsInput::into_edits).transpose()?.unwrap_or_default();
            match &edits.path {
                Some(path) => check_path(path.split('?').next().unwrap_or_default())
                    .map_err(|e| rename_field(e, "edits.path".into()))?,
                None => check_path(&capture.path)?,
            }
            let retry_like = retry_like(input.retry_like.as_deref(), input.retry_speed)?;
            let prepared = hookmetry_replay::with_edits(&capture, &target, &edits).map_err(edit_error)?;
            let delivery = a
                .ctx
                .deliveries
                .replay(&capture, prepared, input.resign, replay.max_attempts, retry_like)
                .await
                .map_err(delivery_error)?;
            Ok(DeliveryObject(delivery))
        }
        .instrument(span.clone())
        .await;
        end_replay_span(&span, result.as_ref().map(|_| 1));
        result
    }

    /// Replays up to `limit` captures of an endpoint that pass `filter`, newest first, each as
    /// captured, to `target`.
    async fn replay_captures(
        &self,
        c: &Context<'_>,
        input: ReplayCapturesInput,
    ) -> Result<ReplayCapturesPayload, ApiError> {
        let span = replay_span("replayCaptures");
        let result = async {
            let a = Access::of(c);
            let replay = &a.ctx.replay;
            let endpoint = a.editable_endpoint(&input.endpoint_id, "replay captures").await?;
            let endpoint_id = endpoint.id;
            let target = parse_target(&input.target, &replay.policy, &a.ctx.settings.own_base_urls)?;
            let limit = match input.limit {
                None => 100,
                Some(n) if !(1..=MAX_BULK as i32).contains(&n) => {
                    return Err(ApiError::bad("limit", format!("must be 1 to {MAX_BULK}, got {n}")));
                }
                Some(n) => n as u32,
            };
            let filter = input.filter.map(CaptureFilterInput::validate).transpose()?.unwrap_or_default();
            let retry_like = retry_like(input.retry_like.as_deref(), input.retry_speed)?;
            let page = a
                .ctx
                .store
                .captures(endpoint_id, &CapturePage { limit, before: None, filter, without_bodies: false })
                .await?;
            let made = a
                .ctx
                .deliveries
                .replay_each(&page.items, &target, input.resign, replay.max_attempts, retry_like)
                .await
                .map_err(delivery_error)?;
            Ok(ReplayCapturesPayload {
                deliveries: made.into_iter().map(DeliveryObject).collect(),
                has_more: page.has_more,
            })
        }
        .instrument(span.clone())
        .await;
        end_replay_span(&span, result.as_ref().map(|p| p.deliveries.len()));
        result
    }
}

/// `retryLike` and `retrySpeed` as a delivery keeps them; a speed without a provider is refused.
fn retry_like(provider: Option<&str>, speed: Option<i64>) -> Result<Option<hookmetry_core::RetryLike>, ApiError> {
    match (provider, speed) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ApiError::bad("retrySpeed", "needs `retryLike`: the provider whose waits it divides")),
        (Some(p), speed) => hookmetry_replay::retry_like(p, speed).map(Some).map_err(|(f, m)| ApiError::bad(f, m)),
    }
}

fn rename_field(e: ApiError, field: String) -> ApiError {
    match e {
        ApiError::BadInput { message, .. } => ApiError::bad(field, message),
        other => other,
    }
}

/// Refuses a capture whose path would climb out of the target's path when joined to it.
fn check_path(path: &str) -> Result<(), ApiError> {
    if hookmetry_core::path_climbs(path) {
        return Err(ApiError::bad(
            "captureId",
            format!(
                "the capture path `{path}` climbs above the target's path through `..` segments; it cannot be replayed"
            ),
        ));
    }
    Ok(())
}

fn edit_error(e: EditError) -> ApiError {
    let field = match e {
        EditError::Method(_) => "edits.method",
        EditError::Path => "edits.path",
        EditError::HeaderName(_) | EditError::HeaderValue(_) => "edits.headers",
    };
    ApiError::bad(field, e.to_string())
}

impl ReplayEditsInput {
    fn into_edits(self) -> Result<Edits, ApiError> {
        let body = match (self.body, self.body_base64) {
            (Some(_), Some(_)) => return Err(ApiError::bad("edits.body", "give `body` or `bodyBase64`, not both")),
            (Some(text), None) => Some(bytes::Bytes::from(text)),
            (None, Some(b64)) => Some(bytes::Bytes::from(
                B64.decode(b64.trim()).map_err(|e| ApiError::bad("edits.bodyBase64", format!("is not base64: {e}")))?,
            )),
            (None, None) => None,
        };
        Ok(Edits {
            method: self.method,
            path: self.path,
            headers: self.headers.map(|hs| hs.into_iter().map(|h| Header::new(h.name, h.value)).collect()),
            body,
        })
    }
}

/// The root span of a replay mutation. A `traceparent` the API caller sent is not continued: a
/// replay starts a trace of its own, in which every attempt of its deliveries is made.
fn replay_span(operation: &'static str) -> tracing::Span {
    tracing::info_span!(
        parent: None,
        "replay request",
        otel.kind = "server",
        operation,
        deliveries = Empty,
        error = Empty,
        otel.status_code = Empty,
    )
}

fn end_replay_span(span: &tracing::Span, result: Result<usize, &ApiError>) {
    match result {
        Ok(n) => {
            span.record("deliveries", i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => {
            span.record("error", e.code());
            if e.status().is_server_error() {
                span.record("otel.status_code", "error");
            }
        }
    }
}

/// The delivery error as the API answers it: a re-signing that cannot be done is bad input.
pub(crate) fn delivery_error(e: DeliveryError) -> ApiError {
    match e {
        DeliveryError::Store(e) => e.into(),
        DeliveryError::Resign(e) => ApiError::bad("resign", e.to_string()),
    }
}
