//! Endpoints as code: a team's endpoints made to match a desired list, by name.
//!
//! The diff and the writes are one server-side operation because only the server knows secret
//! values: it says whether a file's secrets differ from the stored ones without ever returning
//! either. Input is validated by the caller (the same validators `updateEndpoint` and
//! `setForwardingRules` use) before [`apply`] runs, so a bad endpoint changes nothing.

use std::collections::HashMap;

use hookmetry_core::scenario::ScenarioRule;
use hookmetry_core::{
    CustomResponse, Endpoint, EndpointId, EventFields, ForwardingRule, TeamId, Timestamp, VerificationSettings,
    capture_token,
};
use hookmetry_store::Store;

use crate::ApiError;

/// One endpoint as the file wants it; every part the file leaves out is the default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Desired {
    pub name: String,
    pub response: Option<CustomResponse>,
    pub verification: Option<VerificationSettings>,
    pub handshakes: bool,
    pub event_fields: Option<EventFields>,
    pub rules: Vec<ForwardingRule>,
    pub scenario: Vec<ScenarioRule>,
    pub max_captures: Option<u64>,
    /// Seconds from the endpoint's creation to its expiry.
    pub ttl_seconds: Option<u64>,
}

/// An endpoint as stored, with its forwarding rules.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub endpoint: Endpoint,
    pub rules: Vec<ForwardingRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One setting that differs, as people read it; secret values never appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// What happens (or would happen, in a dry run) to one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub name: String,
    pub action: Action,
    /// The endpoint after the change (before it, for a delete); `None` for a create not made.
    pub endpoint: Option<Endpoint>,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Delete the team's endpoints the list does not name.
    pub prune: bool,
    /// Report the changes without making them.
    pub dry_run: bool,
    /// `api.max_endpoints_per_team`, which holds after the apply.
    pub max_endpoints: usize,
}

/// The team's endpoints with their rules, oldest first.
pub(crate) async fn current(store: &dyn Store, team: TeamId) -> Result<Vec<Current>, ApiError> {
    let mut out = Vec::new();
    for endpoint in store.endpoints(team).await? {
        let rules = store.forwarding_rules(endpoint.id).await?;
        out.push(Current { endpoint, rules });
    }
    Ok(out)
}

/// Makes `team`'s endpoints match `desired` (names unique, checked by the caller) and says what
/// changed. Nothing is written for an endpoint that already matches, so applying the same list
/// twice writes nothing the second time. Writes are not one transaction: a store failure half-way
/// leaves the earlier endpoints changed, and applying again finishes the job.
pub(crate) async fn apply(
    store: &dyn Store,
    team: TeamId,
    current: Vec<Current>,
    desired: Vec<Desired>,
    opts: Options,
) -> Result<Vec<Change>, ApiError> {
    let existing = current.len();
    let plan = plan(current, desired, opts.prune);
    let count = |a: Action| plan.iter().filter(|p| p.action == a).count();
    let (creates, after) = (count(Action::Create), existing + count(Action::Create) - count(Action::Delete));
    if creates > 0 && after > opts.max_endpoints {
        return Err(ApiError::LimitExceeded(format!(
            "the apply would leave this team with {after} endpoints, more than api.max_endpoints_per_team ({}); \
             name fewer, or prune the ones the file does not name",
            opts.max_endpoints
        )));
    }
    if opts.dry_run {
        return Ok(plan.into_iter().map(Planned::reported).collect());
    }
    // Deletes first, so a prune frees room before creates count against the limit; reported in
    // the plan's order all the same.
    let mut order: Vec<(usize, Planned)> = plan.into_iter().enumerate().collect();
    order.sort_by_key(|(i, p)| {
        let rank = match p.action {
            Action::Delete => 0,
            Action::Update => 1,
            Action::Create => 2,
            Action::Unchanged => 3,
        };
        (rank, *i)
    });
    let mut done = Vec::with_capacity(order.len());
    for (i, p) in order {
        done.push((i, write(store, team, p).await?));
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, c)| c).collect())
}

/// One endpoint's planned change, with what it takes to make it.
#[derive(Debug)]
struct Planned {
    name: String,
    action: Action,
    current: Option<Current>,
    desired: Option<Desired>,
    fields: Vec<FieldChange>,
}

impl Planned {
    fn reported(self) -> Change {
        Change { name: self.name, action: self.action, endpoint: self.current.map(|c| c.endpoint), fields: self.fields }
    }
}

