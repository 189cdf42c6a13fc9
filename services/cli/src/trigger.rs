//! `hookmetry trigger <provider> <event> --to <endpoint>`: sends a realistic sample event of a
//! provider to an endpoint's capture URL, signed with the endpoint's current secret (by the
//! server, which alone knows it) or with `--secret`, so it travels the whole pipeline and is
//! judged like a real one.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_egress::Url;
use hookmetry_egress::http1;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{Client, Connection};
use crate::endpoint;
use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// Provider id: stripe, github, shopify, slack, standard-webhooks, twilio, paddle, square, linear.
    #[arg(required_unless_present_any = ["list", "list_retry_profiles"])]
    pub provider: Option<String>,
    /// Event type, e.g. `payment_intent.succeeded` (`--list` shows them).
    #[arg(required_unless_present_any = ["list", "list_retry_profiles"])]
    pub event: Option<String>,
    /// Endpoint id or name to send it to.
    #[arg(long = "to", value_name = "ENDPOINT", required_unless_present_any = ["list", "list_retry_profiles"])]
    pub to: Option<String>,
    /// Team whose names `--to` is looked up in [default: the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// Change the sample: `data.object.amount=500` (dotted JSON path; the value is JSON when it
    /// parses, else a string) or a form field for form bodies. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Sign with this secret instead of the endpoint's current one. Prefer HOOKMETRY_SIGN_SECRET.
    #[arg(long, env = "HOOKMETRY_SIGN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Do not wait for the capture's signature verdict.
    #[arg(long)]
    pub no_wait: bool,
    /// List the providers and events and exit (no server needed).
    #[arg(long)]
    pub list: bool,
    /// While the endpoint's answer is a failure to this provider (an error status, or no answer
    /// within its timeout), send the event again as it would: its delays, the same event, its
    /// retry markers, a fresh signature where it signs a time. Exit 1 if it gives up.
    #[arg(long, value_name = "PROVIDER")]
    pub retry_like: Option<String>,
    /// Divide the provider's waits by this [default: the whole schedule in about 60 s].
    #[arg(long, value_name = "N", requires = "retry_like")]
    pub retry_speed: Option<f64>,
    /// Stop after this many retries, fewer than the provider's [default: the provider's].
    #[arg(long, value_name = "N", requires = "retry_like")]
    pub max_retries: Option<u32>,
    /// List the providers' retry profiles (schedule, timeout, markers, source) and exit.
    #[arg(long)]
    pub list_retry_profiles: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How long `trigger` waits for the processor to judge the capture.
const VERDICT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Sent {
    provider: String,
    event: String,
    endpoint: String,
    url: String,
    status: Option<u16>,
    capture_id: Option<String>,
    signed: bool,
    unsigned_reason: Option<String>,
    verdict: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Prepared {
    pub provider: String,
    pub event: String,
    pub url: String,
    pub method: String,
    pub headers: Vec<crate::model::Header>,
    pub body_base64: String,
    pub signed: bool,
    pub unsigned_reason: Option<String>,
}

pub(crate) async fn run(args: TriggerArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    if args.list_retry_profiles {
        return crate::trigger_retry::list(args.json, out);
    }
    if args.list {
        return list(&args, out);
    }
    let (provider, event, to) = match (&args.provider, &args.event, &args.to) {
        (Some(p), Some(e), Some(t)) => (p.trim(), e.trim(), t.as_str()),
        _ => return Err(CliError::Usage("`trigger` takes a provider, an event and `--to <endpoint>`".into())),
    };
    let plan = match &args.retry_like {
        Some(like) => Some(crate::trigger_retry::plan(provider, like, args.retry_speed, args.max_retries)?),
        None => None,
    };
    let client = Client::new(conn)?;
    let ep = endpoint::resolve(&client, to, args.team.as_deref()).await?;
    let request = match &args.secret {
        Some(secret) => sign_locally(provider, event, &args.set, secret, &ep.url)?,
        None => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                prepare_test_event: Prepared,
            }
            let q = "mutation($input: TestEventInput!) { prepareTestEvent(input: $input) { provider event url method \
                     headers { name value valueBase64 } bodyBase64 signed unsignedReason } }";
            let input = json!({ "endpointId": ep.id, "provider": provider, "event": event, "set": args.set });
            client.query::<Data>(q, json!({ "input": input })).await?.prepare_test_event
        }
    };
    if !request.signed && !args.json {
        eprintln!(
            "note: sent unsigned: {}; `--secret` signs it",
            request.unsigned_reason.as_deref().unwrap_or("no secret")
        );
    }
    if let Some(plan) = &plan {
        use crate::trigger_retry::Signer;
        let signer = match (&args.secret, request.signed) {
            (Some(secret), _) => Signer::Local { secret },
            (None, true) => Signer::Server { client: &client, endpoint_id: &ep.id },
            (None, false) => Signer::Unsigned,
        };
        return crate::trigger_retry::run(plan, request, signer, &ep.name, args.json, out).await;
    }
    let (status, capture_id) = send(&request).await?;
    let mut sent = Sent {
        provider: request.provider.clone(),
        event: request.event.clone(),
        endpoint: ep.name.clone(),
        url: request.url.clone(),
        status,
        capture_id,
        signed: request.signed,
        unsigned_reason: request.unsigned_reason.clone(),
        verdict: None,
        reason: None,
    };
    if let (Some(id), false) = (&sent.capture_id, args.no_wait)
        && let Some((verdict, reason)) = verdict(&client, id).await?
    {
        sent.verdict = Some(verdict);
        sent.reason = Some(reason);
    }
    if args.json {
        return out.json_pretty(&sent);
    }
    let status = sent.status.map_or("no answer".to_string(), |s| s.to_string());
    out.text(&format!(
        "sent {} {} to `{}`: {status}{}\n",
        sent.provider,
        sent.event,
        sent.endpoint,
        sent.capture_id.as_deref().map(|id| format!(", capture {id}")).unwrap_or_default()
    ))?;
    match (&sent.verdict, &sent.reason) {
        (Some(v), Some(r)) => out.text(&format!("verdict: {} ({r})\n", verdict_label(v))),
        _ if sent.capture_id.is_some() && !args.no_wait => {
            out.text("verdict: not yet judged (see `hookmetry capture show`)\n")
        }
        _ => Ok(()),
    }
}

