//! Test events: realistic sample webhooks of the common providers (`hookmetry-samples`), signed
//! with the endpoint's current secret, for `hookmetry trigger`, the inspector's "Send a test
//! event" and any GraphQL client.
//!
//! `prepareTestEvent` returns the request for the caller to send to the capture URL (the CLI
//! does, so the event travels the whole pipeline from ingest on); `sendTestEvent` appends it to
//! the captures log as ingest would, for clients that cannot send to the capture URL (a browser
//! on the inspector's origin). Both need EDITOR: the answer carries a valid signature.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, Endpoint, Header, TOPIC_CAPTURES, Timestamp};
use hookmetry_log::NewRecord;
use sha2::Digest;

use super::common::Access;
use crate::ApiError;

/// Most `set` entries, and bytes in one, a test event takes.
const MAX_SETS: usize = 50;
const MAX_SET_BYTES: usize = 10 * 1024;
/// What a test event's capture says it came from.
pub const TEST_EVENT_SOURCE: &str = "hookmetry test event";

#[derive(SimpleObject)]
#[graphql(name = "TestEventKind")]
pub struct TestEventKind {
    pub name: String,
    pub description: String,
}

#[derive(SimpleObject)]
#[graphql(name = "TestEventProvider")]
pub struct TestEventProvider {
    /// The provider id, as in endpoint verification settings.
    pub provider: String,
    pub name: String,
    pub events: Vec<TestEventKind>,
}

#[derive(InputObject)]
#[graphql(name = "TestEventInput")]
pub struct TestEventInput {
    pub endpoint_id: ID,
    /// Default: the endpoint's signature provider.
    pub provider: Option<String>,
    /// An event of the provider, e.g. `payment_intent.succeeded` (`testEventCatalog` lists them).
    pub event: String,
    /// `path=value` changes to the sample body: a dotted JSON path (`data.object.amount=500`;
    /// the value is JSON when it parses, else a string), or a form field for form bodies.
    #[graphql(default)]
    pub set: Vec<String>,
    /// Sign this request (one `prepareTestEvent` returned) again at the current time instead of
    /// making a new sample: what `hookmetry trigger --retry-like` sends as a provider's retry, the
    /// same event with a fresh signature. `set` must then be empty.
    pub resign: Option<TestEventResignInput>,
}

#[derive(InputObject)]
#[graphql(name = "TestEventResignInput")]
pub struct TestEventResignInput {
    pub headers: Vec<super::endpoints::HeaderInput>,
    pub body_base64: String,
}

/// Most headers, and body bytes, a request to re-sign may have: the sizes a sample reaches with
/// every `set` (50 of 10 KiB), with room to spare, and in base64 still within the API's request
/// size.
const MAX_RESIGN_HEADERS: usize = 100;
const MAX_RESIGN_BYTES: usize = 640 * 1024;

#[derive(SimpleObject)]
#[graphql(name = "TestEventRequest")]
pub struct TestEventRequest {
    pub provider: String,
    pub event: String,
    /// Where to send it: the endpoint's capture URL with the event's path.
    pub url: String,
    pub method: String,
    pub headers: Vec<super::captures::HeaderObject>,
    pub body_base64: String,
    /// Signed with the endpoint's current secret.
    pub signed: bool,
    /// Why it is not signed, when it is not.
    pub unsigned_reason: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "SentTestEvent")]
pub struct SentTestEvent {
    /// The capture the event becomes once the processor stores it.
    pub capture_id: ID,
    pub request: TestEventRequest,
}

/// The endpoint's capture URL for `path`, as verification rebuilds it for URL-signing schemes.
fn capture_url(a: &Access<'_>, endpoint: &Endpoint, path: &str) -> String {
    let public_url = endpoint.verification.as_ref().and_then(|v| v.public_url.as_deref());
    hookmetry_verify::signed_url(public_url, &a.ctx.settings.public_base_url, &endpoint.token, path, None)
}