/// The changes, in the list's order, then the deletes in the team's order.
fn plan(current: Vec<Current>, desired: Vec<Desired>, prune: bool) -> Vec<Planned> {
    let mut by_name: HashMap<String, Current> = current.iter().map(|c| (c.endpoint.name.clone(), c.clone())).collect();
    let mut out = Vec::with_capacity(desired.len());
    for d in desired {
        let existing = by_name.remove(&d.name);
        let before = existing.as_ref().map(as_desired).unwrap_or_default();
        let fields = diff(&before, &d, existing.as_ref().map(|c| &c.endpoint));
        let action = match (&existing, fields.is_empty()) {
            (None, _) => Action::Create,
            (Some(_), true) => Action::Unchanged,
            (Some(_), false) => Action::Update,
        };
        out.push(Planned { name: d.name.clone(), action, current: existing, desired: Some(d), fields });
    }
    if prune {
        for c in current {
            if let Some(c) = by_name.remove(&c.endpoint.name) {
                out.push(Planned {
                    name: c.endpoint.name.clone(),
                    action: Action::Delete,
                    current: Some(c),
                    desired: None,
                    fields: Vec::new(),
                });
            }
        }
    }
    out
}

async fn write(store: &dyn Store, team: TeamId, p: Planned) -> Result<Change, ApiError> {
    let endpoint = match (p.action, p.current, p.desired) {
        (Action::Delete, Some(c), _) => {
            store.delete_endpoint(c.endpoint.id).await?;
            tracing::info!(endpoint_id = %c.endpoint.id, team_id = %team, "endpoint deleted by apply");
            c.endpoint
        }
        (Action::Create, _, Some(d)) => {
            let endpoint = Endpoint {
                id: EndpointId::new(),
                team_id: team,
                name: d.name.clone(),
                token: capture_token(),
                response: d.response.clone(),
                verification: d.verification.clone(),
                handshakes: d.handshakes,
                event_fields: d.event_fields.clone(),
                scenario: d.scenario.clone(),
                max_captures: d.max_captures,
                expires_at: None,
                created_at: Timestamp::now(),
            };
            let endpoint = Endpoint { expires_at: expiry(endpoint.created_at, d.ttl_seconds), ..endpoint };
            store.create_endpoint(&endpoint).await?;
            if !d.rules.is_empty() {
                store.set_forwarding_rules(endpoint.id, &d.rules).await?;
            }
            tracing::info!(endpoint_id = %endpoint.id, team_id = %team, "endpoint created by apply");
            endpoint
        }
        (Action::Update, Some(c), Some(d)) => {
            let mut endpoint = c.endpoint;
            let before = endpoint.clone();
            endpoint.expires_at = expiry(endpoint.created_at, d.ttl_seconds);
            endpoint.response = d.response;
            endpoint.verification = d.verification;
            endpoint.handshakes = d.handshakes;
            endpoint.event_fields = d.event_fields;
            endpoint.scenario = d.scenario;
            endpoint.max_captures = d.max_captures;
            if endpoint != before {
                store.update_endpoint(&endpoint).await?;
            }
            if endpoint.scenario != before.scenario {
                // As `updateEndpoint`: a sequence's position means nothing under other rules.
                store.reset_counters(endpoint.id, "rule:").await?;
            }
            if c.rules != d.rules {
                store.set_forwarding_rules(endpoint.id, &d.rules).await?;
            }
            // Which fields, never which values: secrets are among them.
            let fields: Vec<&str> = p.fields.iter().map(|f| f.field.as_str()).collect();
            tracing::info!(endpoint_id = %endpoint.id, team_id = %team, fields = ?fields, "endpoint updated by apply");
            endpoint
        }
        (_, current, _) => {
            return Ok(Change {
                name: p.name,
                action: p.action,
                endpoint: current.map(|c| c.endpoint),
                fields: p.fields,
            });
        }
    };
    Ok(Change { name: p.name, action: p.action, endpoint: Some(endpoint), fields: p.fields })
}

fn as_desired(c: &Current) -> Desired {
    let e = &c.endpoint;
    Desired {
        name: e.name.clone(),
        response: e.response.clone(),
        verification: e.verification.clone(),
        handshakes: e.handshakes,
        event_fields: e.event_fields.clone(),
        rules: c.rules.clone(),
        scenario: e.scenario.clone(),
        max_captures: e.max_captures,
        ttl_seconds: e.expires_at.map(|at| ttl_of(e.created_at, at)),
    }
}

