//! Endpoints: capture URLs and their custom answers.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use hookmetry_core::{CustomResponse, Endpoint, EndpointId, MAX_RESPONSE_DELAY_MS, Role, Timestamp, capture_token};
use hookmetry_store::StoreError;

use super::captures::HeaderObject;
use super::common::{Access, MAX_RULES, ctx, parse_id, validate_name};
use crate::ApiError;

#[derive(Default)]
pub struct EndpointQuery;

#[Object]
impl EndpointQuery {
    /// Endpoints of a team (default: the caller's), oldest first.
    #[graphql(complexity = "crate::LIST_COST * child_complexity")]
    async fn endpoints(&self, c: &Context<'_>, team_id: Option<ID>) -> Result<Vec<EndpointObject>, ApiError> {
        let a = Access::of(c);
        let team = a.team("teamId", team_id.as_ref()).await?;
        Ok(a.ctx.store.endpoints(team.id).await?.into_iter().map(EndpointObject).collect())
    }

    /// An endpoint the caller may see, or null.
    async fn endpoint(&self, c: &Context<'_>, id: ID) -> Result<Option<EndpointObject>, ApiError> {
        let id = parse_id("id", &id)?;
        Ok(Access::of(c).endpoint(id).await?.map(EndpointObject))
    }
}

#[derive(InputObject)]
struct CreateEndpointInput {
    name: String,
    /// Default: the caller's team.
    team_id: Option<ID>,
    /// Delete the endpoint and its captures this many seconds after creation (1 s to 365 days);
    /// its capture URL answers 404 from then on. For throwaway endpoints in CI.
    ttl_seconds: Option<i64>,
    /// Accept at most this many captures; past it the capture URL answers 429 and stores nothing.
    max_captures: Option<i64>,
}

/// Longest time to live: a year.
const MAX_TTL_SECONDS: i64 = 365 * 24 * 3600;
/// Largest capture cap.
const MAX_CAPTURES_CAP: i64 = 1_000_000_000;

/// `ttlSeconds` as an expiry counted from `created_at`; the error names the field.
fn expiry(created_at: Timestamp, ttl_seconds: i64) -> Result<Timestamp, ApiError> {
    if !(1..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
        return Err(ApiError::bad(
            "ttlSeconds",
            format!("must be between 1 and {MAX_TTL_SECONDS} (365 days), got {ttl_seconds}"),
        ));
    }
    Ok(Timestamp::from_micros(created_at.micros() + ttl_seconds * 1_000_000))
}

fn capture_cap(max: i64) -> Result<u64, ApiError> {
    if !(1..=MAX_CAPTURES_CAP).contains(&max) {
        return Err(ApiError::bad("maxCaptures", format!("must be between 1 and {MAX_CAPTURES_CAP}, got {max}")));
    }
    Ok(max as u64)
}

#[derive(InputObject)]
struct UpdateEndpointInput {
    id: ID,
    name: Option<String>,
    /// A custom answer for captures; `null` keeps the current one. See `clearResponse`.
    response: Option<CustomResponseInput>,
    /// Return to the default `200 {"id": …}` answer.
    #[graphql(default)]
    clear_response: bool,
    /// How captures are checked for authenticity; replaces the current settings (secrets too,
    /// when given). `null` stops verifying; absent keeps the current settings. To rotate a secret
    /// without sending the others again, see `addVerificationSecret`.
    verification: MaybeUndefined<super::verification::VerificationInput>,
    /// Answer providers' URL-verification handshakes (Slack `url_verification`, Zoom
    /// `endpoint.url_validation` with the endpoint's Zoom secret, Twitch
    /// `webhook_callback_verification`) instead of the usual response. Handshakes are captured too.
    handshakes: Option<bool>,
    /// Where a custom sender names its events (`header:<name>` or `json:/pointer` per field),
    /// overriding the provider's places field by field. `null` clears; absent keeps.
    event_fields: MaybeUndefined<EventFieldsInput>,
    /// Rules that choose each answer, tried in order before `response`: fixed, sequence, mix,
    /// gone after N, latency. Replaces the list; `null` or `[]` removes it; absent keeps it.
    /// A change starts every rule's count over.
    scenario: MaybeUndefined<Vec<super::scenario::ScenarioRuleInput>>,
    /// At most this many captures (counted since creation or `resetEndpointCounters`); `null`
    /// removes the cap; absent keeps it.
    max_captures: MaybeUndefined<i64>,
    /// Expire this many seconds after the endpoint's creation; `null` keeps it forever; absent
    /// keeps the current expiry.
    ttl_seconds: MaybeUndefined<i64>,
}

#[derive(InputObject)]
struct ResetEndpointCountersInput {
    id: ID,
}

