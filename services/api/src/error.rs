use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use hookmetry_store::StoreError;
use http::StatusCode;

/// API errors, mapped once to an HTTP status (outside GraphQL) and a GraphQL `extensions.code`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("not authenticated: {0}")]
    Unauthenticated(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("your token's role may not {0}")]
    Forbidden(&'static str),
    /// Forbidden because something belongs to another token, whatever the role.
    #[error("{0}")]
    NotOwner(String),
    #[error("invalid `{field}`: {message}")]
    BadInput { field: std::borrow::Cow<'static, str>, message: String },
    /// Bad input whose message is a whole sentence already (a name another endpoint has).
    #[error("{message}")]
    Taken { field: &'static str, message: String },
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// Someone else holds what was asked for (a running listener's name).
    #[error("{0}")]
    Conflict(String),
    #[error(
        "subscriber lagged: {buffer} captures were waiting (api.subscriber_buffer) and the subscription ended; \
         subscribe again and read missed captures with `captures`"
    )]
    Lagged { buffer: usize },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Forbidden(_) | ApiError::NotOwner(_) => "FORBIDDEN",
            ApiError::BadInput { .. } | ApiError::Taken { .. } => "BAD_USER_INPUT",
            ApiError::TooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Lagged { .. } => "LAGGED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) | ApiError::NotOwner(_) => StatusCode::FORBIDDEN,
            ApiError::BadInput { .. } | ApiError::Taken { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::LimitExceeded(_) | ApiError::Lagged { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    pub fn bad(field: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError::BadInput { field: field.into(), message: message.into() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => ApiError::NotFound(entity),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            e @ StoreError::NameTaken { .. } => ApiError::Taken { field: "name", message: e.to_string() },
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal(other.to_string())
            }
        }
    }
}

/// Sets `extensions.code` (and `field` for bad input) on every GraphQL error in one place:
/// resolvers return `ApiError`, which async-graphql keeps as the error's source.
pub(crate) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> async_graphql::Response {
        annotate(next.run(ctx).await)
    }

    /// Subscriptions bypass `request`: each streamed response is annotated the same way.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, async_graphql::Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, async_graphql::Response> {
        Box::pin(next.run(ctx, stream).map(annotate))
    }
}

fn annotate(mut resp: async_graphql::Response) -> async_graphql::Response {
    for err in &mut resp.errors {
        let (code, field) = match err.source::<ApiError>() {
            Some(api) => {
                let field = match api {
                    ApiError::BadInput { field, .. } => Some(field.to_string()),
                    ApiError::Taken { field, .. } => Some((*field).to_string()),
                    _ => None,
                };
                (api.code(), field)
            }
            // async-graphql reports its limits without naming them; say which and how much.
            None if err.message == "Query is nested too deep." => {
                err.message = format!("query is nested deeper than the limit of {} levels", crate::MAX_QUERY_DEPTH);
                ("QUERY_TOO_DEEP", None)
            }
            None if err.message == "Query is too complex." => {
                err.message = format!(
                    "query complexity exceeds the limit of {}; ask for fewer fields or a smaller `first`",
                    crate::MAX_QUERY_COMPLEXITY
                );
                ("QUERY_TOO_COMPLEX", None)
            }
            // No source: the request failed to parse or validate (syntax, unknown field,
            // bad variable) before any resolver ran.
            None => ("GRAPHQL_VALIDATION_FAILED", None),
        };
        let ext = err.extensions.get_or_insert_with(Default::default);
        ext.set("code", code);
        if let Some(f) = field {
            ext.set("field", f);
        }
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.to_string(), "extensions": { "code": self.code() } }]
        });
        (self.status(), axum::Json(body)).into_response()
    }
}
