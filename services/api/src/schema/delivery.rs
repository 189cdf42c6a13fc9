//! Deliveries as the API shows them (a capture sent again, with its attempts), cancelling one,
//! and following their changes live.

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::Stream;
use hookmetry_core::{
    Attempt, AttemptError, CaptureId, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, EndpointId, Role, Timestamp,
};
use hookmetry_proto::DeliveryUpdate;
use sha2::Digest;

use super::captures::{CaptureObject, HeaderObject};
use super::common::{Access, load_capture, parse_id};
use crate::ApiError;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "DeliveryState")]
pub enum DeliveryStateValue {
    /// Waiting for its first attempt or a retry (`nextAttemptAt`).
    Pending,
    Succeeded,
    /// Every attempt failed; nothing more happens unless it is replayed again.
    DeadLettered,
    Cancelled,
}

impl From<DeliveryState> for DeliveryStateValue {
    fn from(s: DeliveryState) -> Self {
        match s {
            DeliveryState::Pending => Self::Pending,
            DeliveryState::Succeeded => Self::Succeeded,
            DeliveryState::DeadLettered => Self::DeadLettered,
            DeliveryState::Cancelled => Self::Cancelled,
        }
    }
}

/// Why an attempt failed.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "AttemptError")]
pub enum AttemptErrorValue {
    /// No connection: refused, unreachable, or the name did not resolve.
    Connect,
    Timeout,
    /// The connection broke during the request or the response.
    Reset,
    /// The target's address is not allowed on this server (private, loopback, metadata…).
    Refused,
    Tls,
    /// The target answered with a status that is not 2xx.
    Status,
    Other,
}

impl From<AttemptErrorValue> for AttemptError {
    fn from(e: AttemptErrorValue) -> Self {
        match e {
            AttemptErrorValue::Connect => Self::Connect,
            AttemptErrorValue::Timeout => Self::Timeout,
            AttemptErrorValue::Reset => Self::Reset,
            AttemptErrorValue::Refused => Self::Refused,
            AttemptErrorValue::Tls => Self::Tls,
            AttemptErrorValue::Status => Self::Status,
            AttemptErrorValue::Other => Self::Other,
        }
    }
}

