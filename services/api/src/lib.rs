//! API role: the GraphQL API inspection clients use (`POST /graphql`, GraphiQL on `GET /graphql`,
//! subscriptions over WebSocket on `/graphql/ws`).
//!
//! Every request carries `Authorization: Bearer <token>` (WebSocket clients may send it in the
//! connection-init payload instead); the token's team decides what exists for the caller. Ids of
//! other teams get the same "not found" as ids that do not exist.

use std::sync::Arc;

use async_graphql::Schema;
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hookmetry_core::{ApiToken, Role, TeamId, Timestamp, TokenId, hash_token};
use hookmetry_egress::EgressPolicy;
use hookmetry_log::EventLog;
use hookmetry_replay::{Announcer, Deliveries};
use hookmetry_store::Store;
use http::HeaderMap;

mod apply;
mod budget;
mod diff;
mod error;
pub mod export;
mod graphiql;
pub mod live;
mod schema;
mod session;
pub mod ui;
mod ws;

pub use error::ApiError;
pub use live::Hub;
pub use schema::{MutationRoot, QueryRoot, SubscriptionRoot};
pub use session::Subscriptions;

pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest query accepted; deeper ones are refused before execution.
pub const MAX_QUERY_DEPTH: usize = 12;
/// Largest query complexity accepted: the number of fields resolved, where every list field
/// counts as its bound times its selection (a page of `captures` as `first`, `deliveries` and
/// `attempts` as their `first`/`last`, rules, teams, tokens and endpoints as the most one query
/// can meet) and every field that carries a whole request body as [`BODY_COST`]. A full
/// 200-capture page of the inspector's list fields, event parts included, is about 4,800 (it
/// asks for pages of 100); nesting lists of lists multiplies their bounds and is refused.
pub const MAX_QUERY_COMPLEXITY: usize = 5_000;
/// What a field carrying a captured body (up to `ingest.max_body_bytes`) counts: reading one
/// costs as much as dozens of ordinary fields, and a page of them is refused long before the
/// bodies add up.
pub const BODY_COST: usize = 20;
/// Bound of lists that grow only by an admin's or editor's deliberate action (teams, tokens,
/// endpoints), for the complexity count; they are not cut.
pub const LIST_COST: usize = 50;
/// Default and largest `first` of `Capture.deliveries` (newest first).
pub const DEFAULT_DELIVERIES: i32 = 20;
pub const MAX_DELIVERIES: i32 = 100;
/// Default and largest `last` of `Delivery.attempts` (the latest ones, oldest first).
pub const DEFAULT_ATTEMPTS: i32 = 10;
pub const MAX_ATTEMPTS_LISTED: i32 = 100;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// Base of capture URLs, e.g. `https://hooks.example.com`.
    pub public_base_url: String,
    /// Whether capture URLs have an origin of their own (`server.capture_base_url` on another
    /// host than the inspector's).
    pub separate_capture_origin: bool,
    /// Every base URL this instance's capture URLs answer under; forwarding and replay refuse
    /// targets below them (see `Config::own_base_urls`).
    pub own_base_urls: Vec<String>,
    /// Names `hookmetry listen --name` may use per endpoint.
    pub max_listeners_per_endpoint: usize,
    /// Endpoints and unrevoked tokens one team may have.
    pub max_endpoints_per_team: usize,
    pub max_tokens_per_team: usize,
    /// Bytes of bodies one response may hold (see budget.rs).
    pub max_response_bytes: u64,
    /// `ingest.max_body_bytes`: what a capture read by id is charged before its size is known.
    pub max_body_bytes: u64,
    pub ws: WsSettings,
}

/// What the API needs to create deliveries and announce changes.
#[derive(Clone)]
pub struct ReplaySettings {
    /// Wakes replay workers and carries announcements; a failed append only delays a delivery
    /// until a worker's scan. `sendTestEvent` appends its capture here too.
    pub log: Arc<dyn EventLog>,
    /// Checked when a replay is asked for, so an IP literal the worker would refuse is refused
    /// at once with the reason; names are checked again on the resolved address when sent.
    pub policy: EgressPolicy,
    pub max_attempts: u32,
}

/// Limits of `/graphql/ws` sockets.
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// A socket not authenticated within this time is closed.
    pub init_timeout: std::time::Duration,
    pub max_message_bytes: usize,
    /// A client that does not answer a keep-alive within this time is closed.
    pub idle_timeout: std::time::Duration,
    /// How often a socket re-checks its token; subscriptions of a revoked token end within it.
    pub session_recheck: std::time::Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            init_timeout: std::time::Duration::from_secs(5),
            max_message_bytes: 1 << 20,
            idle_timeout: std::time::Duration::from_secs(60),
            session_recheck: std::time::Duration::from_secs(5),
        }
    }
}

/// Who is calling: resolved from the bearer token once per request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: TokenId,
    pub token_name: String,
    pub team_id: TeamId,
    pub role: Role,
    pub instance_admin: bool,
}