/// The expiry `ttl` seconds after `created`: a TTL always counts from the endpoint's creation.
fn expiry(created: Timestamp, ttl: Option<u64>) -> Option<Timestamp> {
    ttl.map(|t| {
        Timestamp::from_micros(created.micros().saturating_add((t.min(i64::MAX as u64 / 1_000_000) * 1_000_000) as i64))
    })
}

/// The TTL an expiry stands for, in whole seconds (rounded up: an expiry set another way than by
/// a TTL still reads as one that has not passed yet).
fn ttl_of(created: Timestamp, at: Timestamp) -> u64 {
    let us = at.micros().saturating_sub(created.micros()).max(0) as u64;
    us.div_ceil(1_000_000)
}

/// The settings that differ between `before` and `after`, as display strings. `existing` is
/// `None` for an endpoint about to be created.
fn diff(before: &Desired, after: &Desired, existing: Option<&Endpoint>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, b: String, a: String| {
        if b != a {
            out.push(FieldChange { field: field.to_owned(), before: b, after: a });
        }
    };
    match (&before.response, &after.response) {
        (Some(b), Some(a)) => {
            push("response.status", b.status.to_string(), a.status.to_string());
            push("response.headers", headers(&b.headers), headers(&a.headers));
            push("response.body", body(&b.body), body(&a.body));
            push("response.delayMs", b.delay_ms.to_string(), a.delay_ms.to_string());
        }
        (b, a) => push("response", response(b.as_ref()), response(a.as_ref())),
    }
    match (&before.verification, &after.verification) {
        (Some(b), Some(a)) => {
            push("verification.provider", b.provider.clone(), a.provider.clone());
            // Equal secrets give equal strings: no label is marked.
            push("verification.secrets", labels(&b.secrets), changed_labels(&b.secrets, &a.secrets));
            push("verification.toleranceSeconds", tolerance(b.tolerance_seconds), tolerance(a.tolerance_seconds));
            push("verification.publicUrl", opt(&b.public_url), opt(&a.public_url));
            push("verification.generic", generic(&b.generic), generic(&a.generic));
        }
        (b, a) => push("verification", verification(b.as_ref()), verification(a.as_ref())),
    }
    let on = |b: bool| if b { "on" } else { "off" }.to_owned();
    push("handshakes", on(before.handshakes), on(after.handshakes));
    push("eventFields", event_fields(&before.event_fields), event_fields(&after.event_fields));
    rules(&before.rules, &after.rules, &mut out);
    scenario(&before.scenario, &after.scenario, &mut out);
    let none_or = |v: Option<u64>, unit: &str| v.map_or("none".to_owned(), |v| format!("{v}{unit}"));
    let (b, a) = (none_or(before.max_captures, ""), none_or(after.max_captures, ""));
    if b != a {
        out.push(FieldChange { field: "maxCaptures".into(), before: b, after: a });
    }
    let (b, a) = (none_or(before.ttl_seconds, " s"), none_or(after.ttl_seconds, " s"));
    if b != a {
        out.push(FieldChange { field: "ttlSeconds".into(), before: b, after: a });
    }
    // A new endpoint lists only what it sets beyond the defaults.
    if existing.is_none() {
        out.retain(|f| f.after != "default" && f.after != "none" && f.after != "off");
    }
    out
}

fn rules(before: &[ForwardingRule], after: &[ForwardingRule], out: &mut Vec<FieldChange>) {
    for a in after {
        let b = before.iter().find(|b| b.id == a.id);
        if b != Some(a) {
            let field = format!("forwardingRules.{}", a.id);
            out.push(FieldChange { field, before: b.map_or("none".into(), rule), after: rule(a) });
        }
    }
    for b in before.iter().filter(|b| !after.iter().any(|a| a.id == b.id)) {
        out.push(FieldChange { field: format!("forwardingRules.{}", b.id), before: rule(b), after: "none".into() });
    }
    let ids = |rules: &[ForwardingRule]| rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ");
    let same_set = before.len() == after.len() && after.iter().all(|a| before.iter().any(|b| b.id == a.id));
    if same_set && ids(before) != ids(after) {
        out.push(FieldChange { field: "forwardingRules".into(), before: ids(before), after: ids(after) });
    }
}

