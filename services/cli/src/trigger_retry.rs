//! `hookmetry trigger … --retry-like <provider>`: sends the event again while the endpoint's
//! answer counts as a failure under the provider's retry profile, waiting the provider's delays
//! (divided by the speed) and sending what that provider sends on a retry: the same event, its
//! retry markers, and a fresh signature where the provider signs a timestamp.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_egress::{Url, http1};
use hookmetry_samples::retry::{self, RetryProfile};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::error::CliError;
use crate::output::Output;
use crate::trigger::Prepared;

/// The whole schedule is compressed into this by default, so a CI run finishes in about a minute
/// whatever the provider (the per-attempt timeouts are real time and come on top).
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_secs(60);
/// Above this a speed means nothing more: every wait is already under a millisecond.
const MAX_SPEED: f64 = 1e9;

/// A retry run as asked for and checked.
pub(crate) struct RetryPlan {
    pub profile: &'static RetryProfile,
    pub speed: f64,
    /// Retries after the first attempt, at most.
    pub max_retries: u32,
}

/// Checks `--retry-like`, `--retry-speed` and `--max-retries` for an event of `provider`.
///
/// A profile applies only to its own provider's events (Svix and Standard Webhooks are one
/// scheme): a retry carries the provider's markers and signature, which make no sense on another
/// provider's event.
pub(crate) fn plan(
    provider: &str,
    retry_like: &str,
    speed: Option<f64>,
    max_retries: Option<u32>,
) -> Result<RetryPlan, CliError> {
    let like = retry_like.trim();
    let profile = retry::profile(like).ok_or_else(|| {
        let known: Vec<_> = retry::profiles().iter().map(|p| p.id).collect();
        CliError::Usage(format!("`--retry-like` `{like}` has no retry profile; known: {}", known.join(", ")))
    })?;
    let same_scheme =
        |a: &str, b: &str| a == b || matches!((a, b), ("svix", "standard-webhooks") | ("standard-webhooks", "svix"));
    if !same_scheme(profile.id, provider) {
        return Err(CliError::Usage(format!(
            "`--retry-like {like}` retries as {} does, which only {} events are; send a {like} event, or use \
             `--retry-like {provider}`",
            profile.name, profile.name
        )));
    }
    let speed = match speed {
        None => retry::speed_to_fit(profile, DEFAULT_BUDGET),
        Some(s) if s.is_finite() && (1.0..=MAX_SPEED).contains(&s) => s,
        Some(s) => {
            return Err(CliError::Usage(format!(
                "`--retry-speed` {s} is not a speed: give a number from 1 (real time) to {MAX_SPEED:e}"
            )));
        }
    };
    let max_retries = max_retries.map_or(profile.max_retries(), |m| m.min(profile.max_retries()));
    Ok(RetryPlan { profile, speed, max_retries })
}

/// How a retry gets its signature.
pub(crate) enum Signer<'a> {
    /// The server signs with the endpoint's secret (`prepareTestEvent` with `resign`).
    Server { client: &'a Client, endpoint_id: &'a str },
    /// `--secret`.
    Local { secret: &'a str },
    /// The first attempt went unsigned; so do the retries.
    Unsigned,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    /// 1 for the first send.
    attempt: u32,
    sent_at: String,
    /// `None`: no answer within the profile's timeout (or no connection).
    status: Option<u16>,
    no_answer_reason: Option<String>,
    capture_id: Option<String>,
    /// The wait before it, after the attempt before failed, in milliseconds (scaled).
    waited_ms: Option<u64>,
    /// The provider's wait at full speed, in milliseconds.
    profile_wait_ms: Option<u64>,
    failed: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    provider: &'a str,
    event: &'a str,
    endpoint: &'a str,
    retry_like: &'a str,
    speed: f64,
    max_retries: u32,
    acknowledged: bool,
    attempts: Vec<Attempt>,
}

