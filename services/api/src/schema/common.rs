//! Helpers every schema module shares: the caller's access, id and name parsing, cursors, the
//! budgeted capture read and replay target checks. Schema modules import these from here, and
//! each other only for GraphQL types.

use async_graphql::{Context, ID};
use base64::Engine;
use hookmetry_core::{CaptureId, CapturedRequest, Endpoint, EndpointId, Role, Team, TeamId};
use hookmetry_egress::EgressPolicy;

use crate::{ApiError, Caller, Ctx};

/// Most forwarding rules one endpoint has.
pub const MAX_RULES: usize = 20;
/// Longest listener name.
pub const MAX_NAME: usize = 64;
pub(crate) fn ctx<'a>(c: &Context<'a>) -> (&'a Ctx, &'a Caller) {
    // Both are always attached: Ctx when the schema is built, Caller by the authenticated
    // handler (HTTP) or connection init (WebSocket) before any resolver runs.
    (c.data_unchecked::<Ctx>(), c.data_unchecked::<Caller>())
}

pub(crate) fn parse_id<T: std::str::FromStr<Err = hookmetry_core::IdParseError>>(
    field: &'static str,
    id: &ID,
) -> Result<T, ApiError> {
    id.as_str().parse::<T>().map_err(|e| ApiError::bad(field, e.to_string()))
}

/// Resolver-side access checks for one request.
pub(crate) struct Access<'a> {
    pub ctx: &'a Ctx,
    pub caller: &'a Caller,
}

impl<'a> Access<'a> {
    pub fn of(c: &Context<'a>) -> Self {
        let (ctx, caller) = ctx(c);
        Self { ctx, caller }
    }

    /// `team_id` or the caller's own team, if it exists and the caller may see it.
    pub async fn team(&self, field: &'static str, team_id: Option<&ID>) -> Result<Team, ApiError> {
        let id: TeamId = match team_id {
            Some(id) => parse_id(field, id)?,
            None => self.caller.team_id,
        };
        if !self.caller.can_read(id) {
            return Err(ApiError::NotFound("team"));
        }
        self.ctx.store.team(id).await?.ok_or(ApiError::NotFound("team"))
    }

    /// The endpoint if it exists and the caller may see it.
    pub async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, ApiError> {
        Ok(self.ctx.store.endpoint(id).await?.filter(|e| self.caller.can_read(e.team_id)))
    }

    /// The endpoint `endpointId` names, if the caller may see it and is an editor of its team:
    /// what every mutation of an endpoint's settings checks first.
    pub async fn editable_endpoint(&self, id: &ID, action: &'static str) -> Result<Endpoint, ApiError> {
        let id: EndpointId = parse_id("endpointId", id)?;
        let endpoint = self.endpoint(id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        self.require(endpoint.team_id, Role::Editor, action)?;
        Ok(endpoint)
    }

    pub fn require(&self, team: TeamId, role: Role, action: &'static str) -> Result<(), ApiError> {
        if self.caller.has_role(team, role) { Ok(()) } else { Err(ApiError::Forbidden(action)) }
    }
}

/// Names of teams, tokens and endpoints.
pub(crate) fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad("name", "must be 1 to 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad("name", "must not contain control characters"));
    }
    Ok(name.to_string())
}

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

pub(crate) fn encode_cursor(id: CaptureId) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("capture:{id}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<CaptureId, ApiError> {
    let bad = || ApiError::bad("after", "is not a cursor returned by this API");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("capture:").and_then(|id| id.parse().ok()).ok_or_else(bad)
}

/// A capture by id, its body charged to the response's budget: at the largest size a body can
/// have before the read (its size is not known until then), at its own size after.
pub(crate) async fn load_capture(ctx: &Ctx, id: CaptureId) -> Result<Option<CapturedRequest>, ApiError> {
    let most = ctx.settings.max_body_bytes;
    crate::budget::charge(most)?;
    let found = ctx.store.capture(id).await;
    let held = found.as_ref().ok().and_then(|c| c.as_ref()).map_or(0, CapturedRequest::body_size);
    crate::budget::refund(most.saturating_sub(held));
    Ok(found?)
}

/// The target as a URL the worker may send to: allowed by the egress policy and not one of this
/// instance's own capture URLs, where every forward would be captured again.
pub(crate) fn parse_target(
    raw: &str,
    policy: &EgressPolicy,
    own_bases: &[String],
) -> Result<hookmetry_egress::Url, ApiError> {
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
