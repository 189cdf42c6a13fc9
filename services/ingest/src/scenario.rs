//! Which answer a capture gets: the endpoint's scenario rules, else its custom response, else
//! the default `200 {"id": …}`. Decided before the append, so the capture records it; sent
//! only after the append is durable, so even a 500 is never a lost capture.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use hookmetry_core::scenario::{self, Reply, TIMEOUT_HOLD_MS};
use hookmetry_core::{Answered, CaptureId, CapturedRequest, Endpoint, MAX_RESPONSE_DELAY_MS};
use hookmetry_store::{EndpointStore, StoreError};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::IngestError;

/// An accepted request's answer: ready, or to be built after its delay.
pub(crate) enum Answer {
    Ready(Response),
    Later { endpoint: std::sync::Arc<Endpoint>, decision: Decision, id: CaptureId, status: u16 },
}

impl Answer {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Answer::Ready(r) => r.status(),
            Answer::Later { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
        }
    }

    pub(crate) async fn send(self, separate_origin: bool) -> Response {
        match self {
            Answer::Ready(r) => r,
            Answer::Later { endpoint, decision, id, .. } => respond(&endpoint, decision, id, separate_origin).await,
        }
    }
}

/// What the sender will be told.
pub(crate) enum Decision {
    /// `200 {"id": …}`, or a handshake's answer.
    Default,
    /// The endpoint's custom response.
    Custom,
    /// A scenario rule's reply, after `delay_ms`.
    Rule { reply: Reply, delay_ms: u32 },
}

/// The answer for `capture` and what to record of it. Counting rules add one to their counter
/// in the store, shared by every ingest node; a store that cannot count refuses the request
/// (503) rather than answer out of sequence.
pub(crate) async fn decide(
    store: &dyn EndpointStore,
    endpoint: &Endpoint,
    capture: &CapturedRequest,
) -> Result<(Decision, Answered), IngestError> {
    let event_type = if scenario::needs_event_type(&endpoint.scenario) {
        let provider = endpoint.verification.as_ref().map(|v| v.provider.as_str());
        hookmetry_verify::identify(provider, endpoint.event_fields.as_ref(), &capture.headers, &capture.body).kind
    } else {
        None
    };
    let rule =
        scenario::select(&endpoint.scenario, &capture.method, &capture.path, &capture.headers, event_type.as_deref());
    let Some(rule) = rule else {
        return Ok(match &endpoint.response {
            None => (Decision::Default, Answered::plain(200, 0)),
            Some(custom) => {
                (Decision::Custom, Answered::plain(custom.status, custom.delay_ms.min(MAX_RESPONSE_DELAY_MS)))
            }
        });
    };
    let step =
        if rule.answer.counts() { Some(count(store, endpoint, &scenario::counter_key(&rule.id)).await?) } else { None };
    let chosen = rule.answer.choose(step.unwrap_or(0), rand::random::<f64>());
    let (status, _) = chosen.reply.outcome();
    let answered = Answered {
        status,
        delay_ms: chosen.delay_ms,
        rule_id: Some(rule.id.clone()),
        step,
        timed_out: chosen.reply.timeout,
    };
    Ok((Decision::Rule { reply: chosen.reply.clone(), delay_ms: chosen.delay_ms }, answered))
}

/// Counts one more capture against the endpoint's `maxCaptures`; refuses it past the cap.
pub(crate) async fn admit(store: &dyn EndpointStore, endpoint: &Endpoint) -> Result<(), IngestError> {
    let Some(limit) = endpoint.max_captures else { return Ok(()) };
    let n = count(store, endpoint, scenario::CAPTURES_COUNTER).await?;
    if n > limit {
        return Err(IngestError::CaptureCapReached { limit });
    }
    Ok(())
}

async fn count(store: &dyn EndpointStore, endpoint: &Endpoint, key: &str) -> Result<u64, IngestError> {
    store.bump_counter(endpoint.id, key).await.map_err(|e| match e {
        // Deleted since the cache read it.
        StoreError::NotFound { .. } => IngestError::UnknownEndpoint,
        e => IngestError::StoreUnavailable(format!("cannot count this endpoint's requests: {e}")),
    })
}

/// The answer itself, after its delay. Body and permits are gone by now: a delay holds no
/// request memory.
async fn respond(endpoint: &Endpoint, decision: Decision, id: CaptureId, separate_origin: bool) -> Response {
    match decision {
        Decision::Default => {
            // Built by hand: this is every default answer, and an id is only letters and digits.
            let id = id.to_string();
            let body = format!("{{\"id\":\"{id}\"}}");
            (
                StatusCode::OK,
                [
                    (http::header::CONTENT_TYPE, "application/json"),
                    (HeaderName::from_static("hookmetry-capture-id"), &id),
                ],
                body,
            )
                .into_response()
        }
        Decision::Custom => {
            let Some(custom) = &endpoint.response else {
                return Box::pin(respond(endpoint, Decision::Default, id, separate_origin)).await;
            };
            sleep_ms(custom.delay_ms).await;
            build(custom.status, &custom.headers, custom.body.clone(), id, separate_origin)
        }
        Decision::Rule { reply, delay_ms } => {
            if reply.timeout {
                sleep_ms(TIMEOUT_HOLD_MS).await;
                let body = format!(
                    "hookmetry: simulated timeout (scenario rule; held {} s, longer than senders wait)",
                    TIMEOUT_HOLD_MS / 1000
                );
                return build(504, &[], body, id, separate_origin);
            }
            sleep_ms(delay_ms).await;
            build(reply.status, &reply.headers, reply.body, id, separate_origin)
        }
    }
}

async fn sleep_ms(ms: u32) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(ms.min(MAX_RESPONSE_DELAY_MS)))).await;
    }
}

fn build(status: u16, headers: &[(String, String)], body: String, id: CaptureId, separate_origin: bool) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    // Chosen answers name the capture too, so a sender's log can be matched with the inspector.
    if let Ok(v) = HeaderValue::try_from(id.to_string()) {
        resp.headers_mut().insert(HeaderName::from_static("hookmetry-capture-id"), v);
    }
    for (name, value) in headers {
        // The API checks these on write. A stored one that breaks today's rules (written before
        // them, or before the capture origin was unset) is dropped or neutralised here rather
        // than failing the capture.
        use hookmetry_core::answer::{check_content_type, check_response_header};
        if check_response_header(name).is_err() {
            continue;
        }
        let value = if name.eq_ignore_ascii_case("content-type") && check_content_type(value, separate_origin).is_err()
        {
            "text/plain; charset=utf-8"
        } else {
            value.as_str()
        };
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value)) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}