/// Where a sender names each part of its events: `header:<name>`, or `json:<RFC 6901 pointer>`
/// (a bare `/pointer` is read as `json:`). Unset fields fall back to the provider's.
#[derive(InputObject, Default)]
pub(crate) struct EventFieldsInput {
    pub id: Option<String>,
    #[graphql(name = "type")]
    pub kind: Option<String>,
    pub created_at: Option<String>,
    pub attempt: Option<String>,
    pub resource: Option<String>,
}

impl EventFieldsInput {
    /// The fields as stored, `None` when none is set; the error names the field that cannot be read.
    fn into_fields(self) -> Result<Option<hookmetry_core::EventFields>, ApiError> {
        let blank = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let fields = hookmetry_core::EventFields {
            id: blank(self.id),
            kind: blank(self.kind),
            created_at: blank(self.created_at),
            attempt: blank(self.attempt),
            resource: blank(self.resource),
        };
        hookmetry_verify::validate_fields(&fields).map_err(|(field, m)| ApiError::bad(field, m))?;
        Ok((!fields.is_empty()).then_some(fields))
    }
}

/// Where a custom sender names its events, as configured.
#[derive(SimpleObject)]
#[graphql(name = "EventFields")]
pub(crate) struct EventFieldsObject {
    id: Option<String>,
    #[graphql(name = "type")]
    kind: Option<String>,
    created_at: Option<String>,
    attempt: Option<String>,
    resource: Option<String>,
}

#[derive(InputObject)]
struct DeleteEndpointInput {
    id: ID,
}

#[derive(InputObject)]
pub(crate) struct CustomResponseInput {
    #[graphql(default = 200)]
    status: i32,
    #[graphql(default)]
    headers: Vec<HeaderInput>,
    #[graphql(default)]
    body: String,
    #[graphql(default)]
    delay_ms: i32,
}

/// One header line: a custom response's, or one a replay sends.
#[derive(InputObject, Clone)]
pub(crate) struct HeaderInput {
    pub name: String,
    pub value: String,
}

/// What a delete removed.
#[derive(SimpleObject)]
pub(crate) struct Deleted {
    pub id: ID,
}

/// A custom response as stored, or the field that is wrong. `separate_origin`: capture URLs
/// have an origin of their own, so an active content type cannot reach the inspector's.
pub(crate) fn validate_response(r: CustomResponseInput, separate_origin: bool) -> Result<CustomResponse, ApiError> {
    if !(200..=599).contains(&r.status) {
        return Err(ApiError::bad("response.status", format!("must be between 200 and 599, got {}", r.status)));
    }
    if r.delay_ms < 0 || r.delay_ms as u32 > MAX_RESPONSE_DELAY_MS {
        return Err(ApiError::bad(
            "response.delayMs",
            format!("must be between 0 and {MAX_RESPONSE_DELAY_MS}, got {}", r.delay_ms),
        ));
    }
    let response = CustomResponse {
        status: r.status as u16,
        headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body: r.body,
        delay_ms: r.delay_ms as u32,
    };
    hookmetry_core::scenario::check_reply(
        "response",
        response.status,
        &response.headers,
        &response.body,
        response.delay_ms,
        separate_origin,
    )
    .map_err(|e| ApiError::bad(e.field, e.message))?;
    Ok(response)
}

#[derive(Default)]
pub struct EndpointMutation;

#[Object]
impl EndpointMutation {
    /// Creates an endpoint with a new unguessable capture URL. Needs EDITOR.
    async fn create_endpoint(&self, c: &Context<'_>, input: CreateEndpointInput) -> Result<EndpointObject, ApiError> {
        let a = Access::of(c);
        let team = a.team("teamId", input.team_id.as_ref()).await?;
        a.require(team.id, Role::Editor, "create endpoints (needs EDITOR)")?;
        // Every list a query can read is bounded (docs/security.md).
        let max = a.ctx.settings.max_endpoints_per_team;
        let count = a.ctx.store.endpoints(team.id).await?.len();
        if count >= max {
            return Err(ApiError::LimitExceeded(format!(
                "this team already has {count} endpoints (api.max_endpoints_per_team); delete one first"
            )));
        }
        let endpoint = Endpoint {
            id: EndpointId::new(),
            team_id: team.id,
            name: validate_name(&input.name)?,
            token: capture_token(),
            response: None,
            verification: None,
            handshakes: false,
            event_fields: None,
            scenario: Vec::new(),
            max_captures: input.max_captures.map(capture_cap).transpose()?,
            expires_at: None,
            created_at: Timestamp::now(),
        };
        let endpoint =
            Endpoint { expires_at: input.ttl_seconds.map(|t| expiry(endpoint.created_at, t)).transpose()?, ..endpoint };
        a.ctx.store.create_endpoint(&endpoint).await?;
        tracing::info!(endpoint_id = %endpoint.id, team_id = %endpoint.team_id, "endpoint created");
        Ok(EndpointObject(endpoint))
    }

