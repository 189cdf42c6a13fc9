//! Teams, tokens and roles.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use hookmetry_core::{ApiToken, Role, Team, TeamId, Timestamp, TokenId, hash_token, new_api_token};

use super::common::{Access, parse_id, validate_name};
use crate::ApiError;

/// Longest retention a team may set, about ten years.
pub const MAX_RETENTION_DAYS: i32 = 3650;
/// Retention of a new team unless `createTeam` says otherwise.
pub const DEFAULT_RETENTION_DAYS: i32 = 30;

/// A team token's role; the instance admin acts as `ADMIN` in every team.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "Role")]
pub enum RoleValue {
    /// Reads endpoints and captures, subscribes to live captures.
    Viewer,
    /// Also creates, changes and deletes endpoints and captures; replays.
    Editor,
    /// Also manages the team's tokens and settings (retention).
    Admin,
}

impl From<Role> for RoleValue {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => RoleValue::Viewer,
            Role::Editor => RoleValue::Editor,
            Role::Admin => RoleValue::Admin,
        }
    }
}

impl From<RoleValue> for Role {
    fn from(r: RoleValue) -> Self {
        match r {
            RoleValue::Viewer => Role::Viewer,
            RoleValue::Editor => Role::Editor,
            RoleValue::Admin => Role::Admin,
        }
    }
}

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// The calling token, its team and role.
    async fn me(&self, c: &Context<'_>) -> Result<Me, ApiError> {
        let a = Access::of(c);
        let token =
            a.ctx.store.token(a.caller.token_id).await?.ok_or(ApiError::Unauthenticated("the token was deleted"))?;
        let team = a.ctx.store.team(a.caller.team_id).await?.ok_or(ApiError::NotFound("team"))?;
        Ok(Me {
            role: a.caller.role.into(),
            instance_admin: a.caller.instance_admin,
            token: TokenObject(token),
            team: TeamObject(team),
        })
    }

    /// Every team for the instance admin; the caller's own team for everyone else.
    #[graphql(complexity = "crate::LIST_COST * child_complexity")]
    async fn teams(&self, c: &Context<'_>) -> Result<Vec<TeamObject>, ApiError> {
        let a = Access::of(c);
        let teams = if a.caller.instance_admin {
            a.ctx.store.teams().await?
        } else {
            a.ctx.store.team(a.caller.team_id).await?.into_iter().collect()
        };
        Ok(teams.into_iter().map(TeamObject).collect())
    }

    /// A team the caller may see, or null.
    async fn team(&self, c: &Context<'_>, id: ID) -> Result<Option<TeamObject>, ApiError> {
        let a = Access::of(c);
        match a.team("id", Some(&id)).await {
            Ok(team) => Ok(Some(TeamObject(team))),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Tokens of a team (default: the caller's), oldest first. Needs ADMIN. Secrets are never
    /// shown again after `createToken`.
    #[graphql(complexity = "crate::LIST_COST * child_complexity")]
    async fn tokens(&self, c: &Context<'_>, team_id: Option<ID>) -> Result<Vec<TokenObject>, ApiError> {
        let a = Access::of(c);
        let team = a.team("teamId", team_id.as_ref()).await?;
        a.require(team.id, Role::Admin, "list tokens (needs ADMIN)")?;
        Ok(a.ctx.store.tokens(team.id).await?.into_iter().map(TokenObject).collect())
    }
}

#[derive(InputObject)]
struct CreateTeamInput {
    name: String,
    /// Days captures are kept, 1 to 3650.
    #[graphql(default_with = "DEFAULT_RETENTION_DAYS")]
    retention_days: i32,
}

#[derive(InputObject)]
struct CreateTokenInput {
    /// Default: the caller's team.
    team_id: Option<ID>,
    role: RoleValue,
    name: String,
}

#[derive(InputObject)]
struct RevokeTokenInput {
    id: ID,
}

#[derive(InputObject)]
struct SetRetentionInput {
    /// Default: the caller's team.
    team_id: Option<ID>,
    /// Days captures are kept, 1 to 3650. Older captures are deleted by the next retention pass.
    days: i32,
}

/// A new token. `secret` is shown here once and never again: only its hash is stored.
#[derive(SimpleObject)]
struct CreateTokenPayload {
    secret: String,
    token: TokenObject,
}

fn validate_retention(field: &'static str, days: i32) -> Result<u32, ApiError> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(ApiError::bad(field, format!("must be between 1 and {MAX_RETENTION_DAYS} days, got {days}")));
    }
    Ok(days as u32)
}

#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Creates a team. Only the instance admin may; then `createToken` gives it its first admin.
    async fn create_team(&self, c: &Context<'_>, input: CreateTeamInput) -> Result<TeamObject, ApiError> {
        let a = Access::of(c);
        if !a.caller.instance_admin {
            return Err(ApiError::Forbidden("create teams (needs the instance admin token)"));
        }
        let team = Team {
            id: TeamId::new(),
            name: validate_name(&input.name)?,
            retention_days: validate_retention("retentionDays", input.retention_days)?,
            created_at: Timestamp::now(),
        };
        a.ctx.store.create_team(&team).await?;
        tracing::info!(team_id = %team.id, "team created");
        Ok(TeamObject(team))
    }

    /// Creates a token with one role in one team. Needs ADMIN in that team.
    async fn create_token(&self, c: &Context<'_>, input: CreateTokenInput) -> Result<CreateTokenPayload, ApiError> {
        let a = Access::of(c);
        let team = a.team("teamId", input.team_id.as_ref()).await?;
        a.require(team.id, Role::Admin, "create tokens (needs ADMIN)")?;
        // Every list a query can read is bounded (docs/security.md).
        let max = a.ctx.settings.max_tokens_per_team;
        let live = a.ctx.store.tokens(team.id).await?.iter().filter(|t| !t.revoked).count();
        if live >= max {
            return Err(ApiError::LimitExceeded(format!(
                "this team already has {live} tokens (api.max_tokens_per_team); revoke one first"
            )));
        }
        let secret = new_api_token();
        let token = ApiToken {
            id: TokenId::new(),
            team_id: team.id,
            role: input.role.into(),
            name: validate_name(&input.name)?,
            instance_admin: false,
            hash: hash_token(&secret),
            created_at: Timestamp::now(),
            last_used_at: None,
            revoked: false,
        };
        a.ctx.store.create_token(&token).await?;
        tracing::info!(token_id = %token.id, team_id = %team.id, role = %token.role, "token created");
        Ok(CreateTokenPayload { secret, token: TokenObject(token) })
    }

    /// Revokes a token at once: requests and live subscriptions using it stop working. Needs
    /// ADMIN in the token's team; the instance admin's token only the instance admin may revoke.
    async fn revoke_token(&self, c: &Context<'_>, input: RevokeTokenInput) -> Result<TokenObject, ApiError> {
        let a = Access::of(c);
        let id: TokenId = parse_id("id", &input.id)?;
        let mut token =
            a.ctx.store.token(id).await?.filter(|t| a.caller.can_read(t.team_id)).ok_or(ApiError::NotFound("token"))?;
        a.require(token.team_id, Role::Admin, "revoke tokens (needs ADMIN)")?;
        if token.instance_admin && !a.caller.instance_admin {
            return Err(ApiError::Forbidden("revoke the instance admin token"));
        }
        a.ctx.store.revoke_token(id).await?;
        tracing::info!(token_id = %id, team_id = %token.team_id, "token revoked");
        token.revoked = true;
        Ok(TokenObject(token))
    }

    /// Sets how long a team's captures are kept. Needs ADMIN.
    async fn set_retention(&self, c: &Context<'_>, input: SetRetentionInput) -> Result<TeamObject, ApiError> {
        let a = Access::of(c);
        let mut team = a.team("teamId", input.team_id.as_ref()).await?;
        a.require(team.id, Role::Admin, "change retention (needs ADMIN)")?;
        let days = validate_retention("days", input.days)?;
        a.ctx.store.set_retention(team.id, days).await?;
        tracing::info!(team_id = %team.id, days, "retention changed");
        team.retention_days = days;
        Ok(TeamObject(team))
    }
}

