//! `hookmetry replay <capture-id> --to URL [--resign]`: asks the server to send a capture again
//! and follows the delivery's attempts until it finishes (or `--no-wait`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::client::{Client, Connection};
use crate::delivery::{self, ALL_ATTEMPTS, Delivery};
use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture id (the last column of `hookmetry tail`), or its first 8 or more hex digits.
    pub capture_id: String,
    /// Where to send it: a port (`3000`), `localhost:3000/hook`, or a full http(s) URL; the
    /// capture's path and query are appended to this URL's path.
    #[arg(long = "to", value_name = "URL")]
    pub target: String,
    /// Replace the signature with one made now with the endpoint's current secret, so a receiver
    /// that checks timestamps accepts it.
    #[arg(long)]
    pub resign: bool,
    /// Retry as this provider does (its waits and number of retries) instead of on the server's
    /// backoff: `stripe`, `slack`, … (`hookmetry trigger --list-retry-profiles`).
    #[arg(long, value_name = "PROVIDER")]
    pub retry_like: Option<String>,
    /// Divide the provider's waits by this [default: its whole schedule in about a minute].
    #[arg(long, value_name = "N", requires = "retry_like")]
    pub retry_speed: Option<u32>,
    /// Print the delivery id and return at once instead of following its attempts.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following after this long (`120` seconds, `5m`); the server keeps trying.
    #[arg(long, default_value = "120", value_parser = delivery::parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,
    /// Print only the delivery as one JSON document (finished, or pending with `--no-wait`);
    /// progress goes to stderr.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: ReplayArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let target = crate::target::parse_local_target("--to", &args.target)?;
    let capture_id = crate::capture_list::resolve_id(&client, &args.capture_id).await?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Created {
        replay_capture: Delivery,
    }
    let fields = delivery::delivery_fields(ALL_ATTEMPTS);
    let q = format!("mutation($input: ReplayCaptureInput!) {{ replayCapture(input: $input) {{ {fields} }} }}");
    let input = json!({
        "captureId": capture_id, "target": target.as_str(), "resign": args.resign,
        "retryLike": args.retry_like, "retrySpeed": args.retry_speed,
    });
    let created = client.query::<Created>(&q, json!({ "input": input })).await?.replay_capture;
    match (args.no_wait, args.json) {
        (true, true) => return out.json_pretty(&created),
        (true, false) => return out.text(&format!("{}\n", created.id)),
        (false, true) => eprint!("{}", delivery::header_line(&created)),
        (false, false) => out.text(&delivery::header_line(&created))?,
    }
    let finished = delivery::follow(&client, created, args.timeout, &mut delivery::progress(out, args.json)).await?;
    delivery::finish(&finished, args.json, out)
}