/// The sample request for `input`, signed when the endpoint has a secret of the provider.
async fn prepare(a: &Access<'_>, input: TestEventInput) -> Result<(Endpoint, TestEventRequest), ApiError> {
    let endpoint = a.editable_endpoint(&input.endpoint_id, "send test events (needs EDITOR)").await?;
    let settings = endpoint.verification.as_ref();
    let provider = match (input.provider.as_deref().map(str::trim), settings) {
        (Some(p), _) if !p.is_empty() => p.to_owned(),
        (_, Some(s)) => s.provider.clone(),
        (_, None) => {
            return Err(ApiError::bad(
                "provider",
                "the endpoint checks no signatures, so name the provider whose event to send",
            ));
        }
    };
    if input.set.len() > MAX_SETS {
        return Err(ApiError::bad("set", format!("at most {MAX_SETS} changes")));
    }
    let mut sets = Vec::new();
    for s in &input.set {
        if s.len() > MAX_SET_BYTES {
            return Err(ApiError::bad("set", format!("each change must be at most {MAX_SET_BYTES} bytes")));
        }
        let (path, value) =
            s.split_once('=').ok_or_else(|| ApiError::bad("set", format!("must be PATH=VALUE, got `{s}`")))?;
        sets.push((path.trim().to_owned(), value.to_owned()));
    }
    let now = Timestamp::now().micros().div_euclid(1_000_000);
    let mut sample = hookmetry_samples::build(&provider, input.event.trim(), &sets, now).map_err(|e| match e {
        hookmetry_samples::SampleError::UnknownProvider { .. } => ApiError::bad("provider", e.to_string()),
        hookmetry_samples::SampleError::UnknownEvent { .. } => ApiError::bad("event", e.to_string()),
        _ => ApiError::bad("set", e.to_string()),
    })?;
    if let Some(again) = input.resign {
        // The same power as replay's re-signing: an EDITOR may sign what its endpoint received.
        if !sets.is_empty() {
            return Err(ApiError::bad("set", "a request to re-sign is sent as it is: leave `set` empty"));
        }
        if again.headers.len() > MAX_RESIGN_HEADERS {
            return Err(ApiError::bad("resign.headers", format!("at most {MAX_RESIGN_HEADERS} headers")));
        }
        let body = B64
            .decode(again.body_base64.as_bytes())
            .map_err(|e| ApiError::bad("resign.bodyBase64", format!("is not base64: {e}")))?;
        if body.len() > MAX_RESIGN_BYTES {
            return Err(ApiError::bad("resign.bodyBase64", format!("the body is over {MAX_RESIGN_BYTES} bytes")));
        }
        sample.headers = again.headers.into_iter().map(|h| (h.name, h.value)).collect();
        sample.body = body;
    }
    let url = capture_url(a, &endpoint, sample.path);
    let secret = settings.filter(|s| s.provider == provider).and_then(|s| s.secrets.first());
    let (sample, unsigned_reason) = match (settings, secret) {
        (Some(s), Some(secret)) => {
            let signed = hookmetry_samples::sign(&sample, &provider, &secret.value, s.generic.as_ref(), &url, now)
                .map_err(|e| ApiError::bad("provider", e.to_string()))?;
            (signed, None)
        }
        (Some(s), None) if s.provider == provider => (sample, Some("the endpoint has no secret to sign with".into())),
        (Some(s), None) => (
            sample,
            Some(format!("the endpoint checks `{}` signatures, and its secret is not for `{provider}`", s.provider)),
        ),
        (None, _) => {
            (sample, Some("the endpoint has no signature settings, so there is no secret to sign with".into()))
        }
    };
    let request = TestEventRequest {
        provider: sample.provider.to_owned(),
        event: sample.event.to_owned(),
        url,
        method: sample.method.to_owned(),
        headers: sample
            .headers
            .iter()
            .map(|(n, v)| super::captures::HeaderObject { name: n.clone(), value: v.as_bytes().to_vec() })
            .collect(),
        body_base64: B64.encode(&sample.body),
        signed: unsigned_reason.is_none(),
        unsigned_reason,
    };
    Ok((endpoint, request))
}

