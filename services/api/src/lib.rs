//! API role: the GraphQL API inspection clients use (`POST /graphql`, GraphiQL on `GET /graphql`,
//! subscriptions over WebSocket on `/graphql/ws`).
//!
//! Every request carries `Authorization: Bearer <token>` (WebSocket clients may send it in the
//! connection-init payload instead); the token's team decides what exists for the caller. Ids of
//! other teams get the same "not found" as ids that do not exist.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::{Data, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hookmetry_core::{ApiToken, Role, TeamId, Timestamp, TokenId, hash_token};
use hookmetry_store::Store;
use http::{HeaderMap, StatusCode};

mod diff;
mod error;
pub mod export;
pub mod live;
mod schema;
pub mod ui;

pub use error::ApiError;
pub use live::Hub;
pub use schema::{MutationRoot, QueryRoot, ReplaySettings, SubscriptionRoot};

pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest query accepted; deeper ones are refused before execution.
pub const MAX_QUERY_DEPTH: usize = 12;
/// Largest query complexity accepted: roughly the number of fields resolved, with list fields
/// multiplied by their page size (a full 200-capture page of every field is about 3,600).
pub const MAX_QUERY_COMPLEXITY: usize = 5_000;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// Base of capture URLs, e.g. `https://hooks.example.com`.
    pub public_base_url: String,
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

pub(crate) struct Ctx {
    pub store: Arc<dyn Store>,
    pub settings: ApiSettings,
    /// Live fan-out; `None` only in schemas built for SDL output.
    pub hub: Option<Arc<Hub>>,
    /// `None` on nodes built without replay: its mutations then answer `UNAVAILABLE`.
    pub replay: Option<ReplaySettings>,
}

pub struct Api {
    store: Arc<dyn Store>,
    schema: ApiSchema,
}

impl Api {
    /// `hub` feeds subscriptions; run it with [`Hub::run`] on the events log.
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>, settings: ApiSettings) -> Arc<Self> {
        let schema = build_schema(Some(Ctx { store: store.clone(), settings, hub: Some(hub), replay: None }));
        Arc::new(Self { store, schema })
    }

    /// As [`Api::new`], with replay: `replayCapture` and friends record deliveries and wake
    /// replay workers through `replay.log`.
    pub fn with_replay(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        settings: ApiSettings,
        replay: ReplaySettings,
    ) -> Arc<Self> {
        let schema = build_schema(Some(Ctx { store: store.clone(), settings, hub: Some(hub), replay: Some(replay) }));
        Arc::new(Self { store, schema })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/graphql", get(graphiql).post(graphql))
            .route("/graphql/ws", get(graphql_ws))
            .with_state(self.clone())
            // The web inspector: `/` and `/ui/<version>/…` (see ui.rs).
            .merge(ui::router())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let raw = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated("send `Authorization: Bearer <token>`"))?
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("the Authorization header is not valid text"))?;
        self.authenticate_value(raw).await
    }

    /// Checks an `Authorization` value, `Bearer <token>`.
    async fn authenticate_value(&self, raw: &str) -> Result<Caller, ApiError> {
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
        .extension(error::ErrorCodes);
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
    GraphQLResponse::from(api.schema.execute(request.data(caller)).await).into_response()
}

async fn graphiql() -> impl IntoResponse {
    (StatusCode::OK, Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish()))
}

/// WebSocket subscriptions, speaking `graphql-transport-ws` or the legacy `graphql-ws`, whichever
/// the client offers. The token comes from the upgrade request's `Authorization` header or from
/// the connection-init payload (`{"authorization": "Bearer …"}`); a bad header is refused before
/// the upgrade, a bad payload closes the connection with the reason.
async fn graphql_ws(
    State(api): State<Arc<Api>>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let from_header = match headers.contains_key(http::header::AUTHORIZATION) {
        true => match api.authenticate(&headers).await {
            Ok(caller) => Some(caller),
            Err(e) => return e.into_response(),
        },
        false => None,
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let schema = api.schema.clone();
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let caller = match init_authorization(&payload) {
                        Some(value) => api.authenticate_value(&value).await.map_err(|e| e.to_string())?,
                        None => from_header.ok_or_else(|| {
                            ApiError::Unauthenticated(
                                "send `{\"authorization\": \"Bearer <token>\"}` in connection_init or an Authorization header",
                            )
                            .to_string()
                        })?,
                    };
                    let mut data = Data::default();
                    data.insert(caller);
                    Ok(data)
                })
                .serve()
        })
}

/// The bearer value in a connection-init payload: `authorization` in any case, at the top level
/// or under `headers` (as some clients send it).
fn init_authorization(payload: &serde_json::Value) -> Option<String> {
    let find = |v: &serde_json::Value| {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    };
    find(payload).or_else(|| payload.get("headers").and_then(find))
}
