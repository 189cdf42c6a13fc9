//! Captures: listing with filters and cursors, single captures with exports, deletion.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_core::{CaptureId, CapturedRequest, EndpointId, Role, Timestamp};
use hookmetry_store::{CaptureFilter, CapturePage, HeaderFilter};

use super::common::{Access, ctx, decode_cursor, encode_cursor, load_capture, parse_id};
use super::endpoints::Deleted;
use crate::ApiError;

/// Longest `bodyContains` or header `valueContains` accepted.
pub const MAX_FILTER_BYTES: usize = 1024;

#[derive(Default)]
pub struct CaptureQuery;

#[Object]
impl CaptureQuery {
    /// Captures of one endpoint that pass `filter`, newest first. `after` is the `endCursor` of
    /// the previous page. Counts as `first` × its selection towards the query complexity limit,
    /// so one query cannot ask for many large pages at once.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity")]
    async fn captures(
        &self,
        c: &Context<'_>,
        endpoint_id: ID,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<CaptureFilterInput>,
    ) -> Result<CaptureConnection, ApiError> {
        let a = Access::of(c);
        let endpoint_id: EndpointId = parse_id("endpointId", &endpoint_id)?;
        let max = a.ctx.settings.max_page_size;
        let limit = match first {
            None => a.ctx.settings.default_page_size,
            Some(n) if n < 0 => return Err(ApiError::bad("first", "must not be negative")),
            Some(n) if n as u32 > max => {
                return Err(ApiError::bad("first", format!("must be at most {max} (api.max_page_size), got {n}")));
            }
            Some(n) => n as u32,
        };
        let before = match after {
            None => None,
            Some(cursor) => Some(decode_cursor(&cursor)?),
        };
        let filter = filter.map(CaptureFilterInput::validate).transpose()?.unwrap_or_default();
        a.endpoint(endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        // Bodies are read only when a field that needs one is selected: a page of 200 captures
        // of up to `ingest.max_body_bytes` each must not be loaded to list their ids.
        let node = c.look_ahead().field("edges").field("node");
        let without_bodies = !BODY_FIELDS.iter().any(|f| node.field(f).exists());
        let mut request = CapturePage { limit, before, filter, without_bodies: true };
        let mut page = a.ctx.store.captures(endpoint_id, &request).await?;
        if !without_bodies {
            // The sizes come first, so the bodies are charged before they are read.
            crate::budget::charge(page.body_sizes.iter().sum())?;
            request.without_bodies = false;
            page = a.ctx.store.captures(endpoint_id, &request).await?;
        }
        let end_cursor = page.items.last().map(|c| encode_cursor(c.id));
        let sizes = page.body_sizes;
        Ok(CaptureConnection {
            edges: page
                .items
                .into_iter()
                .zip(sizes)
                .map(|(c, size)| CaptureEdge {
                    cursor: encode_cursor(c.id),
                    node: CaptureObject(Arc::new(c), without_bodies.then_some(size), Default::default()),
                })
                .collect(),
            page_info: PageInfo { has_next_page: page.has_more, end_cursor },
        })
    }

    /// A capture the caller may see, or null.
    async fn capture(&self, c: &Context<'_>, id: ID) -> Result<Option<CaptureObject>, ApiError> {
        let a = Access::of(c);
        let id: CaptureId = parse_id("id", &id)?;
        let found = load_capture(a.ctx, id).await?;
        Ok(found.filter(|c| a.caller.can_read(c.team_id)).map(CaptureObject::loaded))
    }
}

/// Every condition given must hold.
#[derive(InputObject, Default)]
#[graphql(name = "CaptureFilter")]
pub struct CaptureFilterInput {
    /// Exact method, case-sensitive (`POST`).
    method: Option<String>,
    /// Received at or after this RFC 3339 time.
    received_from: Option<String>,
    /// Received before this RFC 3339 time.
    received_until: Option<String>,
    /// The path after `/h/<token>` starts with this, case-sensitively and as sent (still
    /// percent-encoded); the same test as a forwarding rule's `pathPrefix`. Starts with `/`.
    path_prefix: Option<String>,
    header: Option<HeaderFilterInput>,
    /// The body contains this text (its UTF-8 bytes), case-sensitive.
    body_contains: Option<String>,
    /// The signature verification verdict.
    verdict: Option<super::verification::VerdictValue>,
    /// The event type the provider names, exactly, or with `*` standing for any run of
    /// characters (`charge.*`, `*.created`).
    event_type: Option<String>,
    /// The provider's event id (`evt_…`, `X-GitHub-Delivery`, `webhook-id`): every delivery of
    /// one event.
    event_id: Option<String>,
}

/// A header named `name` (any case) whose value contains `valueContains` (case-sensitive; empty
/// matches any value, i.e. the header is present).
#[derive(InputObject)]
#[graphql(name = "HeaderFilter")]
pub struct HeaderFilterInput {
    name: String,
    #[graphql(default)]
    value_contains: String,
}

impl CaptureFilterInput {
    pub(crate) fn validate(self) -> Result<CaptureFilter, ApiError> {
        let time = |field: &'static str, v: Option<String>| {
            v.map(|s| Timestamp::parse_rfc3339(&s).map_err(|e| ApiError::bad(field, e))).transpose()
        };
        let method = match self.method {
            Some(m) if m.is_empty() || m.len() > 32 || http::Method::from_bytes(m.as_bytes()).is_err() => {
                return Err(ApiError::bad("filter.method", format!("`{m}` is not an HTTP method")));
            }
            m => m,
        };
        let received_from = time("filter.receivedFrom", self.received_from)?;
        let received_until = time("filter.receivedUntil", self.received_until)?;
        let too_long = |field: &'static str, len: usize| {
            if len > MAX_FILTER_BYTES {
                Err(ApiError::bad(field, format!("must be at most {MAX_FILTER_BYTES} bytes, got {len}")))
            } else {
                Ok(())
            }
        };
        let header = match self.header {
            None => None,
            Some(h) => {
                if http::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
                    return Err(ApiError::bad("filter.header.name", format!("`{}` is not a header name", h.name)));
                }
                too_long("filter.header.valueContains", h.value_contains.len())?;
                Some(HeaderFilter { name: h.name, value_contains: h.value_contains.into_bytes() })
            }
        };
        if let Some(b) = &self.body_contains {
            too_long("filter.bodyContains", b.len())?;
        }
        if let Some(p) = &self.path_prefix {
            too_long("filter.pathPrefix", p.len())?;
            if !p.starts_with('/') {
                return Err(ApiError::bad("filter.pathPrefix", format!("must start with `/`, got `{p}`")));
            }
        }
        for (field, v) in [("filter.eventType", &self.event_type), ("filter.eventId", &self.event_id)] {
            if let Some(v) = v {
                if v.is_empty() || v.len() > hookmetry_core::MAX_EVENT_FIELD {
                    return Err(ApiError::bad(
                        field,
                        format!("must be 1 to {} bytes, got {}", hookmetry_core::MAX_EVENT_FIELD, v.len()),
                    ));
                }
                if !v.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                    return Err(ApiError::bad(field, "must be printable ASCII, as stored event types and ids are"));
                }
            }
        }
        Ok(CaptureFilter {
            method,
            received_from,
            received_until,
            path_prefix: self.path_prefix,
            header,
            body_contains: self.body_contains.map(String::into_bytes),
            verdict: self.verdict.map(Into::into),
            event_type: self.event_type,
            event_id: self.event_id,
        })
    }
}