    /// Renames an endpoint or changes its answer. Needs EDITOR. Ingest sees the change within
    /// its endpoint cache time (2 s).
    async fn update_endpoint(&self, c: &Context<'_>, input: UpdateEndpointInput) -> Result<EndpointObject, ApiError> {
        let a = Access::of(c);
        let id: EndpointId = parse_id("id", &input.id)?;
        let mut endpoint = a.endpoint(id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        a.require(endpoint.team_id, Role::Editor, "change endpoints (needs EDITOR)")?;
        if let Some(name) = input.name {
            endpoint.name = validate_name(&name)?;
        }
        if input.clear_response {
            endpoint.response = None;
        } else if let Some(r) = input.response {
            endpoint.response = Some(validate_response(r, a.ctx.settings.separate_capture_origin)?);
        }
        let verification_changed = !input.verification.is_undefined();
        super::verification::VerificationInput::apply(&mut endpoint.verification, input.verification)?;
        if let Some(h) = input.handshakes {
            endpoint.handshakes = h;
        }
        match input.event_fields {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => endpoint.event_fields = None,
            MaybeUndefined::Value(f) => endpoint.event_fields = f.into_fields()?,
        }
        let scenario_before = endpoint.scenario.clone();
        match input.scenario {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => endpoint.scenario = Vec::new(),
            MaybeUndefined::Value(rules) => {
                endpoint.scenario = super::scenario::into_rules(rules, a.ctx.settings.separate_capture_origin)?
            }
        }
        match input.max_captures {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => endpoint.max_captures = None,
            MaybeUndefined::Value(max) => endpoint.max_captures = Some(capture_cap(max)?),
        }
        match input.ttl_seconds {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => endpoint.expires_at = None,
            MaybeUndefined::Value(ttl) => endpoint.expires_at = Some(expiry(endpoint.created_at, ttl)?),
        }
        a.ctx.store.update_endpoint(&endpoint).await.map_err(|e| match e {
            StoreError::NotFound { .. } => ApiError::NotFound("endpoint"),
            other => other.into(),
        })?;
        if endpoint.scenario != scenario_before {
            // A sequence's position means nothing under different rules.
            a.ctx.store.reset_counters(id, "rule:").await?;
            tracing::info!(endpoint_id = %id, rules = endpoint.scenario.len(), "endpoint scenario changed");
        }
        if verification_changed {
            // Which provider, never which secret values.
            let provider = endpoint.verification.as_ref().map(|v| v.provider.as_str()).unwrap_or("none");
            tracing::info!(endpoint_id = %id, provider, "endpoint verification settings changed");
        }
        Ok(EndpointObject(endpoint))
    }

    /// Starts the endpoint's counts over: every sequence at its first step, every gone-after
    /// rule at zero, and the captures `maxCaptures` counts. Needs EDITOR.
    async fn reset_endpoint_counters(
        &self,
        c: &Context<'_>,
        input: ResetEndpointCountersInput,
    ) -> Result<EndpointObject, ApiError> {
        let a = Access::of(c);
        let id: EndpointId = parse_id("id", &input.id)?;
        let endpoint = a.endpoint(id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        a.require(endpoint.team_id, Role::Editor, "reset endpoint counters (needs EDITOR)")?;
        a.ctx.store.reset_counters(id, "").await?;
        tracing::info!(endpoint_id = %id, "endpoint counters reset");
        Ok(EndpointObject(endpoint))
    }

    /// Deletes an endpoint and every capture of it. Its capture URL answers 404 from then on.
    /// Needs EDITOR.
    async fn delete_endpoint(&self, c: &Context<'_>, input: DeleteEndpointInput) -> Result<Deleted, ApiError> {
        let a = Access::of(c);
        let id: EndpointId = parse_id("id", &input.id)?;
        let endpoint = a.endpoint(id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        a.require(endpoint.team_id, Role::Editor, "delete endpoints (needs EDITOR)")?;
        a.ctx.store.delete_endpoint(id).await?;
        tracing::info!(endpoint_id = %id, team_id = %endpoint.team_id, "endpoint deleted");
        Ok(Deleted { id: input.id })
    }
}

pub struct EndpointObject(pub Endpoint);

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
    /// How captures are checked for authenticity; null when not configured. Secret values are
    /// write-only and never returned.
    async fn verification(&self) -> Option<super::verification::VerificationSettingsObject> {
        self.0.verification.clone().map(super::verification::VerificationSettingsObject)
    }
    /// Whether provider URL-verification handshakes are answered.
    async fn handshakes(&self) -> bool {
        self.0.handshakes
    }
    /// Where a custom sender names its events; null when the provider's places are used.
    async fn event_fields(&self) -> Option<EventFieldsObject> {
        self.0.event_fields.clone().map(|f| EventFieldsObject {
            id: f.id,
            kind: f.kind,
            created_at: f.created_at,
            attempt: f.attempt,
            resource: f.resource,
        })
    }
    /// The learned JSON shape of each event type's bodies, by type (at most 100 types per
    /// endpoint are learned).
    #[graphql(complexity = "100 * child_complexity")]
    async fn event_shapes(&self, c: &Context<'_>) -> Result<Vec<super::events::EventShapeObject>, ApiError> {
        let (ctx, _) = ctx(c);
        let shapes = ctx.store.event_shapes(self.0.id, super::events::MAX_SHAPES_LISTED).await?;
        Ok(shapes.into_iter().map(super::events::EventShapeObject).collect())
    }
    /// The learned shape of one event type's bodies, or null.
    async fn event_shape(
        &self,
        c: &Context<'_>,
        event_type: String,
    ) -> Result<Option<super::events::EventShapeObject>, ApiError> {
        let (ctx, _) = ctx(c);
        Ok(ctx.store.event_shape(self.0.id, &event_type).await?.map(super::events::EventShapeObject))
    }
    /// Rules that choose each answer, tried in order before `response`.
    #[graphql(complexity = "MAX_RULES * child_complexity")]
    async fn scenario(&self) -> Vec<super::scenario::ScenarioRuleObject> {
        self.0.scenario.iter().cloned().map(super::scenario::ScenarioRuleObject).collect()
    }
    /// At most this many captures are accepted; null when uncapped.
    async fn max_captures(&self) -> Option<i64> {
        self.0.max_captures.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
    }
    /// When the endpoint and its captures are deleted; null when it does not expire.
    async fn expires_at(&self) -> Option<String> {
        self.0.expires_at.map(|t| t.to_rfc3339())
    }
    /// The time to live it was given, counted from creation; null when it does not expire.
    async fn ttl_seconds(&self) -> Option<i64> {
        self.0.expires_at.map(|t| (t.micros() - self.0.created_at.micros()).div_euclid(1_000_000))
    }
    /// Requests counted since creation or the last `resetEndpointCounters`.
    async fn counters(&self, c: &Context<'_>) -> Result<super::scenario::EndpointCounters, ApiError> {
        let (ctx, _) = ctx(c);
        Ok(super::scenario::EndpointCounters::of(ctx.store.counters(self.0.id).await?, self.0.max_captures))
    }
    /// Where new captures are forwarded automatically, in order.
    #[graphql(complexity = "MAX_RULES * child_complexity")]
    async fn forwarding_rules(&self, c: &Context<'_>) -> Result<Vec<super::rules::ForwardingRuleObject>, ApiError> {
        let (ctx, _) = ctx(c);
        let rules = ctx.store.forwarding_rules(self.0.id).await?;
        Ok(rules.into_iter().map(super::rules::ForwardingRuleObject).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_response_validation_names_the_field() {
        let ok = CustomResponseInput { status: 201, headers: vec![], body: "x".into(), delay_ms: 0 };
        assert_eq!(validate_response(ok, false).unwrap().status, 201);
        let e = validate_response(
            CustomResponseInput { status: 99, headers: vec![], body: String::new(), delay_ms: 0 },
            false,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "invalid `response.status`: must be between 200 and 599, got 99");
        let e = validate_response(
            CustomResponseInput { status: 200, headers: vec![], body: String::new(), delay_ms: 30_001 },
            false,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid `response.delayMs`"), "{e}");
        let h = vec![HeaderInput { name: "bad name".into(), value: "v".into() }];
        let e =
            validate_response(CustomResponseInput { status: 200, headers: h, body: String::new(), delay_ms: 0 }, false)
                .unwrap_err();
        assert!(e.to_string().contains("`bad name` is not a valid header name"), "{e}");
    }

    #[test]
    fn html_needs_a_capture_origin_of_its_own() {
        let html = || CustomResponseInput {
            status: 200,
            headers: vec![HeaderInput { name: "Content-Type".into(), value: "text/html".into() }],
            body: "<p>".into(),
            delay_ms: 0,
        };
        let e = validate_response(html(), false).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid `response.headers`")
                && e.to_string().contains("server.capture_base_url"),
            "{e}"
        );
        assert!(validate_response(html(), true).is_ok());
    }
}
