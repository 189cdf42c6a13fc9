//! `hookmetry export`: a team's endpoints as an endpoints file, the one `apply` reads.
//!
//! Secret values never leave the server; each secret is written as a reference to an
//! environment variable named after its endpoint and label, and the variables a later `apply`
//! needs are listed on stderr.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::CliError;
use crate::output::Output;
use crate::spec::{
    self, EndpointSpec, EventFieldsSpec, GenericSpec, GoneAfterSpec, HeaderMatchSpec, Human, LatencyPointSpec,
    LatencySpec, MixChoiceSpec, MixSpec, ReplySpec, ResponseSpec, RuleSpec, ScenarioRuleSpec, SecretRef, SequenceEnd,
    SequenceSpec, SpecFile, VerificationSpec,
};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Team id [default: the token's team]; also written to the file as `team`.
    #[arg(long)]
    pub team: Option<String>,
    /// Write the file here instead of to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// One endpoint's selection; read one by one, since a list of endpoints with their rules costs
/// more than a query may.
const FIELDS: &str = "name handshakes \
     response { status headers { name value } body delayMs } \
     verification { provider secrets { label } toleranceSeconds publicUrl \
       generic { header algorithm encoding prefix template timestampHeader idHeader } } \
     eventFields { id type createdAt attempt resource } \
     forwardingRules { id target method pathPrefix headerName headerContains eventTypes } \
     maxCaptures ttlSeconds \
     scenario { id method pathPrefix header { name contains } eventTypes answer { \
       fixed { ...R } sequence { steps { ...R } then } mix { choices { percent reply { ...R } } rest { ...R } } \
       goneAfter { count before { ...R } after { ...R } } latency { reply { ...R } points { percentile ms } } } }";

const REPLY_FRAGMENT: &str = "fragment R on Reply { status headers { name value } body delayMs timeout }";

pub(crate) async fn run(args: ExportArgs, client: &Client, out: &mut Output) -> Result<(), CliError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    #[derive(Deserialize)]
    struct List {
        endpoints: Vec<Id>,
    }
    #[derive(Deserialize)]
    struct One {
        endpoint: Option<Value>,
    }
    let list: List =
        client.query("query($team: ID) { endpoints(teamId: $team) { id } }", json!({ "team": args.team })).await?;
    let mut endpoints = Vec::with_capacity(list.endpoints.len());
    for Id { id } in list.endpoints {
        let q = format!("query($id: ID!) {{ endpoint(id: $id) {{ {FIELDS} }} }} {REPLY_FRAGMENT}");
        // Deleted since the list was read: not part of the state any more.
        if let Some(e) = client.query::<One>(&q, json!({ "id": id })).await?.endpoint {
            endpoints.push(endpoint_spec(&e));
        }
    }
    let file = SpecFile { version: spec::VERSION, team: args.team.clone(), endpoints };
    let value = serde_json::to_value(&file).map_err(std::io::Error::other)?;
    let text = format!(
        "# hookmetry endpoints (hookmetry export); apply with `hookmetry apply -f FILE`\n{}",
        spec::emit(&value, spec::KEY_ORDER)
    );
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {} endpoint(s) to {}", file.endpoints.len(), path.display());
        }
        None => out.text(&text)?,
    }
    let vars = needed_env(&file);
    if !vars.is_empty() {
        eprintln!("`hookmetry apply` of this file reads each secret from the environment; set:");
        for (var, endpoint, label) in vars {
            eprintln!("  {var}  (endpoint `{endpoint}`, secret `{label}`)");
        }
    }
    Ok(())
}

/// `(variable, endpoint, label)` of every secret reference in `file`.
fn needed_env(file: &SpecFile) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for e in &file.endpoints {
        for s in e.verification.iter().flat_map(|v| v.secrets.iter().flatten()) {
            if let Some(var) = &s.env {
                out.push((var.clone(), e.name.clone(), s.label.clone()));
            }
        }
    }
    out
}