fn scenario(before: &[ScenarioRule], after: &[ScenarioRule], out: &mut Vec<FieldChange>) {
    let show = |r: &ScenarioRule| {
        let w = &r.when;
        let mut parts = Vec::new();
        if let Some(m) = &w.method {
            parts.push(format!("method {m}"));
        }
        if let Some(p) = &w.path_prefix {
            parts.push(format!("path {p}"));
        }
        if let Some(h) = &w.header {
            parts.push(format!("header {} contains {:?}", h.name, h.contains));
        }
        if !w.event_types.is_empty() {
            parts.push(format!("events {}", w.event_types.join(" ")));
        }
        let summary = r.answer.summary();
        if parts.is_empty() { summary } else { format!("{summary} ({})", parts.join(", ")) }
    };
    for a in after {
        let b = before.iter().find(|b| b.id == a.id);
        if b != Some(a) {
            // Two answers can read the same in a summary (bodies, headers): say that they differ.
            let (bs, as_) = (b.map_or("none".into(), show), show(a));
            let after_text = if bs == as_ { format!("{as_} (reply details changed)") } else { as_ };
            out.push(FieldChange { field: format!("scenario.{}", a.id), before: bs, after: after_text });
        }
    }
    for b in before.iter().filter(|b| !after.iter().any(|a| a.id == b.id)) {
        out.push(FieldChange { field: format!("scenario.{}", b.id), before: show(b), after: "none".into() });
    }
    let ids = |rules: &[ScenarioRule]| rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ");
    let same_set = before.len() == after.len() && after.iter().all(|a| before.iter().any(|b| b.id == a.id));
    if same_set && ids(before) != ids(after) {
        out.push(FieldChange { field: "scenario".into(), before: ids(before), after: ids(after) });
    }
}

fn rule(r: &ForwardingRule) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &r.method {
        parts.push(format!("method {m}"));
    }
    if let Some(p) = &r.path_prefix {
        parts.push(format!("path {p}"));
    }
    if let Some(h) = &r.header {
        parts.push(format!("header {} contains {:?}", h.name, h.contains));
    }
    if !r.event_types.is_empty() {
        parts.push(format!("events {}", r.event_types.join(" ")));
    }
    if parts.is_empty() { r.target.clone() } else { format!("{} ({})", r.target, parts.join(", ")) }
}

fn response(r: Option<&CustomResponse>) -> String {
    match r {
        None => "default".into(),
        Some(r) => {
            format!("{}, headers {}, body {}, delay {} ms", r.status, headers(&r.headers), body(&r.body), r.delay_ms)
        }
    }
}

fn headers(h: &[(String, String)]) -> String {
    if h.is_empty() {
        return "none".into();
    }
    h.iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>().join("; ")
}

/// A body as people can tell two apart: its start, quoted, and its length.
fn body(b: &str) -> String {
    const SHOWN: usize = 40;
    if b.chars().count() <= SHOWN {
        return format!("{b:?}");
    }
    let start: String = b.chars().take(SHOWN).collect();
    format!("{start:?}… ({} bytes)", b.len())
}

fn verification(v: Option<&VerificationSettings>) -> String {
    match v {
        None => "none".into(),
        Some(v) => {
            let mut s = format!("{} (secrets: {}", v.provider, labels(&v.secrets));
            if let Some(t) = v.tolerance_seconds {
                s.push_str(&format!(", tolerance {t} s"));
            }
            if let Some(u) = &v.public_url {
                s.push_str(&format!(", public URL {u}"));
            }
            s.push(')');
            s
        }
    }
}

fn labels(s: &[hookmetry_core::SigningSecret]) -> String {
    if s.is_empty() {
        return "none".into();
    }
    s.iter().map(|s| s.label.clone()).collect::<Vec<_>>().join(", ")
}

