//! `applyEndpoints`: endpoints as code. Parses and validates the whole list with the validators
//! `updateEndpoint` and `setForwardingRules` use, then calls [`crate::apply::apply`].

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use hookmetry_core::{Role, Timestamp};

use super::common::{Access, validate_name};
use super::endpoints::{CustomResponseInput, EndpointObject, EventFieldsInput, capture_cap, expiry, validate_response};
use super::rules::{ForwardingRuleInput, validate_rules};
use super::scenario::{ScenarioRuleInput, into_rules};
use super::verification::{VerificationInput, validate_verification};
use crate::ApiError;
use crate::apply::{self, Action, Current, Desired};

/// One endpoint as it should be. Whatever is left out is the default (no custom answer, no
/// verification, handshakes off, no event fields, no forwarding rules, no scenario, no cap, no
/// expiry), except the secrets of an unchanged provider, which are kept when
/// `verification.secrets` is left out.
#[derive(InputObject)]
struct EndpointSpecInput {
    /// The endpoint's identity: unique within the team.
    name: String,
    response: Option<CustomResponseInput>,
    verification: Option<VerificationInput>,
    #[graphql(default)]
    handshakes: bool,
    event_fields: Option<EventFieldsInput>,
    #[graphql(default)]
    forwarding_rules: Vec<ForwardingRuleInput>,
    /// As `updateEndpoint`'s; a changed scenario starts its rules' counts over, an unchanged one
    /// keeps them.
    #[graphql(default)]
    scenario: Vec<ScenarioRuleInput>,
    max_captures: Option<i64>,
    /// Counted from the endpoint's creation, as in `updateEndpoint`.
    ttl_seconds: Option<i64>,
}

#[derive(InputObject)]
struct ApplyEndpointsInput {
    /// Default: the caller's team.
    team_id: Option<ID>,
    endpoints: Vec<EndpointSpecInput>,
    /// Also delete the team's endpoints (and their captures) that `endpoints` does not name.
    #[graphql(default)]
    prune: bool,
    /// Report what would change and change nothing.
    #[graphql(default)]
    dry_run: bool,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "EndpointChangeAction")]
enum ActionValue {
    Create,
    Update,
    Delete,
    Unchanged,
}

impl From<Action> for ActionValue {
    fn from(a: Action) -> Self {
        match a {
            Action::Create => ActionValue::Create,
            Action::Update => ActionValue::Update,
            Action::Delete => ActionValue::Delete,
            Action::Unchanged => ActionValue::Unchanged,
        }
    }
}

/// One setting that differs. `before` and `after` are for people; secret values never appear in
/// them (`verification.secrets` shows labels, marking those whose value changed).
#[derive(SimpleObject)]
#[graphql(name = "EndpointFieldChange")]
struct FieldChangeObject {
    field: String,
    before: String,
    after: String,
}

/// What `applyEndpoints` did (or would do) to one endpoint.
#[derive(SimpleObject)]
#[graphql(name = "EndpointChange")]
struct EndpointChangeObject {
    name: String,
    action: ActionValue,
    /// The endpoint after the change, or as it was for a delete; null for a create in a dry run.
    endpoint: Option<EndpointObject>,
    /// For an update the settings that differ; for a create those it sets beyond the defaults.
    fields: Vec<FieldChangeObject>,
}

#[derive(SimpleObject)]
#[graphql(name = "ApplyResult")]
struct ApplyResultObject {
    /// False for a dry run: nothing was changed.
    applied: bool,
    /// The listed endpoints in the list's order, then the deleted ones.
    #[graphql(complexity = "crate::LIST_COST * child_complexity")]
    changes: Vec<EndpointChangeObject>,
}

#[derive(Default)]
pub struct ApplyMutation;

