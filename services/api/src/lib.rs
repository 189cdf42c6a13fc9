//! API role: the GraphQL API inspection clients use (`POST /graphql`, GraphiQL on `GET /graphql`).
//!
//! Every request carries `Authorization: Bearer <token>`; the token's team decides what exists
//! for the caller. Ids of other teams get the same "not found" as ids that do not exist.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::{EmptySubscription, Schema};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hookmetry_core::{ApiToken, Role, TeamId, Timestamp, TokenId, hash_token};
use hookmetry_store::Store;
use http::{HeaderMap, StatusCode};

mod error;
mod schema;

pub use error::ApiError;
pub use schema::{MutationRoot, QueryRoot};

pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

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

    /// Whether the caller may change endpoints (and later replay) in `team`.
    pub fn can_edit(&self, team: TeamId) -> bool {
        self.can_read(team) && (self.instance_admin || self.role >= Role::Editor)
    }
}

pub(crate) struct Ctx {
    pub store: Arc<dyn Store>,
    pub settings: ApiSettings,
}

pub struct Api {
    store: Arc<dyn Store>,
    schema: ApiSchema,
}

impl Api {
    pub fn new(store: Arc<dyn Store>, settings: ApiSettings) -> Arc<Self> {
        let schema = build_schema(Some(Ctx { store: store.clone(), settings }));
        Arc::new(Self { store, schema })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().route("/graphql", get(graphiql).post(graphql)).with_state(self.clone())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let raw = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated("send `Authorization: Bearer <token>`"))?
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("the Authorization header is not valid text"))?;
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
    let builder = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
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
    (StatusCode::OK, Html(GraphiQLSource::build().endpoint("/graphql").finish()))
}