/// The new labels, each marked when its value is not the one stored under that label: the
/// comparison is the point, so its answer is given, never a value.
fn changed_labels(before: &[hookmetry_core::SigningSecret], after: &[hookmetry_core::SigningSecret]) -> String {
    if after.is_empty() {
        return "none".into();
    }
    after
        .iter()
        .map(|a| match before.iter().find(|b| b.label == a.label) {
            Some(b) if b.value == a.value => a.label.clone(),
            Some(_) => format!("{} (value changed)", a.label),
            None => format!("{} (new)", a.label),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn tolerance(t: Option<u32>) -> String {
    t.map_or("provider default".into(), |t| format!("{t} s"))
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "none".into())
}

fn generic(g: &Option<hookmetry_core::GenericHmac>) -> String {
    let Some(g) = g else { return "none".into() };
    let mut s = format!(
        "header {}, {} {}, prefix {:?}, template {:?}",
        g.header, g.algorithm, g.encoding, g.prefix, g.template
    );
    if let Some(t) = &g.timestamp_header {
        s.push_str(&format!(", timestamp header {t}"));
    }
    if let Some(i) = &g.id_header {
        s.push_str(&format!(", id header {i}"));
    }
    s
}

fn event_fields(f: &Option<EventFields>) -> String {
    let Some(f) = f else { return "none".into() };
    let parts = [
        ("id", &f.id),
        ("type", &f.kind),
        ("createdAt", &f.created_at),
        ("attempt", &f.attempt),
        ("resource", &f.resource),
    ];
    parts.iter().filter_map(|(n, v)| v.as_ref().map(|v| format!("{n} {v}"))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use hookmetry_core::SigningSecret;

    use super::*;

    fn stored(name: &str, secret: &str) -> Current {
        let endpoint = Endpoint {
            id: EndpointId::new(),
            team_id: TeamId::new(),
            name: name.into(),
            token: capture_token(),
            response: None,
            verification: Some(VerificationSettings {
                provider: "stripe".into(),
                secrets: vec![SigningSecret::new("current", secret)],
                tolerance_seconds: None,
                public_url: None,
                generic: None,
            }),
            handshakes: false,
            event_fields: None,
            scenario: Vec::new(),
            max_captures: None,
            expires_at: None,
            created_at: Timestamp::now(),
        };
        Current { endpoint, rules: Vec::new() }
    }

    #[test]
    fn the_same_settings_are_unchanged_and_a_new_secret_is_named_not_shown() {
        let c = stored("a", "whsec_old");
        let same = as_desired(&c);
        let p = plan(vec![c.clone()], vec![same.clone()], false);
        assert_eq!((p[0].action, p[0].fields.len()), (Action::Unchanged, 0));

        let mut rotated = same;
        rotated.verification.as_mut().unwrap().secrets = vec![SigningSecret::new("current", "whsec_new")];
        let p = plan(vec![c], vec![rotated], false);
        assert_eq!(p[0].action, Action::Update);
        assert_eq!(
            p[0].fields,
            vec![FieldChange {
                field: "verification.secrets".into(),
                before: "current".into(),
                after: "current (value changed)".into()
            }]
        );
        let shown = format!("{:?}", p[0].fields);
        assert!(!shown.contains("whsec_"), "{shown}");
    }

    #[test]
    fn prune_deletes_only_unnamed_endpoints_and_creates_list_what_they_set() {
        let a = stored("a", "s");
        let b = stored("b", "s");
        let desired = vec![as_desired(&a), Desired { name: "c".into(), handshakes: true, ..Desired::default() }];
        let p = plan(vec![a.clone(), b.clone()], desired.clone(), false);
        assert_eq!(p.iter().map(|p| p.action).collect::<Vec<_>>(), vec![Action::Unchanged, Action::Create]);
        assert_eq!(
            p[1].fields,
            vec![FieldChange { field: "handshakes".into(), before: "off".into(), after: "on".into() }]
        );
        let p = plan(vec![a, b], desired, true);
        let summary: Vec<_> = p.iter().map(|p| (p.name.as_str(), p.action)).collect();
        assert_eq!(summary, vec![("a", Action::Unchanged), ("c", Action::Create), ("b", Action::Delete)]);
    }

    #[test]
    fn rules_are_compared_by_id_and_order() {
        let r = |id: &str, target: &str| ForwardingRule {
            id: id.into(),
            target: target.into(),
            method: None,
            path_prefix: None,
            header: None,
            event_types: vec![],
        };
        let mut out = Vec::new();
        rules(&[r("r1", "http://a/"), r("r2", "http://b/")], &[r("r2", "http://b/"), r("r1", "http://c/")], &mut out);
        assert_eq!(
            out,
            vec![
                FieldChange {
                    field: "forwardingRules.r1".into(),
                    before: "http://a/".into(),
                    after: "http://c/".into()
                },
                FieldChange { field: "forwardingRules".into(), before: "r1, r2".into(), after: "r2, r1".into() },
            ]
        );
    }
}