#[derive(SimpleObject)]
struct Me {
    token: TokenObject,
    team: TeamObject,
    role: RoleValue,
    /// The instance admin creates teams and acts as ADMIN in every team.
    instance_admin: bool,
}

pub struct TeamObject(pub Team);

#[Object(name = "Team")]
impl TeamObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Captures older than this many days are deleted.
    async fn retention_days(&self) -> i32 {
        self.0.retention_days as i32
    }
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }
}

pub struct TokenObject(pub ApiToken);

/// An API token. The secret is never part of it.
#[Object(name = "Token")]
impl TokenObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn team_id(&self) -> ID {
        ID(self.0.team_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn role(&self) -> RoleValue {
        self.0.role.into()
    }
    async fn instance_admin(&self) -> bool {
        self.0.instance_admin
    }
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }
    /// Updated at most once a minute.
    async fn last_used_at(&self) -> Option<String> {
        self.0.last_used_at.map(|t| t.to_rfc3339())
    }
    async fn revoked(&self) -> bool {
        self.0.revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_bounds_name_the_field() {
        assert_eq!(validate_retention("days", 1).unwrap(), 1);
        assert_eq!(validate_retention("days", 3650).unwrap(), 3650);
        let e = validate_retention("days", 0).unwrap_err();
        assert_eq!(e.to_string(), "invalid `days`: must be between 1 and 3650 days, got 0");
        assert!(validate_retention("retentionDays", 3651).unwrap_err().to_string().contains("`retentionDays`"));
    }
}
