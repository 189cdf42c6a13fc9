//! The GraphQL schema, one module per domain, merged into the three roots.
//!
//! Authorization happens in resolvers through [`Access`]: visibility first (an id of another team
//! is "not found", exactly like an id that does not exist), then the role.

use async_graphql::{Context, Enum, ID, MergedObject, MergedSubscription};
use hookmetry_core::{Endpoint, EndpointId, Role, Team, TeamId};

use crate::{ApiError, Caller, Ctx};

mod captures;
mod endpoints;
mod listen;
mod live;
pub(crate) mod replay;
mod teams;
mod test_events;
mod verification;

pub use captures::CaptureObject;
pub use replay::ReplaySettings;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    teams::TeamQuery,
    endpoints::EndpointQuery,
    captures::CaptureQuery,
    verification::VerificationQuery,
    replay::ReplayQuery,
    listen::ListenQuery,
    test_events::TestEventQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    teams::TeamMutation,
    endpoints::EndpointMutation,
    captures::CaptureMutation,
    verification::VerificationMutation,
    replay::ReplayMutation,
    listen::ListenMutation,
    test_events::TestEventMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(live::LiveSubscription, replay::ReplaySubscription);

pub(crate) fn ctx<'a>(c: &Context<'a>) -> (&'a Ctx, &'a Caller) {
    // Both are always attached: Ctx when the schema is built, Caller by the authenticated
    // handler (HTTP) or connection init (WebSocket) before any resolver runs.
    (c.data_unchecked::<Ctx>(), c.data_unchecked::<Caller>())
}

pub(crate) fn parse_id<T: std::str::FromStr<Err = hookmetry_core::IdParseError>>(
    field: &'static str,
    id: &ID,
) -> Result<T, ApiError> {
    id.as_str().parse::<T>().map_err(|e| ApiError::bad(field, e.to_string()))
}

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

/// Resolver-side access checks for one request.
pub(crate) struct Access<'a> {
    pub ctx: &'a Ctx,
    pub caller: &'a Caller,
}

impl<'a> Access<'a> {
    pub fn of(c: &Context<'a>) -> Self {
        let (ctx, caller) = ctx(c);
        Self { ctx, caller }
    }

    /// `team_id` or the caller's own team, if it exists and the caller may see it.
    pub async fn team(&self, field: &'static str, team_id: Option<&ID>) -> Result<Team, ApiError> {
        let id: TeamId = match team_id {
            Some(id) => parse_id(field, id)?,
            None => self.caller.team_id,
        };
        if !self.caller.can_read(id) {
            return Err(ApiError::NotFound("team"));
        }
        self.ctx.store.team(id).await?.ok_or(ApiError::NotFound("team"))
    }

    /// The endpoint if it exists and the caller may see it.
    pub async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, ApiError> {
        Ok(self.ctx.store.endpoint(id).await?.filter(|e| self.caller.can_read(e.team_id)))
    }

    pub fn require(&self, team: TeamId, role: Role, action: &'static str) -> Result<(), ApiError> {
        if self.caller.has_role(team, role) { Ok(()) } else { Err(ApiError::Forbidden(action)) }
    }
}

/// Names of teams, tokens and endpoints.
pub(crate) fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad("name", "must be 1 to 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad("name", "must not contain control characters"));
    }
    Ok(name.to_string())
}
