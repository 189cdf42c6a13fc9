//! Teams and their API tokens.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookmetry_core::{ApiToken, Team, TeamId, Timestamp, TokenHash, TokenId};
use uuid::Uuid;

use super::requests::{bounded, lock};
use super::rows::{TeamRow, TokenRow};
use super::{Inner, ScyllaStore};
use crate::{Result, StoreError, TeamStore};

/// How long a team's retention is cached for `put_captures`. `set_retention` on this handle
/// updates the cache at once; other processes see a change within this time.
const RETENTION_CACHE_TTL: Duration = Duration::from_secs(60);
/// Retention applied to a capture whose team cannot be found (the default of new teams), so
/// such a row still expires.
const UNKNOWN_TEAM_RETENTION_DAYS: u32 = 30;

impl Inner {
    pub(super) async fn team_exists(&self, id: TeamId) -> Result<bool> {
        Ok(self.one::<TeamRow>(&self.st.select_team, (id.0,), "read team").await?.is_some())
    }

    /// The team's retention in days, from the cache when fresh.
    pub(super) async fn retention_days(&self, team: TeamId) -> Result<u32> {
        if let Some((days, at)) = lock(&self.retention).get(&team).copied()
            && at.elapsed() < RETENTION_CACHE_TTL
        {
            return Ok(days);
        }
        let row = self.one::<TeamRow>(&self.st.select_team, (team.0,), "read team retention").await?;
        let days = match row {
            Some(row) => row.into_team()?.retention_days,
            None => {
                tracing::warn!(team_id = %team, "capture of an unknown team; keeping it for the default retention");
                UNKNOWN_TEAM_RETENTION_DAYS
            }
        };
        lock(&self.retention).insert(team, (days, Instant::now()));
        Ok(days)
    }
}

#[async_trait]
impl TeamStore for ScyllaStore {
    async fn create_team(&self, team: &Team) -> Result<()> {
        let s = &*self.inner;
        let retention = i32::try_from(team.retention_days)
            .map_err(|_| StoreError::Backend(format!("retention of {} days is too long", team.retention_days)))?;
        let values = (team.id.0, &team.name, retention, team.created_at.micros());
        if !s.lwt(&s.st.insert_team, values, "create team").await? {
            return Err(StoreError::Conflict { entity: "team", detail: format!("team id {} is taken", team.id) });
        }
        lock(&s.retention).insert(team.id, (team.retention_days, Instant::now()));
        Ok(())
    }

    async fn team(&self, id: TeamId) -> Result<Option<Team>> {
        let s = &*self.inner;
        s.one::<TeamRow>(&s.st.select_team, (id.0,), "read team").await?.map(TeamRow::into_team).transpose()
    }

    async fn teams(&self) -> Result<Vec<Team>> {
        let s = &*self.inner;
        let rows: Vec<TeamRow> = s.all(&s.st.select_teams, &(), "list teams").await?;
        let mut teams = rows.into_iter().map(TeamRow::into_team).collect::<Result<Vec<_>>>()?;
        teams.sort_by_key(|t| (t.created_at, t.id));
        Ok(teams)
    }

    async fn set_retention(&self, team: TeamId, days: u32) -> Result<()> {
        let s = &*self.inner;
        let value =
            i32::try_from(days).map_err(|_| StoreError::Backend(format!("retention of {days} days is too long")))?;
        if !s.lwt(&s.st.update_retention, (value, team.0), "set retention").await? {
            return Err(StoreError::NotFound { entity: "team" });
        }
        lock(&s.retention).insert(team, (days, Instant::now()));
        Ok(())
    }

    /// The hash is reserved first (`tokens_by_hash IF NOT EXISTS`), then the id (`tokens IF NOT
    /// EXISTS`); a taken id releases the hash again. Only then is the token listed for its team.
    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let s = &*self.inner;
        let what = "create token";
        if !s.team_exists(token.team_id).await? {
            return Err(StoreError::NotFound { entity: "team" });
        }
        let hash = token.hash.as_slice();
        if !s.lwt(&s.st.insert_token_hash, (hash, token.id.0), what).await? {
            return Err(StoreError::Conflict { entity: "token", detail: "token hash is taken".into() });
        }
        let row = (
            token.id.0,
            token.team_id.0,
            token.role.as_str(),
            &token.name,
            token.instance_admin,
            hash,
            token.created_at.micros(),
            token.last_used_at.map(|t| t.micros()),
            token.revoked,
        );
        if !s.lwt(&s.st.insert_token, row, what).await? {
            s.lwt(&s.st.delete_token_hash, (hash, token.id.0), what).await?;
            return Err(StoreError::Conflict { entity: "token", detail: format!("token id {} is taken", token.id) });
        }
        s.exec(&s.st.insert_token_by_team, (token.team_id.0, token.created_at.micros(), token.id.0), what).await?;
        Ok(())
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>> {
        let s = &*self.inner;
        let Some((id,)) = s.one::<(Uuid,)>(&s.st.select_token_id_by_hash, (hash.as_slice(),), "read token").await?
        else {
            return Ok(None);
        };
        // The id row must agree: a hash reserved by a create that then lost its id to another
        // token points at that other token until it is released.
        Ok(self.token(TokenId(id)).await?.filter(|t| t.hash == *hash))
    }

    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>> {
        let s = &*self.inner;
        let ids: Vec<(Uuid,)> = s.all(&s.st.select_token_ids_by_team, &(team.0,), "list tokens").await?;
        let tokens: Vec<Option<ApiToken>> =
            bounded(ids.into_iter().map(|(id,)| self.token(TokenId(id))).collect()).await?;
        let mut tokens: Vec<ApiToken> = tokens.into_iter().flatten().filter(|t| t.team_id == team).collect();
        tokens.sort_by_key(|t| (t.created_at, t.id));
        Ok(tokens)
    }

    /// A read, then a plain write: tokens are never deleted, so the write cannot recreate one,
    /// and an unknown id writes nothing (not an error, as in the embedded store).
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()> {
        let s = &*self.inner;
        if self.token(id).await?.is_some() {
            s.exec(&s.st.touch_token, (at.micros(), id.0), "touch token").await?;
        }
        Ok(())
    }

    async fn token(&self, id: TokenId) -> Result<Option<ApiToken>> {
        let s = &*self.inner;
        s.one::<TokenRow>(&s.st.select_token, (id.0,), "read token").await?.map(TokenRow::into_token).transpose()
    }

    async fn revoke_token(&self, id: TokenId) -> Result<()> {
        let s = &*self.inner;
        if !s.lwt(&s.st.revoke_token, (id.0,), "revoke token").await? {
            return Err(StoreError::NotFound { entity: "token" });
        }
        Ok(())
    }

    async fn has_tokens(&self) -> Result<bool> {
        let s = &*self.inner;
        Ok(s.one::<(Uuid,)>(&s.st.any_token, (), "count tokens").await?.is_some())
    }
}
