//! `hookmetry replay <capture-id> --to URL [--resign]`: asks the server to send a capture again
//! and follows the delivery's attempts until it finishes (or `--no-wait`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::client::{Client, Connection};
use crate::error::CliError;
use crate::format;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture id (the last column of `hookmetry tail`).
    pub capture_id: String,
    /// Where to send it; the capture's path and query are appended to this URL's path.
    #[arg(long = "to", value_name = "URL")]
    pub target: String,
    /// Replace the signature with one made now with the endpoint's current secret, so a receiver
    /// that checks timestamps accepts it.
    #[arg(long)]
    pub resign: bool,
    /// Print the delivery id and return at once instead of following its attempts.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following after this many seconds (the server keeps retrying).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    /// Print the finished delivery as JSON.
    #[arg(long)]
    pub json: bool,
}

const DELIVERY_FIELDS: &str = "id state target attemptCount maxAttempts nextAttemptAt resigned \
    attempts { number responseStatus latencyMs error errorMessage responseTruncated responseBodyText }";

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    id: String,
    state: String,
    target: String,
    attempt_count: u32,
    max_attempts: u32,
    next_attempt_at: Option<String>,
    resigned: bool,
    attempts: Vec<Attempt>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    number: u32,
    response_status: Option<u16>,
    latency_ms: u64,
    error: Option<String>,
    error_message: Option<String>,
    response_truncated: bool,
    response_body_text: Option<String>,
}

pub(crate) async fn run(args: ReplayArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Created {
        replay_capture: Delivery,
    }
    let q = format!("mutation($input: ReplayCaptureInput!) {{ replayCapture(input: $input) {{ {DELIVERY_FIELDS} }} }}");
    let input = json!({ "captureId": args.capture_id.trim(), "target": args.target.trim(), "resign": args.resign });
    let mut delivery = client.query::<Created>(&q, json!({ "input": input })).await?.replay_capture;
    if args.no_wait {
        return out.text(&format!("{}\n", delivery.id));
    }
    out.text(&format!(
        "delivery {} to {}{}\n",
        delivery.id,
        format::escape_text(&delivery.target, false),
        if delivery.resigned { " (re-signed)" } else { "" }
    ))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut shown = 0;
    loop {
        for a in delivery.attempts.iter().skip(shown) {
            out.text(&attempt_line(a))?;
        }
        shown = delivery.attempts.len();
        if delivery.state != "PENDING" {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Usage(format!(
                "delivery {} is still pending after {} s (next attempt {}); the server keeps trying: \
                 `hookmetry replay` again later or query `delivery(id)`",
                delivery.id,
                args.timeout,
                delivery.next_attempt_at.as_deref().unwrap_or("soon")
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        delivery = fetch(&client, &delivery.id).await?;
    }
    if args.json {
        out.json_pretty(&delivery)?;
    }
    match delivery.state.as_str() {
        "SUCCEEDED" if args.json => Ok(()),
        "SUCCEEDED" => out.text(&format!("delivered after {} attempt(s)\n", delivery.attempt_count)),
        other => Err(CliError::Usage(format!(
            "delivery {} ended {} after {} of {} attempt(s)",
            delivery.id,
            other.to_ascii_lowercase().replace('_', "-"),
            delivery.attempt_count,
            delivery.max_attempts
        ))),
    }
}

async fn fetch(client: &Client, id: &str) -> Result<Delivery, CliError> {
    #[derive(Deserialize)]
    struct Data {
        delivery: Option<Delivery>,
    }
    let q = format!("query($id: ID!) {{ delivery(id: $id) {{ {DELIVERY_FIELDS} }} }}");
    client
        .query::<Data>(&q, json!({ "id": id }))
        .await?
        .delivery
        .ok_or_else(|| CliError::NotFound(format!("delivery {id} not found")))
}

fn attempt_line(a: &Attempt) -> String {
    let outcome = match (a.response_status, &a.error_message) {
        (Some(status), None) => format!("{status}"),
        (Some(status), Some(m)) => format!("{status} ({})", format::escape_text(m, false)),
        (None, Some(m)) => format::escape_text(m, false),
        (None, None) => "no answer".to_owned(),
    };
    let truncated = if a.response_truncated { " [response truncated]" } else { "" };
    format!("attempt {}: {outcome} in {} ms{truncated}\n", a.number, a.latency_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: Option<u16>, message: Option<&str>) -> Attempt {
        Attempt {
            number: 2,
            response_status: status,
            latency_ms: 31,
            error: message.map(|_| "STATUS".into()),
            error_message: message.map(str::to_owned),
            response_truncated: false,
            response_body_text: None,
        }
    }

    #[test]
    fn attempt_lines_say_status_or_why() {
        assert_eq!(attempt_line(&attempt(Some(200), None)), "attempt 2: 200 in 31 ms\n");
        assert_eq!(
            attempt_line(&attempt(Some(503), Some("answered 503 Service Unavailable"))),
            "attempt 2: 503 (answered 503 Service Unavailable) in 31 ms\n"
        );
        assert_eq!(
            attempt_line(&attempt(None, Some("could not connect to 127.0.0.1:9"))),
            "attempt 2: could not connect to 127.0.0.1:9 in 31 ms\n"
        );
    }
}