impl From<AttemptError> for AttemptErrorValue {
    fn from(e: AttemptError) -> Self {
        match e {
            AttemptError::Connect => Self::Connect,
            AttemptError::Timeout => Self::Timeout,
            AttemptError::Reset => Self::Reset,
            AttemptError::Refused => Self::Refused,
            AttemptError::Tls => Self::Tls,
            AttemptError::Status => Self::Status,
            AttemptError::Other => Self::Other,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CancelDeliveryPayload")]
pub struct CancelDeliveryPayload {
    pub delivery: DeliveryObject,
    /// False when the delivery had already finished (succeeded, dead-lettered or cancelled).
    pub cancelled: bool,
}

#[derive(Default)]
pub struct DeliveryQuery;

#[Object]
impl DeliveryQuery {
    /// A delivery the caller may see, or null.
    async fn delivery(&self, c: &Context<'_>, id: ID) -> Result<Option<DeliveryObject>, ApiError> {
        let a = Access::of(c);
        let id: DeliveryId = parse_id("id", &id)?;
        Ok(a.ctx.store.delivery(id).await?.filter(|d| a.caller.can_read(d.team_id)).map(DeliveryObject))
    }
}

#[derive(Default)]
pub struct DeliveryMutation;

#[Object]
impl DeliveryMutation {
    /// Stops a pending delivery: no further attempt is made. An attempt already on its way
    /// still finishes and is recorded.
    async fn cancel_delivery(&self, c: &Context<'_>, id: ID) -> Result<CancelDeliveryPayload, ApiError> {
        let a = Access::of(c);
        let id: DeliveryId = parse_id("id", &id)?;
        let found = a.ctx.store.delivery(id).await?.filter(|d| a.caller.can_read(d.team_id));
        let delivery = found.ok_or(ApiError::NotFound("delivery"))?;
        a.require(delivery.team_id, Role::Editor, "cancel deliveries")?;
        let cancelled = a.ctx.store.cancel_delivery(id, Timestamp::now()).await?;
        let now = a.ctx.store.delivery(id).await?.ok_or(ApiError::NotFound("delivery"))?;
        if cancelled {
            a.ctx.announcer.delivery(&now).await;
        }
        Ok(CancelDeliveryPayload { delivery: DeliveryObject(now), cancelled })
    }
}

/// A capture sent (again) to a target, with its attempts.
pub struct DeliveryObject(pub Delivery);

impl DeliveryObject {
    /// The body sent. A listener's delivery references its capture's body instead of storing a
    /// copy (`hookmetry_replay::Deliveries::for_listener`): it is read from the capture, which the
    /// delivery's team can read.
    async fn body(&self, c: &Context<'_>) -> Result<bytes::Bytes, ApiError> {
        let r = &self.0.request;
        let referenced = matches!(self.0.origin, DeliveryOrigin::Listener { .. })
            && r.body.is_empty()
            && r.body_sha256 != <[u8; 32]>::from(sha2::Sha256::digest(b""));
        if !referenced {
            return Ok(r.body.clone());
        }
        let capture = load_capture(Access::of(c).ctx, self.0.capture_id).await?;
        Ok(capture.map(|c| c.body).unwrap_or_default())
    }
}

#[Object(name = "Delivery")]
impl DeliveryObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn state(&self) -> DeliveryStateValue {
        self.0.state.into()
    }
    async fn capture_id(&self) -> ID {
        ID(self.0.capture_id.to_string())
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
    }
    /// The captured request, as stored; null when it was deleted meanwhile.
    async fn capture(&self, c: &Context<'_>) -> Result<Option<CaptureObject>, ApiError> {
        Ok(load_capture(Access::of(c).ctx, self.0.capture_id).await?.map(CaptureObject::loaded))
    }
    /// `manual`, `rule:<id>` for a forwarding rule, or `listener:<name>` for `hookmetry listen`.
    async fn origin(&self) -> String {
        match &self.0.origin {
            DeliveryOrigin::Manual => "manual".into(),
            DeliveryOrigin::Rule { rule_id } => format!("rule:{rule_id}"),
            DeliveryOrigin::Listener { name, .. } => format!("listener:{name}"),
        }
    }
    /// A listener delivered this capture after coming back from being offline.
    async fn missed_while_offline(&self) -> bool {
        matches!(self.0.origin, DeliveryOrigin::Listener { missed: true, .. })
    }
    /// The full URL the request is sent to.
    async fn target(&self) -> &str {
        &self.0.request.url
    }
    async fn method(&self) -> &str {
        &self.0.request.method
    }
    /// The headers sent, in order, hop-by-hop ones removed.
    async fn headers(&self) -> Vec<HeaderObject> {
        self.0.request.headers.iter().map(|h| HeaderObject { name: h.name.clone(), value: h.value.to_vec() }).collect()
    }
    /// The body sent, as text, or null when it is not valid UTF-8.
    #[graphql(complexity = "crate::BODY_COST")]
    async fn body_text(&self, c: &Context<'_>) -> Result<Option<String>, ApiError> {
        let body = self.body(c).await?;
        crate::budget::charge(body.len() as u64)?;
        Ok(std::str::from_utf8(&body).ok().map(str::to_owned))
    }
    #[graphql(complexity = "crate::BODY_COST")]
    async fn body_base64(&self, c: &Context<'_>) -> Result<String, ApiError> {
        let body = self.body(c).await?;
        crate::budget::charge(crate::budget::base64_len(body.len() as u64))?;
        Ok(B64.encode(body))
    }
    /// SHA-256 of the body sent, lower-case hex: the capture's own unless the body was edited or
    /// re-signed into the body.
    async fn body_sha256(&self) -> String {
        hex::encode(self.0.request.body_sha256)
    }
    /// Method, path, headers or body differ from the capture's.
    async fn edited(&self) -> bool {
        self.0.edited
    }
    /// The signature was made anew for this delivery; the capture keeps the original.
    async fn resigned(&self) -> bool {
        self.0.resigned
    }
    async fn attempt_count(&self) -> u32 {
        self.0.attempts
    }
    async fn max_attempts(&self) -> u32 {
        self.0.max_attempts
    }
    /// The provider whose schedule this delivery retries on (`replayCapture(retryLike:)`); null
    /// for the server's backoff.
    async fn retry_like(&self) -> Option<RetryLikeObject> {
        self.0.retry_like.as_ref().map(|r| RetryLikeObject { provider: r.provider.clone(), speed: r.speed })
    }
    /// RFC 3339; null once the delivery is finished.
    async fn next_attempt_at(&self) -> Option<String> {
        self.0.next_attempt_at.map(|t| t.to_rfc3339())
    }
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }
    async fn updated_at(&self) -> String {
        self.0.updated_at.to_rfc3339()
    }
    /// Every attempt so far, first first.
    #[graphql(
        complexity = "last.unwrap_or(crate::DEFAULT_ATTEMPTS).clamp(1, crate::MAX_ATTEMPTS_LISTED) as usize * child_complexity"
    )]
    async fn attempts(
        &self,
        c: &Context<'_>,
        #[graphql(desc = "The latest this many, oldest first, 1 to 100 (default 10).")] last: Option<i32>,
    ) -> Result<Vec<AttemptObject>, ApiError> {
        let last = last.unwrap_or(crate::DEFAULT_ATTEMPTS);
        if !(1..=crate::MAX_ATTEMPTS_LISTED).contains(&last) {
            return Err(ApiError::bad("last", format!("must be 1 to {}, got {last}", crate::MAX_ATTEMPTS_LISTED)));
        }
        let store = &Access::of(c).ctx.store;
        let mut all = store.attempts(self.0.id).await?;
        let skip = all.len().saturating_sub(last as usize);
        all.drain(..skip);
        Ok(all.into_iter().map(AttemptObject).collect())
    }
}