#[derive(InputObject)]
struct DeleteCaptureInput {
    id: ID,
}

#[derive(Default)]
pub struct CaptureMutation;

#[Object]
impl CaptureMutation {
    /// Deletes one capture. Needs EDITOR.
    async fn delete_capture(&self, c: &Context<'_>, input: DeleteCaptureInput) -> Result<Deleted, ApiError> {
        let a = Access::of(c);
        let id: CaptureId = parse_id("id", &input.id)?;
        let capture = a
            .ctx
            .store
            .capture(id)
            .await?
            .filter(|c| a.caller.can_read(c.team_id))
            .ok_or(ApiError::NotFound("capture"))?;
        a.require(capture.team_id, Role::Editor, "delete captures (needs EDITOR)")?;
        a.ctx.store.delete_capture(id).await?;
        let change = hookmetry_proto::CaptureChange::of(&capture, hookmetry_proto::CaptureChangeKind::Deleted);
        a.ctx.announcer.capture_changes(&[change]).await;
        Ok(Deleted { id: input.id })
    }
}

#[derive(SimpleObject)]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(SimpleObject)]
struct CaptureEdge {
    cursor: String,
    node: CaptureObject,
}

#[derive(SimpleObject)]
struct CaptureConnection {
    edges: Vec<CaptureEdge>,
    page_info: PageInfo,
}