/// Sends `first`, then its retries per `plan`; `Ok` once an attempt is acknowledged, an error
/// naming what happened once the profile gives up.
pub(crate) async fn run(
    plan: &RetryPlan,
    first: Prepared,
    signer: Signer<'_>,
    endpoint: &str,
    json: bool,
    out: &mut Output,
) -> Result<(), CliError> {
    let p = plan.profile;
    let url = Url::parse(&first.url)
        .map_err(|e| CliError::Usage(format!("the capture URL `{}` is not a URL: {e}", first.url)))?;
    let http = crate::target::local_client(p.timeout.min(Duration::from_secs(10)), p.timeout, 64 * 1024)?;
    if !json {
        out.text(&format!(
            "retrying like {} ({}): timeout {}, up to {} retries, waits divided by {}\n",
            p.name,
            p.schedule,
            retry::human(p.timeout),
            plan.max_retries,
            speed_label(plan.speed)
        ))?;
    }
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut request = first;
    let mut last_status = None;
    for n in 0..=plan.max_retries {
        let mut waited = None;
        let mut profile_wait = None;
        if n > 0 {
            let full = p.delay_before(n).unwrap_or_default();
            let wait = retry::scaled(full, plan.speed);
            tokio::time::sleep(wait).await;
            request = again(&request, p, n, last_status, &signer).await?;
            waited = Some(wait.as_millis() as u64);
            profile_wait = Some(full.as_millis() as u64);
        }
        let sent_at = hookmetry_core::Timestamp::now();
        let (status, capture_id, no_answer) = send(&http, &url, &request).await?;
        let failed = p.is_failure(status);
        last_status = status;
        let attempt = Attempt {
            attempt: n + 1,
            sent_at: hookmetry_core::format_rfc3339(sent_at.micros()),
            status,
            no_answer_reason: no_answer,
            capture_id,
            waited_ms: waited,
            profile_wait_ms: profile_wait,
            failed,
        };
        if !json {
            out.text(&line(plan, &attempt))?;
        }
        attempts.push(attempt);
        if !failed {
            break;
        }
    }
    let acknowledged = attempts.last().and_then(|a| a.status).is_some_and(|s| (200..300).contains(&s));
    let ended_unretried = attempts.last().filter(|a| !a.failed).and_then(|a| a.status);
    let count = attempts.len();
    if json {
        out.json_pretty(&Run {
            provider: &request.provider,
            event: &request.event,
            endpoint,
            retry_like: p.id,
            speed: plan.speed,
            max_retries: plan.max_retries,
            acknowledged,
            attempts,
        })?;
    }
    if acknowledged {
        if !json {
            out.text(&format!("acknowledged on attempt {count}\n"))?;
        }
        return Ok(());
    }
    let why = if let Some(status) = ended_unretried {
        format!("{} does not retry an answer of {status}: the delivery ended there ({})", p.name, p.schedule)
    } else if p.max_retries() == 0 {
        format!("{} does not retry a failed delivery on its own: {}", p.name, p.schedule)
    } else if plan.max_retries < p.max_retries() {
        format!("stopped after {count} attempts (`--max-retries {}`)", plan.max_retries)
    } else {
        format!("{} gave up after {count} attempts", p.name)
    };
    Err(CliError::Unmet(why))
}

/// One line per attempt: `12:00:01.250 attempt 2: 500, capture …; next try in 0.9s (Stripe's 2nd
/// retry, 2h at full speed)`.
fn line(plan: &RetryPlan, a: &Attempt) -> String {
    let time = a.sent_at.get(11..23).unwrap_or(&a.sent_at);
    let answer = match (a.status, &a.no_answer_reason) {
        (Some(s), _) => s.to_string(),
        (None, Some(r)) => format!("no answer ({r})"),
        (None, None) => "no answer".into(),
    };
    let capture = a.capture_id.as_deref().map(|id| format!(", capture {id}")).unwrap_or_default();
    let next = if !a.failed {
        String::new()
    } else if a.attempt <= plan.max_retries {
        let full = plan.profile.delay_before(a.attempt).unwrap_or_default();
        format!(
            "; next try in {} ({}'s {} retry, {} at full speed)",
            retry::human(retry::scaled(full, plan.speed)),
            plan.profile.name,
            retry::ordinal(a.attempt),
            retry::human(full)
        )
    } else {
        "; no more tries".into()
    };
    format!("{time} attempt {}: {answer}{capture}{next}\n", a.attempt)
}

fn speed_label(speed: f64) -> String {
    if speed.fract() == 0.0 { format!("{speed:.0}") } else { format!("{speed:.1}") }
}

/// Retry `n` of `base`: the provider's retry markers added and, where it signs a timestamp,
/// signed afresh.
async fn again(
    base: &Prepared,
    p: &RetryProfile,
    n: u32,
    last: Option<u16>,
    signer: &Signer<'_>,
) -> Result<Prepared, CliError> {
    let mut next = base.clone();
    for (name, value) in p.retry_headers(n, last) {
        put_header(&mut next.headers, name, value);
    }
    if !p.resigns {
        return Ok(next);
    }
    match signer {
        Signer::Unsigned => Ok(next),
        Signer::Local { secret } => resign_locally(next, secret),
        Signer::Server { client, endpoint_id } => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                prepare_test_event: Prepared,
            }
            let q = "mutation($input: TestEventInput!) { prepareTestEvent(input: $input) { provider event url method \
                     headers { name value valueBase64 } bodyBase64 signed unsignedReason } }";
            let headers: Vec<_> = next.headers.iter().map(|h| json!({ "name": h.name, "value": h.value })).collect();
            let input = json!({
                "endpointId": endpoint_id, "provider": next.provider, "event": next.event,
                "resign": { "headers": headers, "bodyBase64": next.body_base64 },
            });
            let mut signed = client.query::<Data>(q, json!({ "input": input })).await?.prepare_test_event;
            // The URL stays the one the first attempt went to.
            signed.url = next.url;
            Ok(signed)
        }
    }
}

