//! The `Store` seam: teams, tokens, endpoints and captures.
//!
//! Every capture write is idempotent on the capture id assigned at ingest, so the processor may
//! write the same capture twice after a crash and the store still holds it once.

use async_trait::async_trait;
use hookmetry_core::{
    ApiToken, CaptureId, CapturedRequest, Endpoint, EndpointId, Team, TeamId, Timestamp, TokenHash, TokenId,
};

pub mod conformance;
pub mod sqlite;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{entity} already exists: {detail}")]
    Conflict { entity: &'static str, detail: String },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store data corrupt: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A page request for captures of one endpoint, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturePage {
    /// At most this many captures.
    pub limit: u32,
    /// Only captures strictly older than this one (the previous page's last id).
    pub before: Option<CaptureId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureList {
    pub items: Vec<CapturedRequest>,
    /// Whether older captures exist beyond `items`.
    pub has_more: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_team(&self, team: &Team) -> Result<()>;
    async fn team(&self, id: TeamId) -> Result<Option<Team>>;
    async fn teams(&self) -> Result<Vec<Team>>;

    async fn create_token(&self, token: &ApiToken) -> Result<()>;
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>>;
    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>>;
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()>;
    async fn revoke_token(&self, id: TokenId) -> Result<()>;
    /// Whether any token exists; `false` means the instance has not been bootstrapped yet.
    async fn has_tokens(&self) -> Result<bool>;

    /// Fails with `Conflict` when the id or the capture token is taken.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    /// Replaces name and response of an existing endpoint; `NotFound` otherwise.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    /// Deletes the endpoint and all its captures; `NotFound` when it does not exist.
    async fn delete_endpoint(&self, id: EndpointId) -> Result<()>;
    async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>>;
    async fn endpoint_by_token(&self, token: &str) -> Result<Option<Endpoint>>;
    /// Endpoints of a team, oldest first.
    async fn endpoints(&self, team: TeamId) -> Result<Vec<Endpoint>>;

    /// Stores captures, skipping ids already stored (byte-for-byte as first written). Returns how
    /// many were new.
    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize>;
    async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>>;
    /// Captures of one endpoint, newest (highest id) first.
    async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList>;

    /// `Ok` when reads and writes can be expected to succeed.
    async fn health(&self) -> Result<()>;
}