/// Cursors are opaque to clients; today they wrap the capture id.
pub struct HeaderObject {
    pub name: String,
    pub value: Vec<u8>,
}

#[Object(name = "Header")]
impl HeaderObject {
    /// As sent: original case over HTTP/1, lower case over HTTP/2.
    async fn name(&self) -> &str {
        &self.name
    }
    /// The value as text; bytes that are not UTF-8 become U+FFFD (see `valueBase64`).
    async fn value(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
    /// The exact value bytes.
    async fn value_base64(&self) -> String {
        B64.encode(&self.value)
    }
}

/// Fields of `Capture` that need its body.
const BODY_FIELDS: [&str; 4] = ["bodyBase64", "bodyText", "curl", "har"];

/// A capture as the API shows it. The second field is `Some(stored body size)` when the capture
/// was listed without its body (`body` is then empty): a body field selected in a way the page's
/// look-ahead did not see still gets the right bytes, read from the store.
///
/// Shared, because a live capture goes to every subscriber of its endpoint: each gets the one
/// capture the hub read rather than a deep copy of its headers.
/// A capture, the size of a body it was listed without, and its verification result once a
/// field read it (`verification`, `event`, `redeliveries` and `ordering` share one read).
pub struct CaptureObject(
    pub Arc<CapturedRequest>,
    pub Option<u64>,
    tokio::sync::OnceCell<Option<hookmetry_core::Verification>>,
);

impl CaptureObject {
    pub fn loaded(c: impl Into<Arc<CapturedRequest>>) -> Self {
        Self(c.into(), None, Default::default())
    }

    /// The stored verification result, read once per object.
    async fn stored_verification(&self, c: &Context<'_>) -> Result<Option<&hookmetry_core::Verification>, ApiError> {
        let (ctx, _) = ctx(c);
        let v = self.2.get_or_try_init(|| async { ctx.store.verification(self.0.id).await }).await?;
        Ok(v.as_ref())
    }

