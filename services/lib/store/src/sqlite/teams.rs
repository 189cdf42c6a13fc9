//! Teams and their API tokens.

use async_trait::async_trait;
use hookmetry_core::{ApiToken, Team, TeamId, Timestamp, TokenHash, TokenId};
use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::error::found;
use super::rows::{TEAM_COLUMNS, TOKEN_COLUMNS, team_from_row, token_from_row};
use crate::{Result, TeamStore};

#[async_trait]
impl TeamStore for SqliteStore {
    async fn create_team(&self, team: &Team) -> Result<()> {
        let team = team.clone();
        self.write("team", "create team", move |tx| {
            tx.execute(
                "INSERT INTO teams (id, name, retention_days, created_at) VALUES (?1, ?2, ?3, ?4)",
                (team.id.as_bytes(), &team.name, team.retention_days, team.created_at.micros()),
            )
            .map(drop)
        })
        .await
    }

    async fn team(&self, id: TeamId) -> Result<Option<Team>> {
        self.read("read team", move |conn| {
            conn.prepare_cached(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = ?1"))?
                .query_row([id.as_bytes()], team_from_row)
                .optional()
        })
        .await
    }

    async fn teams(&self) -> Result<Vec<Team>> {
        self.read("list teams", |conn| {
            conn.prepare_cached(&format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY created_at, id"))?
                .query_map([], team_from_row)?
                .collect()
        })
        .await
    }

    async fn set_retention(&self, team: TeamId, days: u32) -> Result<()> {
        let changed = self
            .write("team", "set retention", move |tx| {
                tx.execute("UPDATE teams SET retention_days = ?2 WHERE id = ?1", (team.as_bytes(), days))
            })
            .await?;
        found(changed, "team")
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let t = token.clone();
        self.write("token", "create token", move |tx| {
            tx.execute(
                &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                (
                    t.id.as_bytes(),
                    t.team_id.as_bytes(),
                    t.role.as_str(),
                    &t.name,
                    t.instance_admin,
                    t.hash,
                    t.created_at.micros(),
                    t.last_used_at.map(|ts| ts.micros()),
                    t.revoked,
                ),
            )
            .map(drop)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>> {
        let hash = *hash;
        self.read("read token", move |conn| {
            conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"))?
                .query_row([hash], token_from_row)
                .optional()
        })
        .await
    }

    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>> {
        self.read("list tokens", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE team_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([team.as_bytes()], token_from_row)?
            .collect()
        })
        .await
    }

    /// Touching an unknown token is not an error: it only records activity, and the lookup that
    /// authenticated the request already decided whether the token exists.
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()> {
        self.write("token", "touch token", move |tx| {
            tx.execute("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", (id.as_bytes(), at.micros())).map(drop)
        })
        .await
    }

    async fn token(&self, id: TokenId) -> Result<Option<ApiToken>> {
        self.read("read token", move |conn| {
            conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"))?
                .query_row([id.as_bytes()], token_from_row)
                .optional()
        })
        .await
    }

    async fn revoke_token(&self, id: TokenId) -> Result<()> {
        let changed = self
            .write("token", "revoke token", move |tx| {
                tx.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id.as_bytes()])
            })
            .await?;
        found(changed, "token")
    }

    async fn has_tokens(&self) -> Result<bool> {
        self.read("count tokens", |conn| conn.query_row("SELECT EXISTS (SELECT 1 FROM tokens)", [], |r| r.get(0))).await
    }
}
