use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_core::{
    CaptureId, CapturedRequest, CustomResponse, Endpoint, EndpointId, MAX_RESPONSE_DELAY_MS, Timestamp, capture_token,
};
use hookmetry_store::{CapturePage, StoreError};

use crate::{ApiError, Caller, Ctx};

fn ctx<'a>(c: &Context<'a>) -> (&'a Ctx, &'a Caller) {
    // Both are always attached: Ctx when the schema is built, Caller by the authenticated handler.
    (c.data_unchecked::<Ctx>(), c.data_unchecked::<Caller>())
}

fn parse_id<T: std::str::FromStr<Err = hookmetry_core::IdParseError>>(
    field: &'static str,
    id: &ID,
) -> Result<T, ApiError> {
    id.as_str().parse::<T>().map_err(|e| ApiError::bad(field, e.to_string()))
}

/// The endpoint if it exists and the caller may read it; otherwise the same `None` either way.
async fn readable_endpoint(c: &Context<'_>, id: EndpointId) -> Result<Option<Endpoint>, ApiError> {
    let (ctx, caller) = ctx(c);
    Ok(ctx.store.endpoint(id).await?.filter(|e| caller.can_read(e.team_id)))
}

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The calling token.
    async fn me(&self, c: &Context<'_>) -> Me {
        let (_, caller) = ctx(c);
        Me {
            token_id: ID(caller.token_id.to_string()),
            token_name: caller.token_name.clone(),
            team_id: ID(caller.team_id.to_string()),
            role: caller.role.as_str().to_uppercase(),
            instance_admin: caller.instance_admin,
        }
    }

    /// Endpoints of the caller's team, oldest first.
    async fn endpoints(&self, c: &Context<'_>) -> Result<Vec<EndpointObject>, ApiError> {
        let (ctx, caller) = ctx(c);
        let list = ctx.store.endpoints(caller.team_id).await?;
        Ok(list.into_iter().map(EndpointObject).collect())
    }

    async fn endpoint(&self, c: &Context<'_>, id: ID) -> Result<Option<EndpointObject>, ApiError> {
        let id = parse_id("id", &id)?;
        Ok(readable_endpoint(c, id).await?.map(EndpointObject))
    }

    /// Captures of one endpoint, newest first. `after` is the `endCursor` of the previous page.
    /// Counts as `first` × its selection towards the query complexity limit, so one query
    /// cannot ask for many large pages at once.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity")]
    async fn captures(
        &self,
        c: &Context<'_>,
        endpoint_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CaptureConnection, ApiError> {
        let (ctx, _) = ctx(c);
        let endpoint_id: EndpointId = parse_id("endpointId", &endpoint_id)?;
        readable_endpoint(c, endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        let max = ctx.settings.max_page_size;
        let limit = match first {
            None => ctx.settings.default_page_size,
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
        let page = ctx.store.captures(endpoint_id, &CapturePage { limit, before }).await?;
        let end_cursor = page.items.last().map(|c| encode_cursor(c.id));
        Ok(CaptureConnection {
            edges: page
                .items
                .into_iter()
                .map(|c| CaptureEdge { cursor: encode_cursor(c.id), node: CaptureObject(c) })
                .collect(),
            page_info: PageInfo { has_next_page: page.has_more, end_cursor },
        })
    }

    async fn capture(&self, c: &Context<'_>, id: ID) -> Result<Option<CaptureObject>, ApiError> {
        let (ctx, caller) = ctx(c);
        let id: CaptureId = parse_id("id", &id)?;
        let found = ctx.store.capture(id).await?;
        Ok(found.filter(|c| caller.can_read(c.team_id)).map(CaptureObject))
    }
}

/// Cursors are opaque to clients; today they wrap the capture id.
fn encode_cursor(id: CaptureId) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("capture:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<CaptureId, ApiError> {
    let bad = || ApiError::bad("after", "is not a cursor returned by this API");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("capture:").and_then(|id| id.parse().ok()).ok_or_else(bad)
}

pub struct MutationRoot;

#[derive(InputObject)]
struct CreateEndpointInput {
    name: String,
}

#[derive(InputObject)]
struct UpdateEndpointInput {
    name: Option<String>,
    /// A custom answer for captures; `null` keeps the current one. See `clearResponse`.
    response: Option<CustomResponseInput>,
    /// Return to the default `200 {"id": …}` answer.
    #[graphql(default)]
    clear_response: bool,
}

#[derive(InputObject)]
struct CustomResponseInput {
    #[graphql(default = 200)]
    status: i32,
    #[graphql(default)]
    headers: Vec<HeaderInput>,
    #[graphql(default)]
    body: String,
    #[graphql(default)]
    delay_ms: i32,
}

#[derive(InputObject)]
struct HeaderInput {
    name: String,
    value: String,
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

fn validate_response(r: CustomResponseInput) -> Result<CustomResponse, ApiError> {
    if !(200..=599).contains(&r.status) {
        return Err(ApiError::bad("response.status", format!("must be between 200 and 599, got {}", r.status)));
    }
    if r.delay_ms < 0 || r.delay_ms as u32 > MAX_RESPONSE_DELAY_MS {
        return Err(ApiError::bad(
            "response.delayMs",
            format!("must be between 0 and {MAX_RESPONSE_DELAY_MS}, got {}", r.delay_ms),
        ));
    }
    if r.body.len() > 64 * 1024 {
        return Err(ApiError::bad("response.body", "must be at most 65536 bytes"));
    }
    if r.headers.len() > 50 {
        return Err(ApiError::bad("response.headers", "at most 50 headers"));
    }
    for h in &r.headers {
        if http::HeaderName::try_from(h.name.as_str()).is_err() {
            return Err(ApiError::bad("response.headers", format!("`{}` is not a valid header name", h.name)));
        }
        if http::HeaderValue::try_from(h.value.as_str()).is_err() {
            return Err(ApiError::bad(
                "response.headers",
                format!("the value of `{}` is not a valid header value", h.name),
            ));
        }
    }
    Ok(CustomResponse {
        status: r.status as u16,
        headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body: r.body,
        delay_ms: r.delay_ms as u32,
    })
}

#[Object]
impl MutationRoot {
    /// Creates an endpoint in the caller's team with a new unguessable capture URL.
    async fn create_endpoint(&self, c: &Context<'_>, input: CreateEndpointInput) -> Result<EndpointObject, ApiError> {
        let (ctx, caller) = ctx(c);
        if !caller.can_edit(caller.team_id) {
            return Err(ApiError::Forbidden("create endpoints (needs EDITOR)"));
        }
        let endpoint = Endpoint {
            id: EndpointId::new(),
            team_id: caller.team_id,
            name: validate_name(&input.name)?,
            token: capture_token(),
            response: None,
            created_at: Timestamp::now(),
        };
        ctx.store.create_endpoint(&endpoint).await?;
        tracing::info!(endpoint_id = %endpoint.id, team_id = %endpoint.team_id, "endpoint created");
        Ok(EndpointObject(endpoint))
    }

    async fn update_endpoint(
        &self,
        c: &Context<'_>,
        id: ID,
        input: UpdateEndpointInput,
    ) -> Result<EndpointObject, ApiError> {
        let (ctx, caller) = ctx(c);
        let id: EndpointId = parse_id("id", &id)?;
        let mut endpoint = readable_endpoint(c, id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        if !caller.can_edit(endpoint.team_id) {
            return Err(ApiError::Forbidden("change endpoints (needs EDITOR)"));
        }
        if let Some(name) = input.name {
            endpoint.name = validate_name(&name)?;
        }
        if input.clear_response {
            endpoint.response = None;
        } else if let Some(r) = input.response {
            endpoint.response = Some(validate_response(r)?);
        }
        ctx.store.update_endpoint(&endpoint).await.map_err(|e| match e {
            StoreError::NotFound { .. } => ApiError::NotFound("endpoint"),
            other => other.into(),
        })?;
        Ok(EndpointObject(endpoint))
    }
}

#[derive(SimpleObject)]
struct Me {
    token_id: ID,
    token_name: String,
    team_id: ID,
    /// VIEWER, EDITOR or ADMIN.
    role: String,
    instance_admin: bool,
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

pub struct EndpointObject(Endpoint);

#[Object(name = "Endpoint")]
impl EndpointObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn team_id(&self) -> ID {
        ID(self.0.team_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The secret part of the capture URL.
    async fn token(&self) -> &str {
        &self.0.token
    }
    /// Where providers send webhooks: `<public base URL>/h/<token>`.
    async fn url(&self, c: &Context<'_>) -> String {
        let (ctx, _) = ctx(c);
        format!("{}/h/{}", ctx.settings.public_base_url, self.0.token)
    }
    /// The custom answer to captures, or null for the default `200 {"id": …}`.
    async fn response(&self) -> Option<CustomResponseObject> {
        self.0.response.clone().map(CustomResponseObject)
    }
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }
}

pub struct CustomResponseObject(CustomResponse);

#[Object(name = "CustomResponse")]
impl CustomResponseObject {
    async fn status(&self) -> i32 {
        i32::from(self.0.status)
    }
    async fn headers(&self) -> Vec<HeaderObject> {
        self.0.headers.iter().map(|(n, v)| HeaderObject { name: n.clone(), value: v.as_bytes().to_vec() }).collect()
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn delay_ms(&self) -> i32 {
        self.0.delay_ms as i32
    }
}

pub struct HeaderObject {
    name: String,
    value: Vec<u8>,
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

pub struct CaptureObject(CapturedRequest);

#[Object(name = "Capture")]
impl CaptureObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
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
    /// Every header line in arrival order, duplicates kept (see docs/capture.md for HTTP/2).
    async fn headers(&self) -> Vec<HeaderObject> {
        self.0.headers.iter().map(|h| HeaderObject { name: h.name.clone(), value: h.value.to_vec() }).collect()
    }
    /// The exact body bytes.
    async fn body_base64(&self) -> String {
        B64.encode(&self.0.body)
    }
    /// The body as text, or null when it is not valid UTF-8.
    async fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0.body).ok()
    }
    async fn body_size(&self) -> u64 {
        self.0.body_size()
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

    #[test]
    fn custom_response_validation_names_the_field() {
        let ok = CustomResponseInput { status: 201, headers: vec![], body: "x".into(), delay_ms: 0 };
        assert_eq!(validate_response(ok).unwrap().status, 201);
        let e =
            validate_response(CustomResponseInput { status: 99, headers: vec![], body: String::new(), delay_ms: 0 })
                .unwrap_err();
        assert_eq!(e.to_string(), "invalid `response.status`: must be between 200 and 599, got 99");
        let e = validate_response(CustomResponseInput {
            status: 200,
            headers: vec![],
            body: String::new(),
            delay_ms: 30_001,
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid `response.delayMs`"), "{e}");
        let h = vec![HeaderInput { name: "bad name".into(), value: "v".into() }];
        let e = validate_response(CustomResponseInput { status: 200, headers: h, body: String::new(), delay_ms: 0 })
            .unwrap_err();
        assert!(e.to_string().contains("`bad name` is not a valid header name"), "{e}");
    }
}