    /// The capture with its body.
    async fn full(&self, c: &Context<'_>) -> Result<std::borrow::Cow<'_, CapturedRequest>, ApiError> {
        if self.1.is_none() {
            return Ok(std::borrow::Cow::Borrowed(&*self.0));
        }
        let (ctx, _) = ctx(c);
        let found = load_capture(ctx, self.0.id).await?.ok_or(ApiError::NotFound("capture"))?;
        Ok(std::borrow::Cow::Owned(found))
    }

    /// The URL the capture was sent to, as this server's public base URL names it.
    async fn sent_to(&self, c: &Context<'_>) -> Result<String, ApiError> {
        let (ctx, _) = ctx(c);
        let endpoint = ctx.store.endpoint(self.0.endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        let query = self.0.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
        Ok(format!("{}/h/{}{}{query}", ctx.settings.public_base_url, endpoint.token, self.0.path))
    }
}

#[Object(name = "Capture")]
impl CaptureObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
    }
    async fn team_id(&self) -> ID {
        ID(self.0.team_id.to_string())
    }
    async fn method(&self) -> &str {
        &self.0.method
    }
    /// Path after `/h/<token>`, percent-encoded as sent; `/` when nothing followed the token.
    async fn path(&self) -> &str {
        &self.0.path
    }
    /// Raw query string without `?`; null when the URL had no `?`.
    async fn query(&self) -> Option<&str> {
        self.0.query.as_deref()
    }
    /// What the capture URL answered the sender, and which scenario rule chose it; null for
    /// captures from before answers were recorded.
    async fn answer(&self) -> Option<super::scenario::CaptureAnswer> {
        self.0.answered.as_ref().map(super::scenario::CaptureAnswer::of)
    }
    /// Every header line in arrival order, duplicates kept (see docs/capture.md for HTTP/2).
    async fn headers(&self) -> Vec<HeaderObject> {
        self.0.headers.iter().map(|h| HeaderObject { name: h.name.clone(), value: h.value.to_vec() }).collect()
    }
    /// The exact body bytes.
    #[graphql(complexity = "crate::BODY_COST")]
    async fn body_base64(&self, c: &Context<'_>) -> Result<String, ApiError> {
        let full = self.full(c).await?;
        crate::budget::charge(crate::budget::base64_len(full.body_size()))?;
        Ok(B64.encode(&full.body))
    }
    /// The body as text, or null when it is not valid UTF-8.
    #[graphql(complexity = "crate::BODY_COST")]
    async fn body_text(&self, c: &Context<'_>) -> Result<Option<String>, ApiError> {
        let full = self.full(c).await?;
        crate::budget::charge(full.body_size())?;
        Ok(std::str::from_utf8(&full.body).ok().map(str::to_owned))
    }
    async fn body_size(&self) -> u64 {
        self.1.unwrap_or_else(|| self.0.body_size())
    }
    /// SHA-256 of the body, lower-case hex.
    async fn body_sha256(&self) -> String {
        hex::encode(self.0.body_sha256)
    }
    async fn remote_addr(&self) -> &str {
        &self.0.remote_addr
    }
    async fn http_version(&self) -> &str {
        &self.0.http_version
    }
    /// RFC 3339, UTC, microseconds.
    async fn received_at(&self) -> String {
        self.0.received_at.to_rfc3339()
    }
    /// The value of the first `Content-Type` header, if any.
    async fn content_type(&self) -> Option<String> {
        self.0
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-type"))
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
    }
    /// The full URL the capture was sent to. A request to the bare `/h/<token>` shows as
    /// `/h/<token>/`: both are stored with the path `/`.
    async fn url(&self, c: &Context<'_>) -> Result<String, ApiError> {
        self.sent_to(c).await
    }
    /// A bash command that sends this exact request again (method, path, query, headers in
    /// order, body bytes) to its capture URL; change the URL to send it elsewhere.
    #[graphql(complexity = "crate::BODY_COST")]
    async fn curl(&self, c: &Context<'_>) -> Result<String, ApiError> {
        let full = self.full(c).await?;
        // Escaped for a shell, a body can grow to about four times its size.
        crate::budget::charge(full.body_size().saturating_mul(4))?;
        Ok(crate::export::curl_command(&full, &self.sent_to(c).await?))
    }
    /// Whether the capture is authentic, and why; null until the processor has checked it.
    async fn verification(&self, c: &Context<'_>) -> Result<Option<super::verification::VerificationObject>, ApiError> {
        Ok(self.stored_verification(c).await?.cloned().map(super::verification::VerificationObject))
    }
    /// What the provider says about the event this capture carries (id, type, creation time,
    /// attempt), read where the endpoint's provider (configured or guessed) names it; null until
    /// the processor has checked the capture, or when the request names nothing.
    async fn event(&self, c: &Context<'_>) -> Result<Option<super::events::EventObject>, ApiError> {
        let v = self.stored_verification(c).await?;
        Ok(v.map(|v| v.event.clone()).filter(|e| !e.is_empty()).map(super::events::EventObject))
    }
    /// The captures of this endpoint that carry the same provider event id, and whether this one
    /// is the first, a retry of an unacknowledged delivery, or a duplicate; null when the capture
    /// names no event id (or is not checked yet).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn redeliveries(
        &self,
        c: &Context<'_>,
        #[graphql(desc = "List at most this many of the event's captures, oldest first, 1 to 100 (default 20).")]
        first: Option<i32>,
    ) -> Result<Option<super::events::RedeliveriesObject>, ApiError> {
        let (ctx, _) = ctx(c);
        let first = first.unwrap_or(20);
        if !(1..=100).contains(&first) {
            return Err(ApiError::bad("first", format!("must be 1 to 100, got {first}")));
        }
        let Some(v) = self.stored_verification(c).await? else { return Ok(None) };
        Ok(super::events::redeliveries(ctx.store.as_ref(), &self.0, &v.event, first as usize).await?)
    }
    /// Which of its provider's documented retries this capture looks like ("Stripe's 3rd retry"),
    /// with the expected and observed waits; null for the first capture of an event, a capture
    /// naming no event id, or a provider without a retry profile (`hookmetry trigger
    /// --list-retry-profiles`).
    async fn retry_guess(&self, c: &Context<'_>) -> Result<Option<super::events::RetryGuessObject>, ApiError> {
        let (ctx, _) = ctx(c);
        let Some(v) = self.stored_verification(c).await? else { return Ok(None) };
        Ok(super::events::retry_guess(ctx.store.as_ref(), &self.0, v.provider.as_deref(), &v.event).await?)
    }
    /// What this capture added, dropped or retyped compared with every earlier capture of its event
    /// type on the endpoint; null when nothing changed, or it has not been analysed (the analysis
    /// runs shortly after the capture is stored; the first capture of a type changes nothing).
    async fn schema_change(&self, c: &Context<'_>) -> Result<Option<super::events::SchemaChangeObject>, ApiError> {
        let (ctx, _) = ctx(c);
        Ok(ctx.store.schema_change(self.0.id).await?.as_deref().and_then(super::events::SchemaChangeObject::parse))
    }
    /// Whether an event about the same resource, created after this capture's event, was received
    /// before it; null when the capture names no resource and creation time.
    async fn ordering(&self, c: &Context<'_>) -> Result<Option<super::events::EventOrderObject>, ApiError> {
        let (ctx, _) = ctx(c);
        let Some(v) = self.stored_verification(c).await? else { return Ok(None) };
        Ok(super::events::ordering(ctx.store.as_ref(), &self.0, &v.event).await?)
    }
    /// Every replay of this capture, newest first.
    #[graphql(
        complexity = "first.unwrap_or(crate::DEFAULT_DELIVERIES).clamp(1, crate::MAX_DELIVERIES) as usize * child_complexity"
    )]
    async fn deliveries(
        &self,
        c: &Context<'_>,
        #[graphql(desc = "The newest this many, 1 to 100 (default 20).")] first: Option<i32>,
    ) -> Result<Vec<super::delivery::DeliveryObject>, ApiError> {
        let (ctx, _) = ctx(c);
        let first = first.unwrap_or(crate::DEFAULT_DELIVERIES);
        if !(1..=crate::MAX_DELIVERIES).contains(&first) {
            return Err(ApiError::bad("first", format!("must be 1 to {}, got {first}", crate::MAX_DELIVERIES)));
        }
        let newest = ctx.store.deliveries_for_capture(self.0.id, first as usize).await?;
        Ok(newest.into_iter().map(super::delivery::DeliveryObject).collect())
    }
    /// This capture as a HAR 1.2 entry (`log.entries[]` item).
    #[graphql(complexity = "crate::BODY_COST")]
    async fn har(&self, c: &Context<'_>) -> Result<async_graphql::Json<serde_json::Value>, ApiError> {
        let full = self.full(c).await?;
        crate::budget::charge(full.body_size().saturating_mul(2))?;
        Ok(async_graphql::Json(crate::export::har_entry(&full, &self.sent_to(c).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = CaptureId::new();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        for bad in ["", "!!!", "Y2FwdHVyZTpub3BlCg", "bm9wZQ"] {
            let e = decode_cursor(bad).unwrap_err();
            assert_eq!(e.code(), "BAD_USER_INPUT", "{bad}");
            assert_eq!(e.to_string(), "invalid `after`: is not a cursor returned by this API");
        }
    }
}
