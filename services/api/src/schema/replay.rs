//! Replay: sending a capture (again) to a target, as captured or edited or re-signed, then
//! following its attempts. The API only records the delivery and wakes a replay worker through
//! the deliveries log; the worker sends, retries and records attempts.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Subscription};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::Stream;
use hookmetry_core::{
    Attempt, AttemptError, CaptureId, CapturedRequest, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, EndpointId,
    ForwardingRule, Header, HeaderMatch, OutgoingRequest, Role, TOPIC_DELIVERIES, TOPIC_EVENTS, Timestamp,
};
use hookmetry_egress::EgressPolicy;
use hookmetry_log::EventLog;
use hookmetry_proto::{DeliveryUpdate, Event};
use hookmetry_replay::{EditError, Edits, Prepared};
use hookmetry_store::CapturePage;
use sha2::Digest;
use tracing::Instrument as _;
use tracing::field::Empty;

use super::captures::{CaptureFilterInput, CaptureObject, HeaderObject};
use super::endpoints::HeaderInput;
use super::{Access, parse_id};
use crate::ApiError;
use crate::diff;

/// Most captures one `replayCaptures` call replays.
pub const MAX_BULK: u32 = 1_000;
/// Most forwarding rules one endpoint has.
pub const MAX_RULES: usize = 20;
/// Longest `pathPrefix` or header `contains`.
pub const MAX_MATCH_BYTES: usize = 1024;

/// What the API needs to create deliveries.
#[derive(Clone)]
pub struct ReplaySettings {
    /// Wakes replay workers; a failed append only delays the delivery until a worker's scan.
    pub log: Arc<dyn EventLog>,
    /// Checked when a replay is asked for, so an IP literal the worker would refuse is refused
    /// at once with the reason; names are checked again on the resolved address when sent.
    pub policy: EgressPolicy,
    pub max_attempts: u32,
}

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
}

#[derive(SimpleObject)]
#[graphql(name = "ReplayCapturesPayload")]
pub struct ReplayCapturesPayload {
    /// One per replayed capture, newest capture first.
    pub deliveries: Vec<DeliveryObject>,
    /// Whether more captures matched than `limit`.
    pub has_more: bool,
}

#[derive(SimpleObject)]
#[graphql(name = "CancelDeliveryPayload")]
pub struct CancelDeliveryPayload {
    pub delivery: DeliveryObject,
    /// False when the delivery had already finished (succeeded, dead-lettered or cancelled).
    pub cancelled: bool,
}

/// Names one attempt of one delivery.
#[derive(InputObject)]
#[graphql(name = "AttemptRef")]
pub struct AttemptRefInput {
    pub delivery_id: ID,
    pub number: i32,
}

#[derive(Default)]
pub struct ReplayQuery;

