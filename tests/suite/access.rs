//! Access control, black-box: roles × operations × {own team, other team, nonexistent id,
//! malformed id}.
//!
//! The rule under test (docs/schema.graphql, ARCHITECTURE.md "Security model"): a token of team A
//! gets for team B's ids exactly what it gets for ids that do not exist — same data, same error,
//! same code — in queries, mutations and subscriptions; visibility is checked before the role.
//! Every operation is one row of [`rows`]; the driver runs every row for every role of team A
//! and every case, then checks that nothing of team B changed.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{b64, unb64};
use hookmetry_testkit::ws::{Auth, ConnectError, Protocol, WsClient, WsMessage};
use hookmetry_testkit::{Client, TestEndpoint, TestServer};
use serde_json::{Value, json};

/// Bound for every "until it is there" wait.
const WAIT: Duration = Duration::from_secs(10);
/// How long a live subscription may take to deliver a capture.
const LIVE: Duration = Duration::from_secs(5);

/// `return Err(..)` unless the condition holds; checks report instead of panicking so one run
/// lists every failing cell.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!("{} == {:?}, expected {:?}", stringify!($left), l, r));
        }
    }};
}

/// The signing secrets the matrix configures, by role in the rotation: literals, so documents can
/// `concat!` them in. Secret values are write-only: no answer may ever contain one.
macro_rules! secret {
    (set) => {
        "matrix-set-secret-8c1e5f0a"
    };
    (added) => {
        "matrix-added-secret-3b97d2c4"
    };
    (current) => {
        "matrix-current-secret-61fa0e7d"
    };
    (previous) => {
        "matrix-previous-secret-d40c9b13"
    };
}

/// Every value of [`secret!`].
const SECRETS: [&str; 4] = [secret!(set), secret!(added), secret!(current), secret!(previous)];

/// The settings of a throwaway `VerifiedEndpoint`, as `Endpoint.verification { provider secrets
/// { label } }` shows them.
fn verified_settings() -> Value {
    json!({ "provider": "github", "secrets": [{ "label": "current" }, { "label": "previous" }] })
}

/// `Err` naming the secret value if `v` contains one anywhere, keys and strings alike.
fn no_secret_in(v: &Value) -> Result<(), String> {
    let text = v.to_string();
    match SECRETS.iter().find(|s| text.contains(**s)) {
        Some(s) => Err(format!("the answer contains the secret value {s:?}")),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// The least a caller needs for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Viewer,
    Editor,
    Admin,
    /// Only the instance admin token; no team role is enough.
    InstanceAdmin,
}

impl Need {
    /// How a FORBIDDEN message names it.
    fn named(self) -> &'static str {
        match self {
            Need::Viewer => "VIEWER",
            Need::Editor => "EDITOR",
            Need::Admin => "ADMIN",
            Need::InstanceAdmin => "instance admin",
        }
    }
}

/// What `$id` is in a row's document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The operation takes no id: only the own-team case applies.
    NoId,
    Team,
    Endpoint,
    /// An endpoint with verification settings (github, secrets `current` then `previous`); only
    /// throwaway ones exist.
    VerifiedEndpoint,
    Capture,
    Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// An id of the caller's team A.
    Own,
    /// A well-formed id that exists nowhere.
    Missing,
    /// The same kind of object, existing, in team B.
    Other,
    /// `not-a-uuid`.
    Malformed,
}

/// What a caller gets for an id it may not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invisible {
    /// Single-id query fields: `null`, no error.
    Null,
    /// Lists, mutations, subscriptions: a NOT_FOUND error.
    NotFound,
}

/// What an allowed cell does to its throwaway object (denied cells must leave it `Intact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Intact,
    Changed,
    Gone,
}

/// What an allowed cell's `data` must look like.
type Check = fn(&Value, &CellCtx) -> Result<(), String>;

struct Row {
    /// The root field; also the key of `data`.
    op: &'static str,
    /// Takes `$id` unless `kind` is `NoId`. A `subscription` runs over WebSocket.
    doc: &'static str,
    kind: Kind,
    /// `extensions.field` for a malformed `$id`.
    id_field: &'static str,
    need: Need,
    invisible: Invisible,
    /// Destructive: every own/other cell gets a throwaway object of `kind` in that team.
    fresh: bool,
    effect: Effect,
    check: Check,
}

/// What a check may look at.
struct CellCtx<'a> {
    id: &'a str,
    world: &'a World,
    actor: &'a Actor,
    /// Bodies of captures sent for live cells, by capture id.
    sent: &'a HashMap<String, Vec<u8>>,
}