/// One endpoint as the API shows it, in the file's terms; defaults are left out.
fn endpoint_spec(e: &Value) -> EndpointSpec {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let name = e["name"].as_str().unwrap_or_default().to_owned();
    let response = (!e["response"].is_null()).then(|| {
        let r = &e["response"];
        let delay = r["delayMs"].as_u64().unwrap_or(0);
        ResponseSpec {
            status: r["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
            headers: headers(&r["headers"]),
            body: r["body"].as_str().unwrap_or_default().to_owned(),
            delay: (delay > 0).then(|| Human(Duration::from_millis(delay))),
        }
    });
    let verification = (!e["verification"].is_null()).then(|| {
        let v = &e["verification"];
        let secrets = v["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["label"].as_str())
            .map(|label| SecretRef {
                label: label.to_owned(),
                env: Some(spec::secret_env_name(&name, label)),
                file: None,
                value: None,
            })
            .collect::<Vec<_>>();
        let g = &v["generic"];
        VerificationSpec {
            provider: v["provider"].as_str().unwrap_or_default().to_owned(),
            secrets: (!secrets.is_empty()).then_some(secrets),
            tolerance: v["toleranceSeconds"].as_u64().map(|t| Human(Duration::from_secs(t))),
            public_url: s(&v["publicUrl"]),
            generic: (!g.is_null()).then(|| GenericSpec {
                header: g["header"].as_str().unwrap_or_default().to_owned(),
                algorithm: s(&g["algorithm"]),
                encoding: s(&g["encoding"]),
                prefix: s(&g["prefix"]),
                template: s(&g["template"]),
                timestamp_header: s(&g["timestampHeader"]),
                id_header: s(&g["idHeader"]),
            }),
        }
    });
    let f = &e["eventFields"];
    let event_fields = (!f.is_null()).then(|| EventFieldsSpec {
        id: s(&f["id"]),
        kind: s(&f["type"]),
        created_at: s(&f["createdAt"]),
        attempt: s(&f["attempt"]),
        resource: s(&f["resource"]),
    });
    let forwarding_rules = e["forwardingRules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| RuleSpec {
            id: r["id"].as_str().unwrap_or_default().to_owned(),
            target: r["target"].as_str().unwrap_or_default().to_owned(),
            method: s(&r["method"]),
            path_prefix: s(&r["pathPrefix"]),
            header: s(&r["headerName"])
                .map(|name| HeaderMatchSpec { name, contains: r["headerContains"].as_str().unwrap_or("").to_owned() }),
            event_types: r["eventTypes"].as_array().into_iter().flatten().filter_map(&s).collect(),
        })
        .collect();
    let scenario = e["scenario"].as_array().into_iter().flatten().map(scenario_rule).collect();
    EndpointSpec {
        scenario,
        max_captures: e["maxCaptures"].as_u64(),
        ttl: e["ttlSeconds"].as_u64().map(|t| Human(Duration::from_secs(t))),
        name,
        verification,
        handshakes: e["handshakes"].as_bool().unwrap_or(false),
        event_fields,
        response,
        forwarding_rules,
    }
}

fn scenario_rule(r: &Value) -> ScenarioRuleSpec {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let a = &r["answer"];
    let opt_reply = |v: &Value| (!v.is_null()).then(|| reply(v));
    let mut rule = ScenarioRuleSpec {
        id: s(&r["id"]),
        method: s(&r["method"]),
        path_prefix: s(&r["pathPrefix"]),
        header: (!r["header"].is_null()).then(|| HeaderMatchSpec {
            name: r["header"]["name"].as_str().unwrap_or_default().to_owned(),
            contains: r["header"]["contains"].as_str().unwrap_or_default().to_owned(),
        }),
        event_types: r["eventTypes"].as_array().into_iter().flatten().filter_map(&s).collect(),
        ..ScenarioRuleSpec::default()
    };
    rule.fixed = opt_reply(&a["fixed"]);
    let q = &a["sequence"];
    rule.sequence = (!q.is_null()).then(|| SequenceSpec {
        steps: q["steps"].as_array().into_iter().flatten().map(reply).collect(),
        then: (q["then"] == "STICK").then_some(SequenceEnd::Stick),
    });
    let m = &a["mix"];
    rule.mix = (!m.is_null()).then(|| MixSpec {
        choices: m["choices"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| MixChoiceSpec { percent: c["percent"].as_f64().unwrap_or(0.0), reply: reply(&c["reply"]) })
            .collect(),
        rest: reply(&m["rest"]),
    });
    let g = &a["goneAfter"];
    rule.gone_after = (!g.is_null()).then(|| GoneAfterSpec {
        count: g["count"].as_u64().unwrap_or(0),
        before: Some(reply(&g["before"])).filter(|r| !is_status(r, 200)),
        after: Some(reply(&g["after"])).filter(|r| !is_status(r, 410)),
    });
    let l = &a["latency"];
    rule.latency = (!l.is_null()).then(|| LatencySpec {
        reply: Some(reply(&l["reply"])).filter(|r| !is_status(r, 200)),
        points: l["points"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| LatencyPointSpec {
                percentile: p["percentile"].as_f64().unwrap_or(0.0),
                delay: Human(Duration::from_millis(p["ms"].as_u64().unwrap_or(0))),
            })
            .collect(),
    });
    rule
}

/// Whether `r` is the plain reply with this status that the API fills in when none is given.
fn is_status(r: &ReplySpec, status: u16) -> bool {
    r.status == status && r.headers.is_empty() && r.body.is_empty() && r.delay.is_none() && !r.timeout
}

fn reply(r: &Value) -> ReplySpec {
    let delay = r["delayMs"].as_u64().unwrap_or(0);
    ReplySpec {
        status: r["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
        headers: headers(&r["headers"]),
        body: r["body"].as_str().unwrap_or_default().to_owned(),
        delay: (delay > 0).then(|| Human(Duration::from_millis(delay))),
        timeout: r["timeout"].as_bool().unwrap_or(false),
    }
}

fn headers(h: &Value) -> Vec<String> {
    h.as_array()
        .into_iter()
        .flatten()
        .map(|h| format!("{}: {}", h["name"].as_str().unwrap_or(""), h["value"].as_str().unwrap_or("")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_becomes_references_and_defaults_are_left_out() {
        let e = json!({
            "name": "stripe-prod", "handshakes": false, "response": null, "eventFields": null, "forwardingRules": [],
            "verification": { "provider": "stripe", "secrets": [{ "label": "current" }], "toleranceSeconds": 300,
                              "publicUrl": null, "generic": null },
        });
        let file = SpecFile { version: 1, team: None, endpoints: vec![endpoint_spec(&e)] };
        let text = spec::emit(&serde_json::to_value(&file).unwrap(), spec::KEY_ORDER);
        assert_eq!(
            text,
            "---\nversion: 1\nendpoints:\n  - name: stripe-prod\n    verification:\n      provider: stripe\n      \
             secrets:\n        - label: current\n          env: HOOKMETRY_SECRET_STRIPE_PROD_CURRENT\n      tolerance: 5m\n"
        );
        assert_eq!(
            needed_env(&file),
            vec![("HOOKMETRY_SECRET_STRIPE_PROD_CURRENT".into(), "stripe-prod".into(), "current".into())]
        );
    }
}