#[Object]
impl ReplayQuery {
    /// A delivery the caller may see, or null.
    async fn delivery(&self, c: &Context<'_>, id: ID) -> Result<Option<DeliveryObject>, ApiError> {
        let a = Access::of(c);
        let id: DeliveryId = parse_id("id", &id)?;
        Ok(a.ctx.store.delivery(id).await?.filter(|d| a.caller.can_read(d.team_id)).map(DeliveryObject))
    }

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

/// A forwarding rule: conditions left out match everything.
#[derive(InputObject)]
#[graphql(name = "ForwardingRuleInput")]
pub struct ForwardingRuleInput {
    /// Unique within the endpoint: letters, digits, `-` and `_`, at most 64.
    pub id: String,
    pub target: String,
    /// Exact method, case-sensitive.
    pub method: Option<String>,
    /// The capture's path (after `/h/<token>`) starts with this; begins with `/`.
    pub path_prefix: Option<String>,
    pub header: Option<HeaderMatchInput>,
}

#[derive(InputObject)]
#[graphql(name = "HeaderMatchInput")]
pub struct HeaderMatchInput {
    /// Any case.
    pub name: String,
    /// The value contains this; empty means the header only has to be present.
    #[graphql(default)]
    pub contains: String,
}

#[derive(InputObject)]
#[graphql(name = "SetForwardingRulesInput")]
pub struct SetForwardingRulesInput {
    pub endpoint_id: ID,
    /// Replaces every rule; an empty list removes them.
    pub rules: Vec<ForwardingRuleInput>,
}

pub struct ForwardingRuleObject(pub ForwardingRule);

#[Object(name = "ForwardingRule")]
impl ForwardingRuleObject {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn target(&self) -> &str {
        &self.0.target
    }
    async fn method(&self) -> Option<&str> {
        self.0.method.as_deref()
    }
    async fn path_prefix(&self) -> Option<&str> {
        self.0.path_prefix.as_deref()
    }
    async fn header_name(&self) -> Option<&str> {
        self.0.header.as_ref().map(|h| h.name.as_str())
    }
    async fn header_contains(&self) -> Option<&str> {
        self.0.header.as_ref().map(|h| h.contains.as_str())
    }
}

fn validate_rules(
    rules: Vec<ForwardingRuleInput>,
    policy: &EgressPolicy,
    own_bases: &[String],
) -> Result<Vec<ForwardingRule>, ApiError> {
    if rules.len() > MAX_RULES {
        return Err(ApiError::bad("rules", format!("at most {MAX_RULES} rules per endpoint, got {}", rules.len())));
    }
    let mut out: Vec<ForwardingRule> = Vec::with_capacity(rules.len());
    for (i, r) in rules.into_iter().enumerate() {
        let field = |name: &str| format!("rules[{i}].{name}");
        let id = r.id.trim().to_owned();
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ApiError::bad(field("id"), "must be 1 to 64 letters, digits, `-` or `_`"));
        }
        if out.iter().any(|o| o.id == id) {
            return Err(ApiError::bad(field("id"), format!("`{id}` is used by an earlier rule")));
        }
        let target = parse_target(&r.target, policy, own_bases).map_err(|e| match e {
            ApiError::BadInput { message, .. } => ApiError::bad(field("target"), format!("rule `{id}`: {message}")),
            other => other,
        })?;
        if let Some(m) = &r.method
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
        {
            return Err(ApiError::bad(field("method"), "must be an HTTP method token such as POST"));
        }
        if let Some(p) = &r.path_prefix
            && (!p.starts_with('/') || p.len() > MAX_MATCH_BYTES)
        {
            return Err(ApiError::bad(
                field("pathPrefix"),
                format!("must start with `/` and be at most {MAX_MATCH_BYTES} bytes"),
            ));
        }
        let header = match r.header {
            None => None,
            Some(h) => {
                let name = h.name.trim().to_owned();
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(ApiError::bad(field("header.name"), "must be a header name such as X-GitHub-Event"));
                }
                if h.contains.len() > MAX_MATCH_BYTES {
                    return Err(ApiError::bad(
                        field("header.contains"),
                        format!("must be at most {MAX_MATCH_BYTES} bytes"),
                    ));
                }
                Some(HeaderMatch { name, contains: h.contains })
            }
        };
        out.push(ForwardingRule {
            id,
            target: target.to_string(),
            method: r.method,
            path_prefix: r.path_prefix,
            header,
        });
    }
    Ok(out)
}