fn rows() -> Vec<Row> {
    use Effect::*;
    use Invisible::*;
    use Kind::*;
    vec![
        // ------------------------------------------------------------------ queries
        Row {
            op: "me",
            doc: "{ me { role instanceAdmin token { id teamId role revoked } team { id name } } }",
            kind: NoId,
            id_field: "",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let me = &d["me"];
                ensure_eq!(me["role"], json!(c.actor.role));
                ensure_eq!(me["instanceAdmin"], json!(false));
                ensure_eq!(me["token"]["id"], json!(c.actor.token_id));
                ensure_eq!(me["token"]["teamId"], json!(c.world.a.id));
                ensure_eq!(me["team"]["id"], json!(c.world.a.id));
                Ok(())
            },
        },
        Row {
            op: "teams",
            doc: "{ teams { id name } }",
            kind: NoId,
            id_field: "",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                ensure_eq!(d["teams"], json!([{ "id": c.world.a.id, "name": c.world.a.name }]));
                Ok(())
            },
        },
        Row {
            op: "team",
            doc: "query($id: ID!) { team(id: $id) { id name retentionDays } }",
            kind: Team,
            id_field: "id",
            need: Need::Viewer,
            invisible: Null,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                ensure_eq!(d["team"]["id"], json!(c.id));
                ensure_eq!(d["team"]["name"], json!(c.world.a.name));
                Ok(())
            },
        },
        Row {
            op: "tokens",
            doc: "query($id: ID) { tokens(teamId: $id) { id teamId role revoked } }",
            kind: Team,
            id_field: "teamId",
            need: Need::Admin,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let tokens = d["tokens"].as_array().ok_or("tokens is not a list")?;
                ensure!(
                    tokens.iter().all(|t| t["teamId"] == json!(c.world.a.id)),
                    "a token of another team: {tokens:?}"
                );
                ensure!(tokens.iter().any(|t| t["id"] == json!(c.actor.token_id)), "own token missing: {tokens:?}");
                Ok(())
            },
        },
        Row {
            op: "endpoints",
            doc: "query($id: ID) { endpoints(teamId: $id) { id teamId name } }",
            kind: Team,
            id_field: "teamId",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let list = d["endpoints"].as_array().ok_or("endpoints is not a list")?;
                ensure!(
                    list.iter().all(|e| e["teamId"] == json!(c.world.a.id)),
                    "an endpoint of another team: {list:?}"
                );
                ensure!(list.iter().any(|e| e["id"] == json!(c.world.a.endpoint.id)), "A's endpoint missing: {list:?}");
                Ok(())
            },
        },
        Row {
            op: "endpoint",
            doc: "query($id: ID!) { endpoint(id: $id) { id teamId name url response { status body } } }",
            kind: Endpoint,
            id_field: "id",
            need: Need::Viewer,
            invisible: Null,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let e = &d["endpoint"];
                ensure_eq!(e["id"], json!(c.id));
                ensure_eq!(e["teamId"], json!(c.world.a.id));
                ensure_eq!(e["url"], json!(c.world.a.endpoint.url));
                ensure_eq!(e["response"], json!({ "status": 202, "body": c.world.a.answer }));
                Ok(())
            },
        },
        Row {
            op: "captures",
            doc: "query($id: ID!) { captures(endpointId: $id, first: 10) { edges { cursor node { id teamId bodyBase64 } } pageInfo { hasNextPage endCursor } } }",
            kind: Endpoint,
            id_field: "endpointId",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let edges = d["captures"]["edges"].as_array().ok_or("edges is not a list")?;
                let node =
                    json!({ "id": c.world.a.capture_id, "teamId": c.world.a.id, "bodyBase64": b64(&c.world.a.body) });
                ensure_eq!(edges.iter().map(|e| e["node"].clone()).collect::<Vec<_>>(), vec![node]);
                Ok(())
            },
        },
        Row {
            op: "capture",
            doc: "query($id: ID!) { capture(id: $id) { id endpointId teamId bodyBase64 url curl har verification { provider verdict reason secretLabel verifiedAt } } }",
            kind: Capture,
            id_field: "id",
            need: Need::Viewer,
            invisible: Null,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let cap = &d["capture"];
                let a = &c.world.a;
                ensure_eq!(cap["id"], json!(c.id));
                ensure_eq!(cap["endpointId"], json!(a.endpoint.id));
                ensure_eq!(cap["teamId"], json!(a.id));
                ensure_eq!(unb64(cap["bodyBase64"].as_str().unwrap_or_default()), a.body);
                // Sent to the bare capture URL; the stored path is `/` (see the report on `url`).
                let url = cap["url"].as_str().unwrap_or_default();
                ensure!(url.starts_with(&a.endpoint.url), "url: {url}");
                let curl = cap["curl"].as_str().ok_or("curl is not a string")?;
                ensure!(curl.contains("curl ") && curl.contains(&a.endpoint.url), "curl: {curl}");
                ensure_eq!(cap["har"]["request"]["method"], json!("POST"));
                ensure_eq!(cap["har"]["request"]["url"], cap["url"]);
                ensure_eq!(cap["har"]["request"]["bodySize"], json!(a.body.len()));
                // Checked by the processor before the fixture was done; no signature header.
                let v = &cap["verification"];
                ensure_eq!(v["verdict"], json!("NOT_CONFIGURED"));
                ensure_eq!(v["provider"], Value::Null);
                ensure_eq!(v["secretLabel"], Value::Null);
                ensure!(v["verifiedAt"].as_str().is_some_and(|t| !t.is_empty()), "verifiedAt: {}", v["verifiedAt"]);
                Ok(())
            },
        },
        Row {
            // The verdict filter: another path into an endpoint's captures.
            op: "captures",
            doc: "query($id: ID!) { captures(endpointId: $id, first: 10, filter: {verdict: NOT_CONFIGURED}) { edges { node { id verification { verdict } } } } }",
            kind: Endpoint,
            id_field: "endpointId",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let node = json!({ "id": c.world.a.capture_id, "verification": { "verdict": "NOT_CONFIGURED" } });
                ensure_eq!(d["captures"]["edges"], json!([{ "node": node }]));
                Ok(())
            },
        },
        Row {
            op: "providers",
            doc: "{ providers { id name defaultToleranceSeconds urlBound publicKey } }",
            kind: NoId,
            id_field: "",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, _| {
                let list = d["providers"].as_array().ok_or("providers is not a list")?;
                let stripe = list.iter().find(|p| p["id"] == "stripe").ok_or_else(|| format!("no stripe: {list:?}"))?;
                ensure_eq!(stripe["defaultToleranceSeconds"], json!(300));
                ensure_eq!(stripe["urlBound"], json!(false));
                ensure_eq!(stripe["publicKey"], json!(false));
                ensure!(list.iter().any(|p| p["id"] == "github"), "no github: {list:?}");
                Ok(())
            },
        },
        // ---------------------------------------------------------------- mutations
        Row {
            op: "createEndpoint",
            doc: "mutation($id: ID, $name: String!) { createEndpoint(input: {name: $name, teamId: $id}) { id teamId name url } }",
            kind: Team,
            id_field: "teamId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let e = &d["createEndpoint"];
                ensure_eq!(e["teamId"], json!(c.world.a.id));
                ensure!(e["name"].as_str().is_some_and(|n| n.starts_with(MATRIX_NAME)), "name: {}", e["name"]);
                ensure!(e["url"].as_str().is_some_and(|u| u.contains("/h/")), "url: {}", e["url"]);
                Ok(())
            },
        },
        Row {
            op: "updateEndpoint",
            doc: "mutation($id: ID!, $name: String) { updateEndpoint(input: {id: $id, name: $name, response: {status: 201, body: \"changed\"}}) { id teamId name response { status body } } }",
            kind: Endpoint,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Changed,
            check: |d, c| {
                let e = &d["updateEndpoint"];
                ensure_eq!(e["id"], json!(c.id));
                ensure!(e["name"].as_str().is_some_and(|n| n.starts_with(MATRIX_NAME)), "name: {}", e["name"]);
                ensure_eq!(e["response"], json!({ "status": 201, "body": "changed" }));
                Ok(())
            },
        },
        Row {
            op: "updateEndpoint",
            doc: "mutation($id: ID!) { updateEndpoint(input: {id: $id, maxCaptures: 5, ttlSeconds: 86400, scenario: [{id: \"flaky\", answer: {sequence: {steps: [{status: 500}, {status: 200}]}}}]}) { id scenario { id answer { kind summary } } maxCaptures ttlSeconds } }",
            kind: Endpoint,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Changed,
            check: |d, c| {
                ensure_eq!(
                    d["updateEndpoint"],
                    json!({
                        "id": c.id,
                        "scenario": [{ "id": "flaky", "answer": { "kind": "SEQUENCE", "summary": "500, 200 then repeat" } }],
                        "maxCaptures": 5,
                        "ttlSeconds": 86400,
                    })
                );
                Ok(())
            },
        },
        Row {
            op: "resetEndpointCounters",
            doc: "mutation($id: ID!) { resetEndpointCounters(input: {id: $id}) { id counters { captures rules { ruleId count } } } }",
            kind: Endpoint,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Intact,
            check: |d, c| {
                ensure_eq!(
                    d["resetEndpointCounters"],
                    json!({ "id": c.id, "counters": { "captures": 0, "rules": [] } })
                );
                Ok(())
            },
        },
        Row {
            op: "updateEndpoint",
            doc: concat!(
                "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"github\", secrets: [{label: \"set\", value: \"",
                secret!(set),
                "\"}]}, handshakes: true}) { id name verification { provider secrets { label } toleranceSeconds effectiveToleranceSeconds publicUrl generic { header } } handshakes } }"
            ),
            kind: Endpoint,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Changed,
            check: |d, c| {
                no_secret_in(d)?;
                let e = &d["updateEndpoint"];
                ensure_eq!(e["id"], json!(c.id));
                ensure_eq!(fresh_named(e)["name"], json!("fresh"));
                ensure_eq!(
                    e["verification"],
                    json!({
                        "provider": "github",
                        "secrets": [{ "label": "set" }],
                        "toleranceSeconds": null,
                        "effectiveToleranceSeconds": null,
                        "publicUrl": null,
                        "generic": null,
                    })
                );
                ensure_eq!(e["handshakes"], json!(true));
                Ok(())
            },
        },
        Row {
            op: "updateEndpoint",
            doc: "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: null}) { id name verification { provider } handshakes } }",
            kind: VerifiedEndpoint,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Changed,
            check: |d, c| {
                ensure_eq!(
                    fresh_named(&d["updateEndpoint"]),
                    json!({ "id": c.id, "name": "fresh", "verification": null, "handshakes": false })
                );
                Ok(())
            },
        },
        Row {
            op: "addVerificationSecret",
            doc: concat!(
                "mutation($id: ID!) { addVerificationSecret(input: {endpointId: $id, label: \"added\", value: \"",
                secret!(added),
                "\"}) { id verification { provider secrets { label } } } }"
            ),
            kind: VerifiedEndpoint,
            id_field: "endpointId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Changed,
            check: |d, c| {
                no_secret_in(d)?;
                let e = &d["addVerificationSecret"];
                ensure_eq!(e["id"], json!(c.id));
                // The new secret is the current one; the others stay for the rotation.
                let labels = json!([{ "label": "added" }, { "label": "current" }, { "label": "previous" }]);
                ensure_eq!(e["verification"], json!({ "provider": "github", "secrets": labels }));
                Ok(())
            },
        },
        Row {
            op: "removeVerificationSecret",
            doc: "mutation($id: ID!) { removeVerificationSecret(input: {endpointId: $id, label: \"previous\"}) { id verification { provider secrets { label } } } }",
            kind: VerifiedEndpoint,
            id_field: "endpointId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Changed,
            check: |d, c| {
                no_secret_in(d)?;
                let e = &d["removeVerificationSecret"];
                ensure_eq!(e["id"], json!(c.id));
                ensure_eq!(e["verification"], json!({ "provider": "github", "secrets": [{ "label": "current" }] }));
                Ok(())
            },
        },
        Row {
            // On the team's main endpoint: its one capture is checked again (team B's capture
            // keeps its `verifiedAt`, see `snapshot`).
            op: "reverifyCaptures",
            doc: "mutation($id: ID!) { reverifyCaptures(input: {endpointId: $id, since: \"2000-01-01T00:00:00Z\"}) { count verdicts { verdict count } hasMore endCursor } }",
            kind: Endpoint,
            id_field: "endpointId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, _| {
                let r = &d["reverifyCaptures"];
                let count = r["count"].as_i64().ok_or_else(|| format!("count: {}", r["count"]))?;
                ensure_eq!(count, 1);
                ensure_eq!(r["verdicts"], json!([{ "verdict": "NOT_CONFIGURED", "count": 1 }]));
                ensure_eq!(r["hasMore"], json!(false));
                ensure_eq!(r["endCursor"], Value::Null);
                Ok(())
            },
        },
        Row {
            op: "deleteEndpoint",
            doc: "mutation($id: ID!) { deleteEndpoint(input: {id: $id}) { id } }",
            kind: Endpoint,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Gone,
            check: |d, c| {
                ensure_eq!(d["deleteEndpoint"], json!({ "id": c.id }));
                Ok(())
            },
        },
        Row {
            op: "deleteCapture",
            doc: "mutation($id: ID!) { deleteCapture(input: {id: $id}) { id } }",
            kind: Capture,
            id_field: "id",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Gone,
            check: |d, c| {
                ensure_eq!(d["deleteCapture"], json!({ "id": c.id }));
                Ok(())
            },
        },
        Row {
            op: "createToken",
            doc: "mutation($id: ID) { createToken(input: {teamId: $id, role: VIEWER, name: \"made-by-matrix\"}) { secret token { id teamId role revoked } } }",
            kind: Team,
            id_field: "teamId",
            need: Need::Admin,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                let p = &d["createToken"];
                ensure!(p["secret"].as_str().is_some_and(|s| s.len() >= 20), "secret: {}", p["secret"]);
                ensure_eq!(p["token"]["teamId"], json!(c.world.a.id));
                ensure_eq!(p["token"]["role"], json!("VIEWER"));
                ensure_eq!(p["token"]["revoked"], json!(false));
                Ok(())
            },
        },
        Row {
            op: "revokeToken",
            doc: "mutation($id: ID!) { revokeToken(input: {id: $id}) { id teamId revoked } }",
            kind: Token,
            id_field: "id",
            need: Need::Admin,
            invisible: NotFound,
            fresh: true,
            effect: Gone,
            check: |d, c| {
                ensure_eq!(d["revokeToken"], json!({ "id": c.id, "teamId": c.world.a.id, "revoked": true }));
                Ok(())
            },
        },
        Row {
            op: "setRetention",
            doc: "mutation($id: ID) { setRetention(input: {teamId: $id, days: 7}) { id retentionDays } }",
            kind: Team,
            id_field: "teamId",
            need: Need::Admin,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, c| {
                ensure_eq!(d["setRetention"], json!({ "id": c.world.a.id, "retentionDays": 7 }));
                Ok(())
            },
        },
        Row {
            op: "createTeam",
            doc: "mutation { createTeam(input: {name: \"made-by-matrix\"}) { id } }",
            kind: NoId,
            id_field: "",
            need: Need::InstanceAdmin,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, _| Err(format!("a team token created a team: {d}")),
        },
        Row {
            op: "prepareTestEvent",
            doc: "mutation($id: ID!) { prepareTestEvent(input: {endpointId: $id, event: \"push\"}) { provider event signed } }",
            kind: VerifiedEndpoint,
            id_field: "endpointId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Intact,
            check: |d, _| {
                ensure_eq!(d["prepareTestEvent"], json!({ "provider": "github", "event": "push", "signed": true }));
                Ok(())
            },
        },
        Row {
            op: "sendTestEvent",
            doc: "mutation($id: ID!) { sendTestEvent(input: {endpointId: $id, provider: \"stripe\", event: \"invoice.paid\"}) { captureId request { signed } } }",
            kind: Endpoint,
            id_field: "endpointId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Intact,
            check: |d, _| {
                ensure!(d["sendTestEvent"]["captureId"].is_string(), "no capture id: {d}");
                ensure_eq!(d["sendTestEvent"]["request"]["signed"], json!(false));
                Ok(())
            },
        },
        Row {
            op: "startListener",
            doc: "mutation($id: ID!) { startListener(input: {endpointId: $id, name: \"matrix\", holder: \"listen-matrix\"}) { cursor { captureId } leaseExpiresAt } }",
            kind: Endpoint,
            id_field: "endpointId",
            need: Need::Editor,
            invisible: NotFound,
            fresh: true,
            effect: Intact,
            check: |d, _| {
                ensure!(d["startListener"]["cursor"]["captureId"].is_string(), "a cursor from the start: {d}");
                Ok(())
            },
        },
        Row {
            op: "testEventCatalog",
            doc: "{ testEventCatalog { provider } }",
            kind: NoId,
            id_field: "",
            need: Need::Viewer,
            invisible: NotFound,
            fresh: false,
            effect: Intact,
            check: |d, _| {
                ensure!(d["testEventCatalog"].as_array().is_some_and(|l| l.len() >= 9), "{d}");
                Ok(())
            },
        },
        // ------------------------------------------------------------ subscription
        Row {
            op: "captureReceived",
            doc: "subscription($id: ID!) { captureReceived(endpointId: $id) { id endpointId teamId bodyBase64 } }",
            kind: Endpoint,
            id_field: "endpointId",
            need: Need::Viewer,
            invisible: NotFound,
            // A fresh endpoint per cell, so the captures sent to it reach only this cell.
            fresh: true,
            effect: Intact,
            check: |d, c| {
                let cap = &d["captureReceived"];
                ensure_eq!(cap["endpointId"], json!(c.id));
                ensure_eq!(cap["teamId"], json!(c.world.a.id));
                let id = cap["id"].as_str().ok_or("no capture id")?;
                let sent = c.sent.get(id).ok_or_else(|| format!("capture {id} was not sent by this test"))?;
                ensure_eq!(unb64(cap["bodyBase64"].as_str().unwrap_or_default()), *sent);
                Ok(())
            },
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A team with its own ADMIN token, an endpoint with one capture and a custom answer, and a
/// scratch endpoint for throwaway captures.
struct TeamFixture {
    id: String,
    name: String,
    admin: Client,
    admin_token_id: String,
    endpoint: TestEndpoint,
    /// The custom response body set on `endpoint`.
    answer: String,
    capture_id: String,
    /// The exact bytes of `capture_id`'s body.
    body: Vec<u8>,
    scratch: TestEndpoint,
}

/// A token of team A.
struct Actor {
    role: &'static str,
    level: Need,
    secret: String,
    token_id: String,
    client: Client,
}

struct World {
    server: TestServer,
    a: TeamFixture,
    b: TeamFixture,
    /// VIEWER, EDITOR, ADMIN of team A.
    actors: Vec<Actor>,
}

/// A throwaway object for one destructive cell.
struct Fresh {
    id: String,
    /// Capture URL of a fresh endpoint.
    url: String,
    /// Secret of a fresh token.
    secret: String,
}

async fn create_token(by: &Client, team_id: &str, role: &str, name: &str) -> (String, String) {
    let d = by
        .graphql(
            "mutation($t: ID!, $r: Role!, $n: String!) { createToken(input: {teamId: $t, role: $r, name: $n}) { secret token { id } } }",
            json!({ "t": team_id, "r": role, "n": name }),
        )
        .await
        .expect("createToken");
    let p = &d["createToken"];
    (p["secret"].as_str().unwrap().to_string(), p["token"]["id"].as_str().unwrap().to_string())
}

/// POSTs `body` to a capture URL and returns the capture id from the default answer.
async fn post_capture(url: &str, body: &[u8]) -> String {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .expect("capture sent");
    assert_eq!(resp.status(), 200, "default answer of {url}");
    let v: Value = resp.json().await.expect("JSON answer");
    v["id"].as_str().expect("capture id in answer").to_string()
}

/// Distinct bytes per call, with NUL and invalid UTF-8 so "exact bytes" means something.
/// What the matrix names the endpoints it creates or renames, followed by random hex digits.
const MATRIX_NAME: &str = "made-by-matrix-";

/// Endpoint names are unique per team; every fresh endpoint gets its own.
fn fresh_name() -> String {
    format!("fresh-{:016x}", rand::random::<u64>())
}

/// `endpoint` with a [`fresh_name`] written `fresh`, to compare with what is expected.
fn fresh_named(endpoint: &Value) -> Value {
    let mut e = endpoint.clone();
    if e["name"].as_str().is_some_and(|n| n.starts_with("fresh-")) {
        e["name"] = json!("fresh");
    }
    e
}

fn unique_body(tag: &str) -> Vec<u8> {
    let mut b = format!("{tag}-{:016x}-", rand::random::<u64>()).into_bytes();
    b.extend_from_slice(&[0x00, 0xff, 0xc3, 0x28, b'\n']);
    b
}

fn random_uuid() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

impl TeamFixture {
    async fn create(server: &TestServer, name: &str, retention_days: i32) -> Self {
        let d = server
            .admin
            .graphql(
                "mutation($n: String!, $r: Int!) { createTeam(input: {name: $n, retentionDays: $r}) { id } }",
                json!({ "n": name, "r": retention_days }),
            )
            .await
            .expect("createTeam by the instance admin");
        let id = d["createTeam"]["id"].as_str().unwrap().to_string();
        let (secret, admin_token_id) = create_token(&server.admin, &id, "ADMIN", &format!("{name}-admin")).await;
        let admin = Client::new(&server.base_url, &secret);
        let endpoint = admin.create_endpoint(&format!("main-{name}")).await.expect("endpoint");
        let scratch = admin.create_endpoint("scratch").await.expect("scratch endpoint");
        let body = unique_body(name);
        let capture_id = post_capture(&endpoint.url, &body).await;
        admin.wait_for_capture(&capture_id, WAIT).await.expect("capture readable");
        // The processor stores the verdict just after the capture; wait for it so a snapshot
        // taken now is final (a changed `verifiedAt` means someone re-verified).
        let deadline = Instant::now() + WAIT;
        loop {
            let d = admin
                .graphql(
                    "query($id: ID!) { capture(id: $id) { verification { verdict } } }",
                    json!({ "id": capture_id }),
                )
                .await
                .expect("capture verification read");
            if !d["capture"]["verification"].is_null() {
                break;
            }
            assert!(Instant::now() < deadline, "capture {capture_id} not verified after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A custom answer only after the capture: it replaces the default `{"id": …}` answer.
        let answer = format!("answer of {name}");
        admin
            .graphql(
                "mutation($id: ID!, $b: String!) { updateEndpoint(input: {id: $id, response: {status: 202, body: $b}}) { id } }",
                json!({ "id": endpoint.id, "b": answer }),
            )
            .await
            .expect("custom answer");
        Self { id, name: name.to_string(), admin, admin_token_id, endpoint, answer, capture_id, body, scratch }
    }

    /// The id the non-throwaway cells of `kind` use.
    fn id_of(&self, kind: Kind) -> String {
        match kind {
            Kind::NoId => String::new(),
            Kind::Team => self.id.clone(),
            Kind::Endpoint => self.endpoint.id.clone(),
            Kind::Capture => self.capture_id.clone(),
            Kind::Token => self.admin_token_id.clone(),
            Kind::VerifiedEndpoint => panic!("no lasting {kind:?}; its rows are fresh"),
        }
    }

    async fn fresh(&self, kind: Kind) -> Fresh {
        match kind {
            Kind::Endpoint => {
                let e = self.admin.create_endpoint(&fresh_name()).await.expect("fresh endpoint");
                Fresh { id: e.id, url: e.url, secret: String::new() }
            }
            Kind::VerifiedEndpoint => {
                let e = self.admin.create_endpoint(&fresh_name()).await.expect("fresh endpoint");
                let secrets = json!([
                    { "label": "current", "value": secret!(current) },
                    { "label": "previous", "value": secret!(previous) },
                ]);
                let d = self
                    .admin
                    .graphql(
                        "mutation($id: ID!, $s: [SecretInput!]!) { updateEndpoint(input: {id: $id, verification: {provider: \"github\", secrets: $s}}) { verification { provider secrets { label } } } }",
                        json!({ "id": e.id, "s": secrets }),
                    )
                    .await
                    .expect("fresh endpoint's verification settings");
                assert_eq!(d["updateEndpoint"]["verification"], verified_settings());
                Fresh { id: e.id, url: e.url, secret: String::new() }
            }
            Kind::Capture => {
                let id = post_capture(&self.scratch.url, &unique_body("fresh")).await;
                self.admin.wait_for_capture(&id, WAIT).await.expect("fresh capture readable");
                Fresh { id, url: String::new(), secret: String::new() }
            }
            Kind::Token => {
                let (secret, id) = create_token(&self.admin, &self.id, "VIEWER", "fresh").await;
                Fresh { id, url: String::new(), secret }
            }
            Kind::Team | Kind::NoId => panic!("no throwaway {kind:?}"),
        }
    }

    /// What is left of a throwaway object, as its own team sees it.
    async fn fresh_state(&self, kind: Kind, f: &Fresh) -> Effect {
        match kind {
            Kind::Endpoint | Kind::VerifiedEndpoint => {
                let d = self
                    .admin
                    .graphql(
                        "query($id: ID!) { endpoint(id: $id) { name response { status } verification { provider secrets { label } } handshakes scenario { id } maxCaptures expiresAt } }",
                        json!({ "id": f.id }),
                    )
                    .await
                    .expect("endpoint read by its team");
                let verification = if kind == Kind::VerifiedEndpoint { verified_settings() } else { Value::Null };
                let intact = json!({
                    "name": "fresh",
                    "response": null,
                    "verification": verification,
                    "handshakes": false,
                    "scenario": [],
                    "maxCaptures": null,
                    "expiresAt": null,
                });
                match &d["endpoint"] {
                    Value::Null => Effect::Gone,
                    e if fresh_named(e) == intact => Effect::Intact,
                    _ => Effect::Changed,
                }
            }
            Kind::Capture => match self.admin.capture(&f.id).await.expect("capture read by its team") {
                Value::Null => Effect::Gone,
                _ => Effect::Intact,
            },
            Kind::Token => {
                let (status, body) = Client::new(&self.admin.base_url, &f.secret)
                    .graphql_raw("{ me { role } }", json!({}))
                    .await
                    .unwrap();
                match status {
                    401 => Effect::Gone,
                    200 if body["data"]["me"]["role"] == "VIEWER" => Effect::Intact,
                    _ => panic!("token check answered {status}: {body}"),
                }
            }
            Kind::Team | Kind::NoId => Effect::Intact,
        }
    }

    /// Everything of the team a bad request might change, read by the team itself.
    async fn snapshot(&self) -> Value {
        self.admin
            .graphql(
                "query($t: ID!, $e: ID!, $c: ID!) {
                    team(id: $t) { id name retentionDays createdAt }
                    endpoint(id: $e) {
                        id teamId name token url createdAt response { status headers { name value } body delayMs }
                        verification { provider secrets { label } toleranceSeconds publicUrl } handshakes
                    }
                    capture(id: $c) {
                        id endpointId method path bodyBase64 bodySha256 headers { name valueBase64 } receivedAt
                        verification { provider verdict reason secretLabel verifiedAt }
                    }
                    captures(endpointId: $e) { edges { node { id bodyBase64 } } }
                    me { token { id revoked role } }
                }",
                json!({ "t": self.id, "e": self.endpoint.id, "c": self.capture_id }),
            )
            .await
            .expect("snapshot")
    }
}

impl World {
    async fn setup() -> Self {
        let server = TestServer::start().await.expect("server starts");
        let a = TeamFixture::create(&server, "team-a", 30).await;
        let b = TeamFixture::create(&server, "team-b", 45).await;
        let mut actors = Vec::new();
        for (role, level) in [("VIEWER", Need::Viewer), ("EDITOR", Need::Editor), ("ADMIN", Need::Admin)] {
            let (secret, token_id) = create_token(&a.admin, &a.id, role, &format!("a-{role}")).await;
            let client = Client::new(&server.base_url, &secret);
            actors.push(Actor { role, level, secret, token_id, client });
        }
        Self { server, a, b, actors }
    }
}

// ---------------------------------------------------------------------------------------------
// Running one cell
// ---------------------------------------------------------------------------------------------

fn ws_json(m: &WsMessage) -> Value {
    match m {
        WsMessage::ConnectionAck(p) => json!({ "type": "connection_ack", "payload": p }),
        WsMessage::Next { id, payload } => json!({ "type": "next", "id": id, "payload": payload }),
        WsMessage::Error { id, payload } => json!({ "type": "error", "id": id, "payload": payload }),
        WsMessage::Complete { id } => json!({ "type": "complete", "id": id }),
        WsMessage::ConnectionError(p) => json!({ "type": "connection_error", "payload": p }),
        WsMessage::Closed { code, reason } => json!({ "type": "closed", "code": code, "reason": reason }),
        WsMessage::Other(v) => v.clone(),
    }
}

/// Subscribes on a new connection. With `send_to`, keeps sending captures there (recording
/// their bodies in `sent`) until the first message arrives — the server gives no signal when a
/// subscription is live, so one capture could be published before it is. Without, collects
/// messages until `complete` or the end of the connection.
async fn live_cell(
    base_url: &str,
    protocol: Protocol,
    auth: Auth,
    doc: &str,
    variables: Value,
    send_to: Option<&str>,
    sent: &mut HashMap<String, Vec<u8>>,
) -> Vec<WsMessage> {
    let mut ws = WsClient::connect(base_url, protocol, auth).await.unwrap_or_else(|e| panic!("ws connect: {e}"));
    let id = ws.subscribe(doc, variables).await.expect("subscribe");
    let deadline = Instant::now() + LIVE;
    let mut out = Vec::new();
    loop {
        if let Some(url) = send_to {
            let body = unique_body("live");
            sent.insert(post_capture(url, &body).await, body);
        }
        let wait = if send_to.is_some() { Duration::from_millis(300) } else { LIVE };
        match ws.next_message(wait).await.expect("ws read") {
            Some(m) => {
                let end = send_to.is_some() || matches!(m, WsMessage::Complete { .. } | WsMessage::Closed { .. });
                if let WsMessage::Next { id: got, .. } | WsMessage::Complete { id: got } = &m {
                    assert_eq!(got, &id, "message for another operation: {m:?}");
                }
                out.push(m);
                if end {
                    break;
                }
            }
            None if Instant::now() < deadline => {}
            None => break,
        }
    }
    ws.close().await.expect("ws close");
    out
}

/// Whether `resp` (a GraphQL response) is what `row` must answer `actor` in `case`.
fn judge(row: &Row, actor: &Actor, case: Case, resp: &Value, ctx: &CellCtx) -> Result<(), String> {
    let errors = resp.get("errors").filter(|e| !e.is_null());
    let first = errors.and_then(|e| e.get(0));
    let code = first.map(|e| e["extensions"]["code"].clone()).unwrap_or(Value::Null);
    let message = first.and_then(|e| e["message"].as_str()).unwrap_or_default();
    match case {
        Case::Malformed => {
            ensure_eq!(code, json!("BAD_USER_INPUT"));
            ensure_eq!(first.map(|e| e["extensions"]["field"].clone()), Some(json!(row.id_field)));
            ensure!(message.contains("not-a-uuid"), "the message names the bad value: {message}");
        }
        Case::Own if actor.level >= row.need => {
            ensure!(errors.is_none(), "allowed but got errors: {resp}");
            (row.check)(&resp["data"], ctx)?;
        }
        Case::Own => {
            ensure_eq!(code, json!("FORBIDDEN"));
            ensure!(
                message.contains(row.need.named()),
                "FORBIDDEN message does not name {}: {message}",
                row.need.named()
            );
            ensure!(resp["data"].is_null(), "data with FORBIDDEN: {resp}");
        }
        Case::Missing | Case::Other => match row.invisible {
            Invisible::Null => {
                ensure!(errors.is_none(), "errors for an invisible id: {resp}");
                ensure_eq!(resp["data"], json!({ row.op: null }));
            }
            Invisible::NotFound => {
                ensure_eq!(code, json!("NOT_FOUND"));
                ensure!(message.ends_with("not found"), "message: {message}");
                ensure!(resp["data"].is_null(), "data with NOT_FOUND: {resp}");
            }
        },
    }
    Ok(())
}

/// A cell's answer in a word: `ok`, `null`, or the error code.
fn observed(row: &Row, resp: &Value) -> String {
    match resp.get("errors").and_then(|e| e.get(0)) {
        Some(e) => e["extensions"]["code"].as_str().unwrap_or("(no code)").to_string(),
        None if resp["data"][row.op].is_null() => "null".to_string(),
        None => "ok".to_string(),
    }
}

/// Replaces `from` with `to` everywhere in `v`, for comparing answers about different ids.
fn with_id_replaced(v: &Value, from: &str, to: &str) -> Value {
    if from.is_empty() {
        return v.clone();
    }
    serde_json::from_str(&v.to_string().replace(from, to)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Every row × every role of team A × {own, missing, other, malformed}; afterwards team B's data
/// is exactly as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_own_other_missing_malformed() {
    let started = Instant::now();
    let w = World::setup().await;
    let b_before = w.b.snapshot().await;
    let teams_query = "{ teams { id name } }";
    let teams_before = w.server.admin.graphql(teams_query, json!({})).await.expect("teams");
    let rows = rows();
    let mut sent = HashMap::new();
    let mut failures = Vec::new();
    let mut cells = 0;
    // One line per row and role: what each case answered.
    let mut summary = Vec::new();

    for row in &rows {
        let live = row.doc.starts_with("subscription");
        for actor in &w.actors {
            let cases: &[Case] = match row.kind {
                Kind::NoId => &[Case::Own],
                _ => &[Case::Own, Case::Missing, Case::Other, Case::Malformed],
            };
            // (id used, whole outcome) of the missing-id cell, to compare the other-team cell to.
            let mut missing: Option<(String, Value)> = None;
            let mut line = format!("{:<24} {:<7}", row.op, actor.role);
            for &case in cases {
                cells += 1;
                let team = if case == Case::Other { &w.b } else { &w.a };
                let fresh = match (row.fresh, case) {
                    (true, Case::Own | Case::Other) => Some(team.fresh(row.kind).await),
                    _ => None,
                };
                let id = match (case, &fresh) {
                    (Case::Missing, _) => random_uuid(),
                    (Case::Malformed, _) => "not-a-uuid".to_string(),
                    (_, Some(f)) => f.id.clone(),
                    (_, None) => team.id_of(row.kind),
                };
                let mut variables = if row.kind == Kind::NoId { json!({}) } else { json!({ "id": id }) };
                // Endpoint names are unique per team, and several actors create and rename.
                if row.doc.contains("$name") {
                    variables["name"] = json!(format!("{MATRIX_NAME}{:016x}", rand::random::<u64>()));
                }
                let allowed = case == Case::Own && actor.level >= row.need;

                // The whole outcome (compared across cases) and the GraphQL response in it.
                let (outcome, resp) = if live {
                    let send_to = if allowed { fresh.as_ref().map(|f| f.url.as_str()) } else { None };
                    let auth = Auth::Init(actor.secret.clone());
                    let msgs = live_cell(
                        &w.server.base_url,
                        Protocol::TransportWs,
                        auth,
                        row.doc,
                        variables,
                        send_to,
                        &mut sent,
                    )
                    .await;
                    let resp = match msgs.first() {
                        Some(WsMessage::Next { payload, .. }) => payload.clone(),
                        _ => Value::Null,
                    };
                    if !allowed && !matches!(msgs.last(), Some(WsMessage::Complete { .. })) {
                        failures.push(format!(
                            "{} {} {case:?}: no `complete` after the error: {msgs:?}",
                            row.op, actor.role
                        ));
                    }
                    (Value::Array(msgs.iter().map(ws_json).collect()), resp)
                } else {
                    let (status, body) = actor.client.graphql_raw(row.doc, variables).await.expect("graphql request");
                    if status != 200 {
                        failures.push(format!("{} {} {case:?}: HTTP {status}: {body}", row.op, actor.role));
                    }
                    (json!({ "status": status, "body": body }), body)
                };

                line.push_str(&format!(" {case:?}={}", observed(row, &resp)));
                // Secret values are write-only, whoever asks and whatever the answer.
                if let Err(e) = no_secret_in(&outcome) {
                    failures.push(format!("{} as {} with {case:?} id: {e}", row.op, actor.role));
                }
                let ctx = CellCtx { id: &id, world: &w, actor, sent: &sent };
                if let Err(e) = judge(row, actor, case, &resp, &ctx) {
                    failures.push(format!("{} as {} with {case:?} id: {e}\n    response: {resp}", row.op, actor.role));
                }
                match case {
                    Case::Missing => missing = Some((id.clone(), outcome)),
                    Case::Other => {
                        let (missing_id, missing_outcome) = missing.as_ref().expect("missing runs before other");
                        let normalised = with_id_replaced(&outcome, &id, missing_id);
                        if &normalised != missing_outcome {
                            failures.push(format!(
                                "{} as {}: team B's id answers differently from a nonexistent id\n    other:   {normalised}\n    missing: {missing_outcome}",
                                row.op, actor.role
                            ));
                        }
                    }
                    _ => {}
                }
                if let Some(f) = &fresh {
                    let want = if allowed { row.effect } else { Effect::Intact };
                    let got = team.fresh_state(row.kind, f).await;
                    if got != want {
                        failures.push(format!(
                            "{} as {} with {case:?} id: throwaway {:?} is {got:?}, expected {want:?}",
                            row.op, actor.role, row.kind
                        ));
                    }
                }
            }
            summary.push(line);
        }
    }

    // Malformed cursors and page sizes, for every role.
    let cursor_doc = "query($e: ID!, $after: String, $first: Int) { captures(endpointId: $e, after: $after, first: $first) { edges { cursor } } }";
    let bad_pages = [
        (json!("not-a-cursor!"), json!(10), "after"),
        (json!("Y2FwdHVyZTpub3BlCg"), json!(10), "after"), // base64 of "capture:nope\n"
        (json!(""), json!(10), "after"),
        (Value::Null, json!(-1), "first"),
    ];
    for actor in &w.actors {
        for (after, first, field) in &bad_pages {
            cells += 1;
            let vars = json!({ "e": w.a.endpoint.id, "after": after, "first": first });
            let (status, body) = actor.client.graphql_raw(cursor_doc, vars).await.expect("graphql request");
            let err = &body["errors"][0];
            if status != 200 || err["extensions"]["code"] != "BAD_USER_INPUT" || err["extensions"]["field"] != *field {
                failures
                    .push(format!("captures(after: {after}, first: {first}) as {}: HTTP {status} {body}", actor.role));
            }
        }
    }

    // The row that must not change after bad input: team B, read by itself.
    let b_after = w.b.snapshot().await;
    if b_after != b_before {
        failures.push(format!("team B changed:\n    before: {b_before}\n    after:  {b_after}"));
    }
    let b_capture = &b_after["capture"];
    if unb64(b_capture["bodyBase64"].as_str().unwrap_or_default()) != w.b.body {
        failures.push(format!("team B's capture body is not the bytes sent: {b_capture}"));
    }
    if b_after["endpoint"]["name"] != "main-team-b"
        || b_after["endpoint"]["response"]["body"] != json!(w.b.answer)
        || b_after["team"]["retentionDays"] != 45
        || b_after["me"]["token"]["revoked"] != false
    {
        failures.push(format!("team B's endpoint, retention or token changed: {b_after}"));
    }
    let d = w.b.admin.graphql("{ endpoints { name } tokens { name revoked } }", json!({})).await.expect("B lists");
    let names: Vec<&str> = d["endpoints"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
    if names.iter().any(|n| !["main-team-b", "scratch"].contains(n) && !n.starts_with("fresh-")) {
        failures.push(format!("an endpoint of team B was created or renamed by team A: {names:?}"));
    }
    if d["tokens"].as_array().unwrap().iter().any(|t| t["revoked"] != false || t["name"] == "made-by-matrix") {
        failures.push(format!("a token of team B was revoked or created by team A: {}", d["tokens"]));
    }
    let teams_after = w.server.admin.graphql(teams_query, json!({})).await.expect("teams");
    if teams_after != teams_before {
        failures.push(format!("a team token created a team:\n    before: {teams_before}\n    after:  {teams_after}"));
    }

    eprintln!(
        "access matrix: {} rows × {} roles, {cells} cells in {:.1?}\n{}",
        rows.len(),
        w.actors.len(),
        started.elapsed(),
        summary.join("\n")
    );
    assert!(failures.is_empty(), "{} failing cells:\n{}", failures.len(), failures.join("\n"));
    w.server.stop().await.unwrap();
}

/// `captureReceived` for every role of team A over both subprotocols, with the token in the
/// init payload and in the upgrade request: A's endpoint delivers the exact bytes, team B's
/// endpoint answers exactly like a nonexistent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_every_protocol_and_auth_placement() {
    let w = World::setup().await;
    let doc = "subscription($id: ID!) { captureReceived(endpointId: $id) { id endpointId bodyBase64 } }";
    let mut sent = HashMap::new();
    let mut failures = Vec::new();
    for actor in &w.actors {
        for protocol in Protocol::ALL {
            for header in [false, true] {
                let auth =
                    || if header { Auth::Header(actor.secret.clone()) } else { Auth::Init(actor.secret.clone()) };
                let label = format!(
                    "{} over {} with the token in the {}",
                    actor.role,
                    protocol.name(),
                    if header { "header" } else { "init payload" }
                );

                // Own endpoint: the capture arrives, byte for byte.
                let msgs = live_cell(
                    &w.server.base_url,
                    protocol,
                    auth(),
                    doc,
                    json!({ "id": w.a.scratch.id }),
                    Some(&w.a.scratch.url),
                    &mut sent,
                )
                .await;
                match msgs.first() {
                    Some(WsMessage::Next { payload, .. }) if payload.get("errors").is_none() => {
                        let c = &payload["data"]["captureReceived"];
                        let id = c["id"].as_str().unwrap_or_default();
                        if c["endpointId"] != json!(w.a.scratch.id)
                            || sent.get(id).is_none_or(|b| unb64(c["bodyBase64"].as_str().unwrap_or_default()) != *b)
                        {
                            failures.push(format!("{label}: wrong capture {c}"));
                        }
                    }
                    other => {
                        failures.push(format!("{label}: no capture from the own endpoint within {LIVE:?}: {other:?}"))
                    }
                }

                // Nonexistent, then team B's endpoint while a capture is sent to it.
                let missing_id = random_uuid();
                let missing =
                    live_cell(&w.server.base_url, protocol, auth(), doc, json!({ "id": missing_id }), None, &mut sent)
                        .await;
                let mut unused = HashMap::new();
                let other_fut = live_cell(
                    &w.server.base_url,
                    protocol,
                    auth(),
                    doc,
                    json!({ "id": w.b.scratch.id }),
                    None,
                    &mut unused,
                );
                let (other, _) = tokio::join!(other_fut, post_capture(&w.b.scratch.url, b"to team b"));
                let missing_json = Value::Array(missing.iter().map(ws_json).collect());
                let other_json =
                    with_id_replaced(&Value::Array(other.iter().map(ws_json).collect()), &w.b.scratch.id, &missing_id);
                if other_json != missing_json {
                    failures.push(format!("{label}: B's endpoint {other_json} but nonexistent {missing_json}"));
                }
                let ok = matches!(missing.as_slice(), [WsMessage::Next { payload, .. }, WsMessage::Complete { .. }]
                    if payload["data"].is_null() && payload["errors"][0]["extensions"]["code"] == "NOT_FOUND"
                        && payload["errors"][0]["message"] == "endpoint not found");
                if !ok {
                    failures.push(format!(
                        "{label}: nonexistent endpoint gives {missing_json}, expected NOT_FOUND then complete"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    w.server.stop().await.unwrap();
}

/// A WebSocket without a valid token never gets to subscribe. What the client observes:
/// a bad `Authorization` header on the upgrade → HTTP 401 with an UNAUTHENTICATED body, no
/// WebSocket; a bad or absent token in `connection_init` → graphql-transport-ws closes with 1002
/// and the reason, legacy graphql-ws sends `connection_error` with the message.
#[tokio::test]
async fn websocket_without_valid_token_is_refused() {
    let server = TestServer::start().await.expect("server starts");
    let team = TeamFixture::create(&server, "team-a", 30).await;
    let (revoked, revoked_id) = create_token(&team.admin, &team.id, "VIEWER", "to-revoke").await;
    team.admin
        .graphql("mutation($id: ID!) { revokeToken(input: {id: $id}) { id } }", json!({ "id": revoked_id }))
        .await
        .expect("revokeToken");
    let unknown = "hm_this-token-was-never-issued".to_string();
    let mut failures = Vec::new();
    for protocol in Protocol::ALL {
        let mut cases = vec![(Auth::None, "send `{\"authorization\": \"Bearer <token>\"}`")];
        for token in [&unknown, &revoked] {
            cases.push((Auth::Init(token.clone()), "not authenticated: the token is unknown or revoked"));
            cases.push((Auth::Header(token.clone()), "not authenticated: the token is unknown or revoked"));
        }
        for (auth, expected) in cases {
            let label = format!("{} with {auth:?}", protocol.name());
            let refused = WsClient::connect(&server.base_url, protocol, auth.clone()).await;
            let ok = match (&refused, &auth, protocol) {
                (Err(ConnectError::Http { status, body }), Auth::Header(_), _) => {
                    let body: Value = serde_json::from_str(body).unwrap_or_default();
                    *status == 401
                        && body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                        && body["errors"][0]["message"] == expected
                }
                (Err(ConnectError::Refused(WsMessage::Closed { code, reason })), _, Protocol::TransportWs) => {
                    *code == 1002 && reason.contains(expected)
                }
                (Err(ConnectError::Refused(WsMessage::ConnectionError(p))), _, Protocol::LegacyWs) => {
                    p["message"].as_str().is_some_and(|m| m.contains(expected))
                }
                _ => false,
            };
            if !ok {
                failures.push(format!("{label}: {refused:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    server.stop().await.unwrap();
}

/// `revokeToken` ends the token's live subscriptions within the re-check interval (10 s) with
/// an UNAUTHENTICATED error, and the token gets 401 for everything new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_ends_live_subscriptions_and_gets_401() {
    let server = TestServer::start().await.expect("server starts");
    let team = TeamFixture::create(&server, "team-a", 30).await;
    let (secret, token_id) = create_token(&team.admin, &team.id, "VIEWER", "soon-revoked").await;
    let doc = "subscription($id: ID!) { captureReceived(endpointId: $id) { id bodyBase64 } }";
    let vars = json!({ "id": team.scratch.id });

    // One subscription per protocol, each proven live by a delivered capture.
    let mut subs = Vec::new();
    for (protocol, auth) in
        [(Protocol::TransportWs, Auth::Init(secret.clone())), (Protocol::LegacyWs, Auth::Header(secret.clone()))]
    {
        let mut ws = WsClient::connect(&server.base_url, protocol, auth).await.expect("connect");
        let op = ws.subscribe(doc, vars.clone()).await.expect("subscribe");
        let deadline = Instant::now() + LIVE;
        loop {
            let body = unique_body("before-revoke");
            let id = post_capture(&team.scratch.url, &body).await;
            match ws.next_message(Duration::from_millis(300)).await.expect("ws read") {
                Some(WsMessage::Next { payload, .. }) => {
                    let c = &payload["data"]["captureReceived"];
                    assert_eq!(c["id"], json!(id), "{payload}");
                    assert_eq!(unb64(c["bodyBase64"].as_str().unwrap()), body);
                    break;
                }
                Some(other) => panic!("{}: unexpected {other:?}", protocol.name()),
                None => assert!(Instant::now() < deadline, "{}: nothing delivered within {LIVE:?}", protocol.name()),
            }
        }
        subs.push((ws, op));
    }

    let revoked_at = Instant::now();
    team.admin
        .graphql("mutation($id: ID!) { revokeToken(input: {id: $id}) { revoked } }", json!({ "id": token_id }))
        .await
        .expect("revokeToken");

    // Requests with the token are refused at once.
    let (status, body) =
        Client::new(&server.base_url, &secret).graphql_raw("{ me { role } }", json!({})).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    match WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Header(secret.clone())).await {
        Err(ConnectError::Http { status: 401, .. }) => {}
        other => panic!("new WebSocket with a revoked token: {other:?}"),
    }

    // Live subscriptions end with UNAUTHENTICATED, then `complete`; both are watched at once.
    let mut subs = subs.into_iter();
    let (first, second) = (subs.next().unwrap(), subs.next().unwrap());
    let (first, second) = tokio::join!(until_end(first, revoked_at), until_end(second, revoked_at));
    for (protocol, op, msgs, took) in [first, second] {
        let ok = matches!(msgs.as_slice(), [WsMessage::Next { id, payload }, WsMessage::Complete { id: done }]
            if *id == op && *done == op
                && payload["data"].is_null()
                && payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                && payload["errors"][0]["message"] == "not authenticated: the token was revoked");
        assert!(ok, "{}: after revoking, got {msgs:?} within {took:?}", protocol.name());
        assert!(took <= Duration::from_secs(15), "{}: ended after {took:?}", protocol.name());
        eprintln!("{}: subscription ended {took:.1?} after revokeToken", protocol.name());
    }
    server.stop().await.unwrap();
}

/// Messages of a subscription until `complete` or the end of the connection, at most 15 s after
/// `since`, without the captures delivered before.
async fn until_end((mut ws, op): (WsClient, String), since: Instant) -> (Protocol, String, Vec<WsMessage>, Duration) {
    let mut msgs = Vec::new();
    let deadline = since + Duration::from_secs(15);
    while let Some(m) = ws.next_message(deadline.saturating_duration_since(Instant::now())).await.expect("ws read") {
        // Captures sent while proving the subscription live may still be on their way.
        if let WsMessage::Next { payload, .. } = &m
            && payload.get("errors").is_none()
        {
            continue;
        }
        let end = matches!(m, WsMessage::Complete { .. } | WsMessage::Closed { .. });
        msgs.push(m);
        if end {
            break;
        }
    }
    let took = since.elapsed();
    let protocol = ws.protocol();
    let _ = ws.close().await;
    (protocol, op, msgs, took)
}