impl Caller {
    /// Whether the caller may see data of `team`.
    pub fn can_read(&self, team: TeamId) -> bool {
        self.instance_admin || self.team_id == team
    }

    /// Whether the caller holds at least `role` in `team`.
    pub fn has_role(&self, team: TeamId, role: Role) -> bool {
        self.can_read(team) && (self.instance_admin || self.role >= role)
    }
}

/// What resolvers reach through the schema's data; schemas built only for SDL output have none.
pub(crate) struct Ctx {
    pub store: Arc<dyn Store>,
    pub subscriptions: Arc<Subscriptions>,
    pub settings: ApiSettings,
    /// Live fan-out.
    pub hub: Arc<Hub>,
    pub replay: ReplaySettings,
    pub deliveries: Deliveries,
    pub announcer: Announcer,
}

pub struct Api {
    store: Arc<dyn Store>,
    schema: ApiSchema,
    ws: WsSettings,
    max_response_bytes: u64,
}

impl Api {
    /// `hub` feeds subscriptions (run it with [`Hub::run`] on the events log); `subscriptions`
    /// bounds WebSocket operations per node and per team. With replay, `replayCapture` and
    /// friends record deliveries and wake replay workers through `replay.log`.
    pub fn with_replay(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        subscriptions: Arc<Subscriptions>,
        settings: ApiSettings,
        replay: ReplaySettings,
    ) -> Arc<Self> {
        let ws = settings.ws.clone();
        let max_response_bytes = settings.max_response_bytes;
        let deliveries = Deliveries::new(store.clone(), replay.log.clone());
        let announcer = deliveries.announcer().clone();
        let schema = build_schema(Some(Ctx {
            store: store.clone(),
            subscriptions,
            settings,
            hub,
            replay,
            deliveries,
            announcer,
        }));
        Arc::new(Self { store, schema, ws, max_response_bytes })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/graphql", get(graphiql::page).post(graphql))
            .merge(graphiql::router())
            .route("/graphql/ws", get(ws::graphql_ws))
            .with_state(self.clone())
            // The web inspector: `/` and `/ui/<version>/…` (see ui.rs).
            .merge(ui::router())
    }

    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let raw = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated("send `Authorization: Bearer <token>`"))?
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("the Authorization header is not valid text"))?;
        self.authenticate_value(raw).await
    }

    /// Checks an `Authorization` value, `Bearer <token>`.
    pub(crate) async fn authenticate_value(&self, raw: &str) -> Result<Caller, ApiError> {
        let secret = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`"))?
            .trim();
        let token = self
            .store
            .token_by_hash(&hash_token(secret))
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
            .filter(|t| !t.revoked)
            .ok_or(ApiError::Unauthenticated("the token is unknown or revoked"))?;
        self.touch(&token);
        Ok(Caller {
            token_id: token.id,
            token_name: token.name,
            team_id: token.team_id,
            role: token.role,
            instance_admin: token.instance_admin,
        })
    }

    /// Records last use at most once a minute per token, off the request path.
    fn touch(&self, token: &ApiToken) {
        let now = Timestamp::now();
        let stale = token.last_used_at.is_none_or(|t| now.micros() - t.micros() > 60_000_000);
        if stale {
            let store = self.store.clone();
            let id = token.id;
            tokio::spawn(async move {
                if let Err(e) = store.touch_token(id, now).await {
                    tracing::debug!(error = %e, token_id = %id, "token last-used not recorded");
                }
            });
        }
    }
}

fn build_schema(ctx: Option<Ctx>) -> ApiSchema {
    let builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .limit_depth(MAX_QUERY_DEPTH)
        .limit_complexity(MAX_QUERY_COMPLEXITY)
        // ErrorCodes first: it wraps the others, so their refusals get codes too.
        .extension(error::ErrorCodes)
        .extension(session::Sessions);
    match ctx {
        Some(ctx) => builder.data(ctx).finish(),
        None => builder.finish(),
    }
}

/// The schema in SDL, as committed in `docs/schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

/// Largest GraphQL request body accepted.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Authenticates before reading the body, then reads at most `MAX_REQUEST_BYTES`: an anonymous
/// client cannot make the server buffer anything.
async fn graphql(State(api): State<Arc<Api>>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let caller = match api.authenticate(&headers).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::TooLarge { limit: MAX_REQUEST_BYTES }.into_response(),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return ApiError::bad("body", format!("not a GraphQL request in JSON: {e}")).into_response(),
    };
    let budget = budget::Budget::new(api.max_response_bytes);
    GraphQLResponse::from(budget::scope(budget, api.schema.execute(request.data(caller))).await).into_response()
}

/// The bearer value in a connection-init payload: `authorization` in any case, at the top level
/// or under `headers` (as some clients send it).
pub(crate) fn init_authorization(payload: &serde_json::Value) -> Option<String> {
    let find = |v: &serde_json::Value| {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    };
    find(payload).or_else(|| payload.get("headers").and_then(find))
}