fn rename_field(e: ApiError, field: String) -> ApiError {
    match e {
        ApiError::BadInput { message, .. } => ApiError::bad(field, message),
        other => other,
    }
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
            let replay = settings(&a)?;
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
            let prepared = hookmetry_replay::with_edits(&capture, &target, &edits).map_err(edit_error)?;
            let delivery = create(&a, replay, &capture, prepared, input.resign).await?;
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
            let replay = settings(&a)?;
            let endpoint_id: EndpointId = parse_id("endpointId", &input.endpoint_id)?;
            let endpoint = a.endpoint(endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
            a.require(endpoint.team_id, Role::Editor, "replay captures")?;
            let target = parse_target(&input.target, &replay.policy, &a.ctx.settings.own_base_urls)?;
            let limit = match input.limit {
                None => 100,
                Some(n) if !(1..=MAX_BULK as i32).contains(&n) => {
                    return Err(ApiError::bad("limit", format!("must be 1 to {MAX_BULK}, got {n}")));
                }
                Some(n) => n as u32,
            };
            let filter = input.filter.map(CaptureFilterInput::validate).transpose()?.unwrap_or_default();
            let page = a
                .ctx
                .store
                .captures(endpoint_id, &CapturePage { limit, before: None, filter, without_bodies: false })
                .await?;
            let mut deliveries = Vec::with_capacity(page.items.len());
            for capture in &page.items {
                let prepared =
                    Prepared { request: hookmetry_replay::outgoing_request(capture, &target), edited: false };
                deliveries.push(DeliveryObject(create(&a, replay, capture, prepared, input.resign).await?));
            }
            Ok(ReplayCapturesPayload { deliveries, has_more: page.has_more })
        }
        .instrument(span.clone())
        .await;
        end_replay_span(&span, result.as_ref().map(|p| p.deliveries.len()));
        result
    }

    /// Replaces an endpoint's forwarding rules: every new capture that matches a rule is sent to
    /// its target as a delivery, with retries. Answers with the endpoint.
    async fn set_forwarding_rules(
        &self,
        c: &Context<'_>,
        input: SetForwardingRulesInput,
    ) -> Result<super::endpoints::EndpointObject, ApiError> {
        let a = Access::of(c);
        let replay = settings(&a)?;
        let endpoint_id: EndpointId = parse_id("endpointId", &input.endpoint_id)?;
        let endpoint = a.endpoint(endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        a.require(endpoint.team_id, Role::Editor, "change forwarding rules")?;
        let rules = validate_rules(input.rules, &replay.policy, &a.ctx.settings.own_base_urls)?;
        a.ctx.store.set_forwarding_rules(endpoint_id, &rules).await?;
        Ok(super::endpoints::EndpointObject(endpoint))
    }

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
        if cancelled && let Some(replay) = a.ctx.replay.as_ref() {
            announce(replay, &now).await;
        }
        Ok(CancelDeliveryPayload { delivery: DeliveryObject(now), cancelled })
    }
}

fn settings<'a>(a: &Access<'a>) -> Result<&'a ReplaySettings, ApiError> {
    a.ctx.replay.as_ref().ok_or_else(|| ApiError::Unavailable("replay is not enabled on this API node".into()))
}