fn verdict_label(v: &str) -> String {
    hookmetry_core::Verdict::parse(v).map_or_else(|| v.to_lowercase(), |v| v.label().to_owned())
}

fn list(args: &TriggerArgs, out: &mut Output) -> Result<(), CliError> {
    let catalog = hookmetry_samples::catalog();
    let wanted = |id: &str| args.provider.as_deref().is_none_or(|p| p == id);
    if args.json {
        let list: Vec<_> = catalog
            .iter()
            .filter(|p| wanted(p.id))
            .map(|p| {
                json!({
                    "provider": p.id, "name": p.name,
                    "events": p.events.iter().map(|e| json!({ "name": e.name, "description": e.description })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return out.json_pretty(&list);
    }
    for p in catalog.iter().filter(|p| wanted(p.id)) {
        out.text(&format!("{} ({})\n", p.id, p.name))?;
        for e in p.events {
            out.text(&format!("  {:<34} {}\n", e.name, e.description))?;
        }
    }
    Ok(())
}

fn sign_locally(
    provider: &str,
    event: &str,
    set: &[String],
    secret: &str,
    endpoint_url: &str,
) -> Result<Prepared, CliError> {
    let mut sets = Vec::new();
    for s in set {
        let (p, v) =
            s.split_once('=').ok_or_else(|| CliError::Usage(format!("`--set` takes PATH=VALUE, got `{s}`")))?;
        sets.push((p.trim().to_owned(), v.to_owned()));
    }
    let now = hookmetry_core::Timestamp::now().micros().div_euclid(1_000_000);
    let sample = hookmetry_samples::build(provider, event, &sets, now).map_err(|e| CliError::Usage(e.to_string()))?;
    let url = format!("{}{}", endpoint_url.trim_end_matches('/'), if sample.path == "/" { "" } else { sample.path });
    let signed = hookmetry_samples::sign(&sample, provider, secret, None, &url, now)
        .map_err(|e| CliError::Usage(format!("cannot sign as `{provider}`: {e}")))?;
    Ok(Prepared {
        provider: signed.provider.to_owned(),
        event: signed.event.to_owned(),
        url,
        method: signed.method.to_owned(),
        headers: signed
            .headers
            .iter()
            .map(|(n, v)| crate::model::Header { name: n.clone(), value: v.clone(), value_base64: B64.encode(v) })
            .collect(),
        body_base64: B64.encode(&signed.body),
        signed: true,
        unsigned_reason: None,
    })
}

/// Sends the event to the capture URL with its headers in order; the status and, from ingest's
/// default answer, the capture id.
async fn send(r: &Prepared) -> Result<(Option<u16>, Option<String>), CliError> {
    let url =
        Url::parse(&r.url).map_err(|e| CliError::Usage(format!("the capture URL `{}` is not a URL: {e}", r.url)))?;
    // The capture URL the server gave: on this machine or a network the user reaches.
    let http = crate::target::local_client(Duration::from_secs(10), Duration::from_secs(30), 64 * 1024)?;
    let body =
        B64.decode(&r.body_base64).map_err(|e| CliError::Protocol { url: r.url.clone(), detail: e.to_string() })?;
    let headers: Vec<(String, Vec<u8>)> = r.headers.iter().map(|h| (h.name.clone(), h.bytes())).collect();
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let exchange = http.send(&http1::Request { method: &r.method, url: &url, headers: &pairs, body: &body }).await;
    if let Some(f) = exchange.failure {
        return Err(CliError::Unreachable { url: r.url.clone(), reason: f.message });
    }
    let id = serde_json::from_slice::<serde_json::Value>(&exchange.body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    Ok((exchange.status, id))
}

/// The capture's verdict and reason once the processor stored it, within [`VERDICT_WAIT`].
async fn verdict(client: &Client, capture_id: &str) -> Result<Option<(String, String)>, CliError> {
    #[derive(Deserialize)]
    struct Data {
        capture: Option<C>,
    }
    #[derive(Deserialize)]
    struct C {
        verification: Option<V>,
    }
    #[derive(Deserialize)]
    struct V {
        verdict: String,
        reason: String,
    }
    let q = "query($id: ID!) { capture(id: $id) { verification { verdict reason } } }";
    let deadline = tokio::time::Instant::now() + VERDICT_WAIT;
    while tokio::time::Instant::now() < deadline {
        let data: Data = client.query(q, json!({ "id": capture_id })).await?;
        if let Some(v) = data.capture.and_then(|c| c.verification) {
            return Ok(Some((v.verdict, v.reason)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}