#[Object]
impl ApplyMutation {
    /// Makes a team's endpoints match a list, by name: creates the missing, updates the
    /// different, leaves the equal untouched (nothing is written for them), and with `prune`
    /// deletes the unnamed. The whole list is checked first; one bad endpoint refuses it all,
    /// with the error's `field` naming it (`endpoints[2].verification.toleranceSeconds`).
    /// Needs EDITOR of the team.
    async fn apply_endpoints(
        &self,
        c: &Context<'_>,
        input: ApplyEndpointsInput,
    ) -> Result<ApplyResultObject, ApiError> {
        let a = Access::of(c);
        let team = a.team("teamId", input.team_id.as_ref()).await?;
        a.require(team.id, Role::Editor, "apply endpoints (needs EDITOR)")?;
        let max = a.ctx.settings.max_endpoints_per_team;
        if input.endpoints.len() > max {
            return Err(ApiError::bad(
                "endpoints",
                format!("at most {max} endpoints (api.max_endpoints_per_team), got {}", input.endpoints.len()),
            ));
        }
        let current = apply::current(a.ctx.store.as_ref(), team.id).await?;
        let desired = desired(&a, input.endpoints, &current)?;
        let opts = apply::Options { prune: input.prune, dry_run: input.dry_run, max_endpoints: max };
        let changes = apply::apply(a.ctx.store.as_ref(), team.id, current, desired, opts).await?;
        Ok(ApplyResultObject {
            applied: !input.dry_run,
            changes: changes
                .into_iter()
                .map(|c| EndpointChangeObject {
                    name: c.name,
                    action: c.action.into(),
                    endpoint: c.endpoint.map(EndpointObject),
                    fields: c
                        .fields
                        .into_iter()
                        .map(|f| FieldChangeObject { field: f.field, before: f.before, after: f.after })
                        .collect(),
                })
                .collect(),
        })
    }
}

/// Every endpoint of the list validated, or the first error with its field under `endpoints[i]`.
fn desired(a: &Access<'_>, specs: Vec<EndpointSpecInput>, current: &[Current]) -> Result<Vec<Desired>, ApiError> {
    let by_name: HashMap<&str, &Current> = current.iter().map(|c| (c.endpoint.name.as_str(), c)).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let at = |e: ApiError| under(i, e);
        let name = validate_name(&spec.name).map_err(at)?;
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(ApiError::bad(
                format!("endpoints[{i}].name"),
                format!("`{name}` is also the name of endpoints[{first}]; names are unique within a team"),
            ));
        }
        let existing = by_name.get(name.as_str()).map(|c| &c.endpoint);
        let response = spec
            .response
            .map(|r| validate_response(r, a.ctx.settings.separate_capture_origin))
            .transpose()
            .map_err(at)?;
        let verification = spec
            .verification
            .map(|v| validate_verification(v, existing.and_then(|e| e.verification.as_ref())))
            .transpose()
            .map_err(at)?;
        let event_fields = match spec.event_fields {
            Some(f) => f.into_fields().map_err(at)?,
            None => None,
        };
        let rules = validate_rules(spec.forwarding_rules, &a.ctx.replay.policy, &a.ctx.settings.own_base_urls)
            .map_err(|e| at(renamed_rules(e)))?;
        let scenario = into_rules(spec.scenario, a.ctx.settings.separate_capture_origin).map_err(at)?;
        let max_captures = spec.max_captures.map(capture_cap).transpose().map_err(at)?;
        let ttl_seconds = match spec.ttl_seconds {
            // Checked against the creation time it will count from.
            Some(t) => {
                expiry(existing.map_or_else(Timestamp::now, |e| e.created_at), t).map_err(at)?;
                Some(t as u64)
            }
            None => None,
        };
        out.push(Desired {
            name,
            response,
            verification,
            handshakes: spec.handshakes,
            event_fields,
            rules,
            scenario,
            max_captures,
            ttl_seconds,
        });
    }
    Ok(out)
}

/// `e` with its field under `endpoints[i]`.
fn under(i: usize, e: ApiError) -> ApiError {
    match e {
        ApiError::BadInput { field, message } => ApiError::bad(format!("endpoints[{i}].{field}"), message),
        other => other,
    }
}

/// The rules validator names its list `rules` (`setForwardingRules`); here it is `forwardingRules`.
fn renamed_rules(e: ApiError) -> ApiError {
    match e {
        ApiError::BadInput { field, message } if field.starts_with("rules") => {
            ApiError::bad(format!("forwardingRules{}", &field["rules".len()..]), message)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_named_under_their_endpoint() {
        let e = under(2, renamed_rules(ApiError::bad("rules[0].target", "is not a URL")));
        assert_eq!(e.to_string(), "invalid `endpoints[2].forwardingRules[0].target`: is not a URL");
        let e = under(0, ApiError::bad("verification.toleranceSeconds", "must be between 0 and 604800, got -1"));
        assert_eq!(
            e.to_string(),
            "invalid `endpoints[0].verification.toleranceSeconds`: must be between 0 and 604800, got -1"
        );
        assert_eq!(under(1, ApiError::NotFound("team")).to_string(), "team not found");
    }
}