/// The target as a URL the worker may send to: allowed by the egress policy and not one of this
/// instance's own capture URLs, where every forward would be captured again.
fn parse_target(raw: &str, policy: &EgressPolicy, own_bases: &[String]) -> Result<hookmetry_egress::Url, ApiError> {
    let url =
        hookmetry_egress::Url::parse(raw.trim()).map_err(|e| ApiError::bad("target", format!("is not a URL: {e}")))?;
    hookmetry_egress::check_url(&url, policy).map_err(|e| ApiError::bad("target", e.to_string()))?;
    if let Some(base) = hookmetry_egress::own_capture_base(&url, own_bases) {
        return Err(ApiError::bad(
            "target",
            format!(
                "`{url}` is a capture URL of this Hookmetry (under {base}/h/): requests sent there would be captured again, in a loop"
            ),
        ));
    }
    Ok(url)
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

/// Records a new pending delivery (re-signed first when asked), wakes a worker and announces it,
/// in a `create delivery` span whose context the delivery keeps for its attempts.
async fn create(
    a: &Access<'_>,
    replay: &ReplaySettings,
    capture: &CapturedRequest,
    prepared: Prepared,
    resign: bool,
) -> Result<Delivery, ApiError> {
    let Prepared { request, edited } = prepared;
    let id = DeliveryId::new();
    let target = hookmetry_egress::Url::parse(&request.url)
        .map(|u| hookmetry_egress::http1::host_port(&u))
        .unwrap_or_else(|_| "invalid-url".into());
    let span = tracing::info_span!("create delivery", delivery_id = %id, target = %target);
    let trace_parent = hookmetry_telemetry::TraceParent::of(&span).map(|p| p.header());
    let made = Made { id, request, edited, trace_parent };
    record_delivery(a, replay, capture, made, resign).instrument(span).await
}

/// A delivery about to be recorded: its id, request and trace context.
struct Made {
    id: DeliveryId,
    request: OutgoingRequest,
    edited: bool,
    trace_parent: Option<String>,
}

async fn record_delivery(
    a: &Access<'_>,
    replay: &ReplaySettings,
    capture: &CapturedRequest,
    made: Made,
    resign: bool,
) -> Result<Delivery, ApiError> {
    let Made { id, mut request, edited, trace_parent } = made;
    let now = Timestamp::now();
    if resign {
        let endpoint = a.ctx.store.endpoint(capture.endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        resign_request(&endpoint, &mut request, now)?;
    }
    let delivery = Delivery {
        id,
        team_id: capture.team_id,
        endpoint_id: capture.endpoint_id,
        capture_id: capture.id,
        origin: DeliveryOrigin::Manual,
        request,
        edited,
        resigned: resign,
        state: DeliveryState::Pending,
        attempts: 0,
        max_attempts: replay.max_attempts,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
        trace_parent,
    };
    a.ctx.store.put_delivery(&delivery).await?;
    if let Err(e) = replay.log.append(TOPIC_DELIVERIES, hookmetry_replay::wake_record(&delivery)).await {
        // Stored as due now: a worker's scan finds it within `replay.scan_interval`.
        tracing::warn!(error = %e, delivery_id = %delivery.id, "replay worker not woken; its scan will pick the delivery up");
    }
    announce(replay, &delivery).await;
    Ok(delivery)
}

pub(crate) async fn announce(replay: &ReplaySettings, d: &Delivery) {
    let record = hookmetry_proto::event_record(&Event::DeliveryUpdated(DeliveryUpdate::of(d)));
    if let Err(e) = replay.log.append(TOPIC_EVENTS, record).await {
        tracing::warn!(error = %e, delivery_id = %d.id, "delivery change not announced");
    }
}

/// Replaces the request's signature with one made now with the endpoint's current secret (the
/// first): same-named headers are replaced where the first of them stood, new ones appended.
pub(crate) fn resign_request(
    endpoint: &hookmetry_core::Endpoint,
    request: &mut OutgoingRequest,
    now: Timestamp,
) -> Result<(), ApiError> {
    let settings = endpoint
        .verification
        .as_ref()
        .ok_or_else(|| ApiError::bad("resign", "the endpoint has no signature settings to sign with"))?;
    let secret = settings
        .secrets
        .first()
        .ok_or_else(|| ApiError::bad("resign", "the endpoint has no signing secret to sign with"))?;
    let input = hookmetry_verify::SignInput {
        method: &request.method,
        url: &request.url,
        body: &request.body,
        timestamp: now.micros().div_euclid(1_000_000),
        id: None,
        headers: &request.headers,
    };
    let signed = hookmetry_verify::sign(&settings.provider, &secret.value, settings.generic.as_ref(), &input)
        .map_err(|e| ApiError::bad("resign", format!("cannot re-sign as `{}`: {e}", settings.provider)))?;
    for (name, value) in signed.headers {
        let header = Header::new(name.clone(), value);
        match request.headers.iter().position(|h| h.name.eq_ignore_ascii_case(&name)) {
            Some(first) => {
                request.headers[first] = header;
                let mut i = first + 1;
                while i < request.headers.len() {
                    if request.headers[i].name.eq_ignore_ascii_case(&name) {
                        request.headers.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => request.headers.push(header),
        }
    }
    if let Some(body) = signed.body {
        request.body_sha256 = sha2::Sha256::digest(&body).into();
        request.body = body.into();
    }
    Ok(())
}

/// A capture sent (again) to a target, with its attempts.
pub struct DeliveryObject(pub Delivery);

impl DeliveryObject {
    /// The body sent. A listener's delivery references its capture's body instead of storing a
    /// copy (schema/listen.rs): it is read from the capture, which the delivery's team can read.
    async fn body(&self, c: &Context<'_>) -> Result<bytes::Bytes, ApiError> {
        let r = &self.0.request;
        let referenced = matches!(self.0.origin, DeliveryOrigin::Listener { .. })
            && r.body.is_empty()
            && r.body_sha256 != <[u8; 32]>::from(sha2::Sha256::digest(b""));
        if !referenced {
            return Ok(r.body.clone());
        }
        let capture = super::captures::load_capture(Access::of(c).ctx, self.0.capture_id).await?;
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
        Ok(super::captures::load_capture(Access::of(c).ctx, self.0.capture_id).await?.map(CaptureObject::loaded))
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

#[derive(Default)]
pub struct ReplaySubscription;

#[Subscription]
impl ReplaySubscription {
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
        let hub = a.ctx.hub.as_ref().ok_or_else(|| ApiError::Unavailable("live updates are not enabled".into()))?;
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
