use async_trait::async_trait;
use hookmetry_core::{ApiToken, Team, TeamId, Timestamp, TokenHash, TokenId};

use crate::Result;

/// Teams and their API tokens.
#[async_trait]
pub trait TeamStore: Send + Sync + 'static {
    async fn create_team(&self, team: &Team) -> Result<()>;
    async fn team(&self, id: TeamId) -> Result<Option<Team>>;
    async fn teams(&self) -> Result<Vec<Team>>;
    /// How many days a team's captures are kept; `NotFound` when the team does not exist.
    async fn set_retention(&self, team: TeamId, days: u32) -> Result<()>;

    async fn create_token(&self, token: &ApiToken) -> Result<()>;
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>>;
    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>>;
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()>;
    async fn token(&self, id: TokenId) -> Result<Option<ApiToken>>;
    async fn revoke_token(&self, id: TokenId) -> Result<()>;
    /// Whether any token exists; `false` means the instance has not been bootstrapped yet.
    async fn has_tokens(&self) -> Result<bool>;
}
