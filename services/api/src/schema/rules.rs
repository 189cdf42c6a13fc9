//! Forwarding rules: every new capture that matches a rule of its endpoint is sent to the rule's
//! target as a delivery (made by the processor).

use async_graphql::{Context, ID, InputObject, Object};
use hookmetry_core::{ForwardingRule, HeaderMatch};
use hookmetry_egress::EgressPolicy;

use super::common::{Access, MAX_RULES, parse_target};
use super::endpoints::EndpointObject;
use crate::ApiError;

/// Longest `pathPrefix` or header `contains`.
pub const MAX_MATCH_BYTES: usize = 1024;

/// A forwarding rule: conditions left out match everything.
#[derive(InputObject)]
#[graphql(name = "ForwardingRuleInput")]
pub struct ForwardingRuleInput {
    /// Unique within the endpoint: letters, digits, `-` and `_`, at most 64.
    pub id: String,
    pub target: String,
    /// Exact method, case-sensitive.
    pub method: Option<String>,
    /// The capture's path (after `/h/<token>`) starts with this; begins with `/`.
    pub path_prefix: Option<String>,
    pub header: Option<HeaderMatchInput>,
    /// The capture's provider event type matches one of these (`charge.*`, `pull_request.*`,
    /// `orders/create`; `*` stands for any run of characters). At most 20; empty or absent
    /// matches every capture, with a type or without.
    #[graphql(default)]
    pub event_types: Vec<String>,
}

#[derive(InputObject)]
#[graphql(name = "HeaderMatchInput")]
pub struct HeaderMatchInput {
    /// Any case.
    pub name: String,
    /// The value contains this; empty means the header only has to be present.
    #[graphql(default)]
    pub contains: String,
}

#[derive(InputObject)]
#[graphql(name = "SetForwardingRulesInput")]
pub struct SetForwardingRulesInput {
    pub endpoint_id: ID,
    /// Replaces every rule; an empty list removes them.
    pub rules: Vec<ForwardingRuleInput>,
}

pub struct ForwardingRuleObject(pub ForwardingRule);

#[Object(name = "ForwardingRule")]
impl ForwardingRuleObject {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn target(&self) -> &str {
        &self.0.target
    }
    async fn method(&self) -> Option<&str> {
        self.0.method.as_deref()
    }
    async fn path_prefix(&self) -> Option<&str> {
        self.0.path_prefix.as_deref()
    }
    async fn header_name(&self) -> Option<&str> {
        self.0.header.as_ref().map(|h| h.name.as_str())
    }
    async fn header_contains(&self) -> Option<&str> {
        self.0.header.as_ref().map(|h| h.contains.as_str())
    }
    /// Event type patterns; empty when the rule does not look at the type.
    async fn event_types(&self) -> &[String] {
        &self.0.event_types
    }
}

/// The most event type patterns one rule takes.
pub const MAX_EVENT_TYPES: usize = 20;

pub(crate) fn validate_rules(
    rules: Vec<ForwardingRuleInput>,
    policy: &EgressPolicy,
    own_bases: &[String],
) -> Result<Vec<ForwardingRule>, ApiError> {
    if rules.len() > MAX_RULES {
        return Err(ApiError::bad("rules", format!("at most {MAX_RULES} rules per endpoint, got {}", rules.len())));
    }
    let mut out: Vec<ForwardingRule> = Vec::with_capacity(rules.len());
    for (i, r) in rules.into_iter().enumerate() {
        let field = |name: &str| format!("rules[{i}].{name}");
        let id = r.id.trim().to_owned();
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ApiError::bad(field("id"), "must be 1 to 64 letters, digits, `-` or `_`"));
        }
        if out.iter().any(|o| o.id == id) {
            return Err(ApiError::bad(field("id"), format!("`{id}` is used by an earlier rule")));
        }
        let target = parse_target(&r.target, policy, own_bases).map_err(|e| match e {
            ApiError::BadInput { message, .. } => ApiError::bad(field("target"), format!("rule `{id}`: {message}")),
            other => other,
        })?;
        if let Some(m) = &r.method
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
        {
            return Err(ApiError::bad(field("method"), "must be an HTTP method token such as POST"));
        }
        if let Some(p) = &r.path_prefix
            && (!p.starts_with('/') || p.len() > MAX_MATCH_BYTES)
        {
            return Err(ApiError::bad(
                field("pathPrefix"),
                format!("must start with `/` and be at most {MAX_MATCH_BYTES} bytes"),
            ));
        }
        let header = match r.header {
            None => None,
            Some(h) => {
                let name = h.name.trim().to_owned();
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(ApiError::bad(field("header.name"), "must be a header name such as X-GitHub-Event"));
                }
                if h.contains.len() > MAX_MATCH_BYTES {
                    return Err(ApiError::bad(
                        field("header.contains"),
                        format!("must be at most {MAX_MATCH_BYTES} bytes"),
                    ));
                }
                Some(HeaderMatch { name, contains: h.contains })
            }
        };
        if r.event_types.len() > MAX_EVENT_TYPES {
            return Err(ApiError::bad(
                field("eventTypes"),
                format!("at most {MAX_EVENT_TYPES} patterns, got {}", r.event_types.len()),
            ));
        }
        for (j, p) in r.event_types.iter().enumerate() {
            if p.is_empty()
                || p.len() > hookmetry_core::MAX_EVENT_FIELD
                || !p.bytes().all(|b| (0x20..=0x7e).contains(&b))
            {
                return Err(ApiError::bad(
                    field(&format!("eventTypes[{j}]")),
                    format!("must be 1 to {} printable ASCII characters", hookmetry_core::MAX_EVENT_FIELD),
                ));
            }
        }
        out.push(ForwardingRule {
            id,
            target: target.to_string(),
            method: r.method,
            path_prefix: r.path_prefix,
            header,
            event_types: r.event_types,
        });
    }
    Ok(out)
}

#[derive(Default)]
pub struct RulesMutation;

#[Object]
impl RulesMutation {
    /// Replaces an endpoint's forwarding rules: every new capture that matches a rule is sent to
    /// its target as a delivery, with retries. Answers with the endpoint.
    async fn set_forwarding_rules(
        &self,
        c: &Context<'_>,
        input: SetForwardingRulesInput,
    ) -> Result<EndpointObject, ApiError> {
        let a = Access::of(c);
        let replay = &a.ctx.replay;
        let endpoint = a.editable_endpoint(&input.endpoint_id, "change forwarding rules").await?;
        let endpoint_id = endpoint.id;
        let rules = validate_rules(input.rules, &replay.policy, &a.ctx.settings.own_base_urls)?;
        a.ctx.store.set_forwarding_rules(endpoint_id, &rules).await?;
        Ok(EndpointObject(endpoint))
    }
}