/// One try of a delivery.
pub struct AttemptObject(pub Attempt);

#[Object(name = "Attempt")]
impl AttemptObject {
    /// 1 for the first attempt.
    async fn number(&self) -> u32 {
        self.0.number
    }
    async fn started_at(&self) -> String {
        self.0.started_at.to_rfc3339()
    }
    /// From sending the request to the end of the response (or the failure).
    async fn latency_ms(&self) -> u64 {
        self.0.latency_ms
    }
    /// Null when no response came.
    async fn response_status(&self) -> Option<u16> {
        self.0.response_status
    }
    async fn response_headers(&self) -> Vec<HeaderObject> {
        self.0.response_headers.iter().map(|h| HeaderObject { name: h.name.clone(), value: h.value.to_vec() }).collect()
    }
    /// The response body kept (up to `replay.max_response_body_bytes`), as text, or null when it
    /// is not valid UTF-8.
    async fn response_body_text(&self) -> Result<Option<&str>, ApiError> {
        crate::budget::charge(self.0.response_body.len() as u64)?;
        Ok(std::str::from_utf8(&self.0.response_body).ok())
    }
    async fn response_body_base64(&self) -> Result<String, ApiError> {
        crate::budget::charge(crate::budget::base64_len(self.0.response_body.len() as u64))?;
        Ok(B64.encode(&self.0.response_body))
    }
    /// More was received than kept.
    async fn response_truncated(&self) -> bool {
        self.0.response_truncated
    }
    async fn succeeded(&self) -> bool {
        self.0.succeeded()
    }
    /// Null for a 2xx answer.
    async fn error(&self) -> Option<AttemptErrorValue> {
        self.0.error.map(Into::into)
    }
    /// What went wrong, as a sentence.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
}

#[derive(Default)]
pub struct DeliverySubscription;

#[Subscription]
impl DeliverySubscription {
    /// Each change of the deliveries chosen: of one delivery (`deliveryId`), of one capture
    /// (`captureId`) or of one endpoint (`endpointId`); give exactly one. A subscriber that falls
    /// `api.subscriber_buffer` changes behind gets one `LAGGED` error and the stream ends.
    async fn delivery_updated(
        &self,
        c: &Context<'_>,
        delivery_id: Option<ID>,
        capture_id: Option<ID>,
        endpoint_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<DeliveryObject, ApiError>> + use<>, ApiError> {
        let a = Access::of(c);
        let watch = match (delivery_id, capture_id, endpoint_id) {
            (Some(id), None, None) => {
                let id: DeliveryId = parse_id("deliveryId", &id)?;
                let d = a.ctx.store.delivery(id).await?.filter(|d| a.caller.can_read(d.team_id));
                Watch::Delivery(d.ok_or(ApiError::NotFound("delivery"))?.id)
            }
            (None, Some(id), None) => {
                let id: CaptureId = parse_id("captureId", &id)?;
                let found = a.ctx.store.capture(id).await?.filter(|c| a.caller.can_read(c.team_id));
                Watch::Capture(found.ok_or(ApiError::NotFound("capture"))?.id)
            }
            (None, None, Some(id)) => {
                let id: EndpointId = parse_id("endpointId", &id)?;
                Watch::Endpoint(a.endpoint(id).await?.ok_or(ApiError::NotFound("endpoint"))?.id)
            }
            _ => return Err(ApiError::bad("deliveryId", "give exactly one of deliveryId, captureId and endpointId")),
        };
        let hub = &a.ctx.hub;
        let state = (hub.subscribe_deliveries(), a.ctx.store.clone(), watch, hub.buffer(), false);
        Ok(futures::stream::unfold(state, |(mut rx, store, watch, buffer, done)| async move {
            if done {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok(u) if watch.wants(&u) => match store.delivery(u.delivery_id).await {
                        Ok(Some(d)) => return Some((Ok(DeliveryObject(d)), (rx, store, watch, buffer, false))),
                        // Deleted with its capture meanwhile.
                        Ok(None) => {}
                        Err(e) => return Some((Err(e.into()), (rx, store, watch, buffer, true))),
                    },
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Err(ApiError::Lagged { buffer }), (rx, store, watch, buffer, true)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }
}

enum Watch {
    Delivery(DeliveryId),
    Capture(CaptureId),
    Endpoint(EndpointId),
}

impl Watch {
    fn wants(&self, u: &DeliveryUpdate) -> bool {
        match self {
            Watch::Delivery(id) => u.delivery_id == *id,
            Watch::Capture(id) => u.capture_id == *id,
            Watch::Endpoint(id) => u.endpoint_id == *id,
        }
    }
}

/// A provider's retry schedule a delivery follows, its waits divided by `speed`.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "RetryLike")]
pub struct RetryLikeObject {
    /// The provider id: `stripe`, `slack`, …
    pub provider: String,
    /// 1 is real time.
    pub speed: u32,
}