fn resign_locally(req: Prepared, secret: &str) -> Result<Prepared, CliError> {
    let body = B64.decode(&req.body_base64).map_err(|e| CliError::Usage(format!("the body is not base64: {e}")))?;
    let catalog = hookmetry_samples::catalog().iter().find(|p| p.id == req.provider);
    let (Some(provider), Some(event)) = (catalog, catalog.and_then(|p| p.events.iter().find(|e| e.name == req.event)))
    else {
        return Err(CliError::Usage(format!("cannot re-sign a `{}` `{}` event", req.provider, req.event)));
    };
    let sample = hookmetry_samples::SampleRequest {
        provider: provider.id,
        event: event.name,
        method: "POST",
        path: "/",
        headers: req.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
        body,
    };
    let now = hookmetry_core::Timestamp::now().micros().div_euclid(1_000_000);
    let signed = hookmetry_samples::sign(&sample, provider.id, secret, None, &req.url, now)
        .map_err(|e| CliError::Usage(format!("cannot sign as `{}`: {e}", req.provider)))?;
    Ok(Prepared {
        headers: signed
            .headers
            .iter()
            .map(|(n, v)| crate::model::Header { name: n.clone(), value: v.clone(), value_base64: B64.encode(v) })
            .collect(),
        body_base64: B64.encode(&signed.body),
        ..req
    })
}

/// Replaces the first header named `name` (case-insensitively) or appends it.
fn put_header(headers: &mut Vec<crate::model::Header>, name: String, value: String) {
    let h = crate::model::Header { value_base64: B64.encode(&value), name, value };
    match headers.iter().position(|x| x.name.eq_ignore_ascii_case(&h.name)) {
        Some(i) => headers[i] = h,
        None => headers.push(h),
    }
}

/// One attempt: the status (`None` and why, when nothing answered in time) and, from ingest's
/// default answer, the capture id.
async fn send(
    http: &http1::Client,
    url: &Url,
    r: &Prepared,
) -> Result<(Option<u16>, Option<String>, Option<String>), CliError> {
    let body =
        B64.decode(&r.body_base64).map_err(|e| CliError::Protocol { url: r.url.clone(), detail: e.to_string() })?;
    let headers: Vec<(String, Vec<u8>)> = r.headers.iter().map(|h| (h.name.clone(), h.bytes())).collect();
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let exchange = http.send(&http1::Request { method: &r.method, url, headers: &pairs, body: &body }).await;
    if let Some(f) = exchange.failure {
        return Ok((None, None, Some(f.message)));
    }
    let id = serde_json::from_slice::<serde_json::Value>(&exchange.body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    Ok((exchange.status, id, None))
}

/// `trigger --list-retry-profiles`.
pub(crate) fn list(json_out: bool, out: &mut Output) -> Result<(), CliError> {
    if json_out {
        let list: Vec<_> = retry::profiles()
            .iter()
            .map(|p| {
                json!({
                    "provider": p.id, "name": p.name, "source": p.source,
                    "timeoutMs": p.timeout.as_millis() as u64,
                    "failure": match p.failure {
                        retry::Failure::NotSuccess => "anything but 2xx in time",
                        retry::Failure::NoAnswer => "no answer in time",
                    },
                    "maxRetries": p.max_retries(),
                    "delaysMs": p.delays().iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>(),
                    "approximate": p.approximate, "schedule": p.schedule, "markers": p.markers,
                    "resigns": p.resigns,
                })
            })
            .collect();
        return out.json_pretty(&list);
    }
    for p in retry::profiles() {
        out.text(&format!(
            "{} ({}): timeout {}, {}{}\n  retries: {}\n  {}\n",
            p.id,
            p.name,
            retry::human(p.timeout),
            match p.failure {
                retry::Failure::NotSuccess => "retries anything but 2xx",
                retry::Failure::NoAnswer => "retries only when nothing answers",
            },
            if p.approximate { " (schedule approximated)" } else { "" },
            p.schedule,
            p.source
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_applies_to_its_own_events() {
        assert_eq!(plan("stripe", "stripe", None, None).unwrap().profile.id, "stripe");
        assert_eq!(plan("standard-webhooks", "svix", None, None).unwrap().profile.id, "svix");
        let e = plan("shopify", "stripe", None, None).err().unwrap().to_string();
        assert!(e.contains("only Stripe events are") && e.contains("`--retry-like shopify`"), "{e}");
        let e = plan("stripe", "paypal", None, None).err().unwrap().to_string();
        assert!(e.contains("`paypal` has no retry profile") && e.contains("stripe, github"), "{e}");
    }

    #[test]
    fn speed_and_retries_are_checked_and_defaulted() {
        let p = plan("slack", "slack", None, None).unwrap();
        assert_eq!(p.speed, 6.0, "Slack's 6 minutes into 60 s");
        assert_eq!(p.max_retries, 3);
        assert_eq!(plan("slack", "slack", Some(100.0), Some(1)).unwrap().max_retries, 1);
        assert_eq!(plan("slack", "slack", None, Some(99)).unwrap().max_retries, 3, "no more than the provider");
        for bad in [0.5, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e10] {
            let e = plan("slack", "slack", Some(bad), None).err().unwrap().to_string();
            assert!(e.contains("`--retry-speed`"), "{bad}: {e}");
        }
    }
}