#[derive(Default)]
pub struct TestEventQuery;

#[Object]
impl TestEventQuery {
    /// The providers and events test events can be made of.
    async fn test_event_catalog(&self) -> Vec<TestEventProvider> {
        hookmetry_samples::catalog()
            .iter()
            .map(|p| TestEventProvider {
                provider: p.id.to_owned(),
                name: p.name.to_owned(),
                events: p
                    .events
                    .iter()
                    .map(|e| TestEventKind { name: e.name.to_owned(), description: e.description.to_owned() })
                    .collect(),
            })
            .collect()
    }

    /// Whether providers on the internet can reach this instance's capture URLs, judged from
    /// their host; when not, why, and the two ways that work.
    async fn capture_reachability(&self, c: &Context<'_>) -> CaptureReachability {
        let a = Access::of(c);
        let base = a.ctx.settings.public_base_url.clone();
        let reason = hookmetry_egress::unreachable_reason(&base);
        CaptureReachability {
            advice: if reason.is_some() {
                hookmetry_egress::reachability_advice().iter().map(|s| (*s).to_owned()).collect()
            } else {
                Vec::new()
            },
            reachable: reason.is_none(),
            reason,
            capture_base_url: base,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CaptureReachability")]
pub struct CaptureReachability {
    /// Where capture URLs start (`server.public_url` or `server.capture_base_url`).
    pub capture_base_url: String,
    /// False when the host is loopback, private or a local name; true otherwise (DNS and
    /// firewalls are not checked).
    pub reachable: bool,
    pub reason: Option<String>,
    /// What to do instead, as commands.
    pub advice: Vec<String>,
}

#[derive(Default)]
pub struct TestEventMutation;

#[Object]
impl TestEventMutation {
    /// A realistic sample event, signed with the endpoint's current secret when it has one of
    /// the provider, for the caller to send to `url`. Nothing is stored. Needs EDITOR.
    async fn prepare_test_event(&self, c: &Context<'_>, input: TestEventInput) -> Result<TestEventRequest, ApiError> {
        Ok(prepare(&Access::of(c), input).await?.1)
    }

    /// Makes the sample event as `prepareTestEvent` does and captures it, as ingest would have
    /// (from `hookmetry test event`): it is verified, stored, shown live and forwarded like any
    /// capture. Needs EDITOR.
    async fn send_test_event(&self, c: &Context<'_>, input: TestEventInput) -> Result<SentTestEvent, ApiError> {
        let a = Access::of(c);
        let (endpoint, request) = prepare(&a, input).await?;
        let body = Bytes::from(B64.decode(&request.body_base64).map_err(|e| ApiError::Internal(e.to_string()))?);
        let path = request.url.rsplit_once(&format!("/h/{}", endpoint.token)).map_or("/", |(_, p)| p);
        let capture = CapturedRequest {
            id: CaptureId::new(),
            endpoint_id: endpoint.id,
            team_id: endpoint.team_id,
            method: request.method.clone(),
            path: if path.is_empty() { "/".into() } else { path.to_owned() },
            query: None,
            headers: request.headers.iter().map(|h| Header::new(h.name.clone(), h.value.clone())).collect(),
            body_sha256: sha2::Sha256::digest(&body).into(),
            body,
            remote_addr: TEST_EVENT_SOURCE.into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::now(),
            answered: None,
        };
        let record =
            NewRecord::new(Bytes::copy_from_slice(endpoint.id.as_bytes()), hookmetry_proto::encode_capture(&capture))
                .with_header(hookmetry_proto::SCHEMA_HEADER, hookmetry_proto::SCHEMA_CAPTURED_REQUEST);
        a.ctx
            .replay
            .log
            .append(TOPIC_CAPTURES, record)
            .await
            .map_err(|e| ApiError::Unavailable(format!("the captures log did not take the event: {e}")))?;
        Ok(SentTestEvent { capture_id: ID(capture.id.to_string()), request })
    }
}
