//! `hookmetry deliveries <capture>` and `hookmetry delivery show|follow|cancel <id>`; the follow
//! loop `replay` uses too.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{Client, Connection};
use crate::error::CliError;
use crate::format;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    /// Capture id, or its first 8 or more hex digits.
    pub capture_id: String,
    /// At most this many, the newest (1 to 100).
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    pub limit: u32,
    /// Print a JSON array of the deliveries, each with its last attempt.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DeliveryArgs {
    #[command(subcommand)]
    pub command: DeliveryCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DeliveryCommand {
    /// Show a delivery: state, target, origin and every attempt.
    Show {
        /// Delivery id (`hookmetry deliveries <capture>` lists them).
        id: String,
        /// Print the delivery as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a delivery's attempts as they happen until it finishes.
    Follow {
        /// Delivery id.
        id: String,
        /// Give up following after this long (`90s`, `10m`); the server keeps trying.
        #[arg(long, default_value = "2m", value_parser = parse_timeout, value_name = "DURATION")]
        timeout: Duration,
        /// Print only the finished delivery, as JSON (attempts go to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Stop a pending delivery: no further attempt is made.
    Cancel {
        /// Delivery id.
        id: String,
        /// Print the delivery as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn parse_timeout(raw: &str) -> Result<Duration, String> {
    // A bare number is seconds, as `replay --timeout 120` always took.
    if let Ok(secs) = raw.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(raw.trim()).map_err(|e| format!("`{raw}` is not a duration like `90s` or `5m` ({e})"))
}

/// Selection for [`Delivery`] with its latest `attempts` attempts (a delivery makes at most
/// `replay.max_attempts`, far fewer than the API's 100 a query may ask for).
pub(crate) fn delivery_fields(attempts: u32) -> String {
    format!(
        "id state captureId endpointId origin target method edited resigned attemptCount maxAttempts nextAttemptAt \
         createdAt updatedAt attempts(last: {attempts}) {{ number startedAt responseStatus latencyMs error errorMessage \
         responseTruncated responseBodyText }}"
    )
}

/// One delivery with every attempt.
pub(crate) const ALL_ATTEMPTS: u32 = 100;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Delivery {
    pub id: String,
    pub state: String,
    pub capture_id: String,
    pub endpoint_id: String,
    pub origin: String,
    pub target: String,
    pub method: String,
    pub edited: bool,
    pub resigned: bool,
    pub attempt_count: u32,
    pub max_attempts: u32,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attempt {
    pub number: u32,
    pub started_at: String,
    pub response_status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub response_truncated: bool,
    pub response_body_text: Option<String>,
}

impl Delivery {
    pub fn is_pending(&self) -> bool {
        self.state == "PENDING"
    }
}

pub(crate) async fn deliveries(args: DeliveriesArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let id = crate::capture_list::resolve_id(&client, &args.capture_id).await?;
    #[derive(Deserialize)]
    struct Capture {
        deliveries: Vec<Delivery>,
    }
    #[derive(Deserialize)]
    struct Data {
        capture: Option<Capture>,
    }
    // Only the last attempt of each: a list of every attempt of up to 100 deliveries is more than
    // one query may ask for; `delivery show` has them all.
    let fields = delivery_fields(1);
    let q = format!("query($id: ID!, $n: Int) {{ capture(id: $id) {{ deliveries(first: $n) {{ {fields} }} }} }}");
    let list = client
        .query::<Data>(&q, json!({ "id": id, "n": args.limit }))
        .await?
        .capture
        .ok_or_else(|| CliError::NotFound(format!("capture {id} not found")))?
        .deliveries;
    if args.json {
        return out.json_pretty(&list);
    }
    if list.is_empty() {
        eprintln!("capture {id} has no deliveries; `hookmetry replay {id} --to <URL>` makes one");
        return Ok(());
    }
    out.text(&delivery_table(&list))
}

pub(crate) async fn run(args: DeliveryArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    match args.command {
        DeliveryCommand::Show { id, json } => {
            let d = fetch(&client, id.trim()).await?;
            if json { out.json_pretty(&d) } else { out.text(&render(&d)) }
        }
        DeliveryCommand::Follow { id, timeout, json } => {
            let d = fetch(&client, id.trim()).await?;
            if !json {
                out.text(&header_line(&d))?;
            }
            let d = follow(&client, d, timeout, &mut progress(out, json)).await?;
            finish(&d, json, out)
        }
        DeliveryCommand::Cancel { id, json } => {
            #[derive(Deserialize)]
            struct Payload {
                delivery: Delivery,
                cancelled: bool,
            }
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                cancel_delivery: Payload,
            }
            let fields = delivery_fields(ALL_ATTEMPTS);
            let q = format!("mutation($id: ID!) {{ cancelDelivery(id: $id) {{ cancelled delivery {{ {fields} }} }} }}");
            let p = client.query::<Data>(&q, json!({ "id": id.trim() })).await?.cancel_delivery;
            let d = p.delivery;
            if json {
                if !p.cancelled {
                    eprintln!("note: delivery {} had already finished ({})", d.id, state_word(&d.state));
                }
                return out.json_pretty(&d);
            }
            if p.cancelled {
                out.text(&format!(
                    "cancelled delivery {} after {} of {} attempt(s)\n",
                    d.id, d.attempt_count, d.max_attempts
                ))
            } else {
                out.text(&format!("delivery {} had already finished: {}\n", d.id, state_word(&d.state)))
            }
        }
    }
}

/// Where attempt lines go: stdout, or stderr when stdout is kept for the JSON document.
pub(crate) fn progress(out: &mut Output, json: bool) -> impl FnMut(&str) -> Result<(), CliError> + '_ {
    move |line: &str| {
        if json {
            eprint!("{line}");
            Ok(())
        } else {
            out.text(line)
        }
    }
}

/// `delivery … to … (re-signed)`, the line before the attempts.
pub(crate) fn header_line(d: &Delivery) -> String {
    format!(
        "delivery {} to {}{}\n",
        d.id,
        format::escape_text(&d.target, false),
        if d.resigned { " (re-signed)" } else { "" }
    )
}

/// Prints `d`'s attempts through `emit` as they happen (those already made first) until it is no
/// longer pending, and returns it finished. After `timeout` it stops with the sentence saying
/// the delivery goes on and how to follow or cancel it.
pub(crate) async fn follow(
    client: &Client,
    mut d: Delivery,
    timeout: Duration,
    emit: &mut dyn FnMut(&str) -> Result<(), CliError>,
) -> Result<Delivery, CliError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut shown = 0;
    loop {
        // Numbers, not positions: the selection holds only the latest attempts.
        for a in d.attempts.iter().filter(|a| a.number > shown) {
            emit(&attempt_line(a))?;
        }
        shown = d.attempts.iter().map(|a| a.number).max().unwrap_or(shown);
        if !d.is_pending() {
            return Ok(d);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Usage(still_going(&d, timeout)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        d = fetch(client, &d.id).await?;
    }
}

fn still_going(d: &Delivery, waited: Duration) -> String {
    let next = d.next_attempt_at.as_deref().map(|t| format!(", next at {}", format::date_time(t))).unwrap_or_default();
    format!(
        "delivery {id} is still going after {} ({} of {} attempts made{next}); the server keeps trying: \
         `hookmetry delivery follow {id}` watches it, `hookmetry delivery cancel {id}` stops it",
        humantime::format_duration(waited),
        d.attempt_count,
        d.max_attempts,
        id = d.id,
    )
}

/// Ends a follow: the JSON document, or a last line; a delivery that did not succeed is an error.
pub(crate) fn finish(d: &Delivery, json: bool, out: &mut Output) -> Result<(), CliError> {
    if json {
        out.json_pretty(d)?;
    } else if d.state == "SUCCEEDED" {
        out.text(&format!("delivered after {} attempt(s)\n", d.attempt_count))?;
    }
    if d.state == "SUCCEEDED" {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "delivery {} ended {} after {} of {} attempt(s)",
        d.id,
        state_word(&d.state),
        d.attempt_count,
        d.max_attempts
    )))
}

/// `DEAD_LETTERED` → `dead-lettered`.
fn state_word(state: &str) -> String {
    state.to_ascii_lowercase().replace('_', "-")
}

pub(crate) async fn fetch(client: &Client, id: &str) -> Result<Delivery, CliError> {
    #[derive(Deserialize)]
    struct Data {
        delivery: Option<Delivery>,
    }
    let fields = delivery_fields(ALL_ATTEMPTS);
    let q = format!("query($id: ID!) {{ delivery(id: $id) {{ {fields} }} }}");
    client
        .query::<Data>(&q, json!({ "id": id }))
        .await?
        .delivery
        .ok_or_else(|| CliError::NotFound(format!("delivery {id} not found")))
}

pub(crate) fn attempt_line(a: &Attempt) -> String {
    let outcome = match (a.response_status, &a.error_message) {
        (Some(status), None) => format!("{status}"),
        (Some(status), Some(m)) => format!("{status} ({})", format::escape_text(m, false)),
        (None, Some(m)) => format::escape_text(m, false),
        (None, None) => "no answer".to_owned(),
    };
    let truncated = if a.response_truncated { " [response truncated]" } else { "" };
    format!("attempt {}: {outcome} in {} ms{truncated}\n", a.number, a.latency_ms)
}

/// One row per delivery: id, state, attempts, origin, created, target.
pub(crate) fn delivery_table(list: &[Delivery]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                d.id.clone(),
                state_word(&d.state),
                format!("{}/{}", d.attempt_count, d.max_attempts),
                last_outcome(d),
                format::escape_text(&d.origin, false),
                format::date_time(&d.created_at),
                format::escape_text(&d.target, false),
            ]
        })
        .collect();
    format::table(&["ID", "STATE", "ATTEMPTS", "LAST", "ORIGIN", "CREATED (UTC)", "TARGET"], &rows)
}

/// The last attempt's status or error kind, `-` before the first.
fn last_outcome(d: &Delivery) -> String {
    match d.attempts.last() {
        None => "-".into(),
        Some(a) => match (a.response_status, &a.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => e.to_ascii_lowercase().replace('_', "-"),
            (None, None) => "no answer".into(),
        },
    }
}

/// `delivery show`'s page.
pub(crate) fn render(d: &Delivery) -> String {
    let mut s = header_line(d);
    let mut flags = Vec::new();
    if d.edited {
        flags.push("edited");
    }
    if d.resigned {
        flags.push("re-signed");
    }
    let rows = [
        ("state", state_word(&d.state)),
        ("attempts", format!("{} of {}", d.attempt_count, d.max_attempts)),
        ("next attempt", d.next_attempt_at.as_deref().map(format::date_time).unwrap_or_else(|| "-".into())),
        ("origin", format::escape_text(&d.origin, false)),
        ("method", format::escape_text(&d.method, false)),
        ("request", if flags.is_empty() { "as captured".into() } else { flags.join(", ") }),
        ("capture id", d.capture_id.clone()),
        ("endpoint id", d.endpoint_id.clone()),
        ("created", format::date_time(&d.created_at)),
        ("updated", format::date_time(&d.updated_at)),
    ];
    for (label, value) in rows {
        let _ = writeln!(s, "  {label:<13} {value}");
    }
    if !d.attempts.is_empty() {
        s.push('\n');
    }
    for a in &d.attempts {
        s.push_str(&attempt_line(a));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: Option<u16>, message: Option<&str>) -> Attempt {
        Attempt {
            number: 2,
            started_at: "2026-11-27T06:55:08.123456Z".into(),
            response_status: status,
            latency_ms: 31,
            error: message.map(|_| "CONNECT".into()),
            error_message: message.map(str::to_owned),
            response_truncated: false,
            response_body_text: None,
        }
    }

    fn delivery(state: &str, attempts: Vec<Attempt>) -> Delivery {
        Delivery {
            id: "d1".into(),
            state: state.into(),
            capture_id: "c1".into(),
            endpoint_id: "e1".into(),
            origin: "manual".into(),
            target: "http://localhost:3000/hook".into(),
            method: "POST".into(),
            edited: false,
            resigned: true,
            attempt_count: attempts.len() as u32,
            max_attempts: 5,
            next_attempt_at: Some("2026-11-27T06:56:00.000000Z".into()),
            created_at: "2026-11-27T06:55:08.123456Z".into(),
            updated_at: "2026-11-27T06:55:09.123456Z".into(),
            attempts,
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

    #[test]
    fn a_follow_that_times_out_says_the_delivery_goes_on() {
        let e = still_going(&delivery("PENDING", vec![attempt(None, Some("refused"))]), Duration::from_secs(120));
        assert_eq!(
            e,
            "delivery d1 is still going after 2m (1 of 5 attempts made, next at 2026-11-27 06:56:00); the server \
             keeps trying: `hookmetry delivery follow d1` watches it, `hookmetry delivery cancel d1` stops it"
        );
        assert!(!e.contains("replay"), "{e}");
    }

    #[test]
    fn tables_and_pages() {
        let t = delivery_table(&[delivery("DEAD_LETTERED", vec![attempt(None, Some("refused"))])]);
        assert_eq!(
            t,
            "ID  STATE          ATTEMPTS  LAST     ORIGIN  CREATED (UTC)        TARGET\n\
             d1  dead-lettered  1/5       connect  manual  2026-11-27 06:55:08  http://localhost:3000/hook\n"
        );
        let page = render(&delivery("SUCCEEDED", vec![attempt(Some(200), None)]));
        assert!(
            page.starts_with("delivery d1 to http://localhost:3000/hook (re-signed)\n  state         succeeded\n"),
            "{page}"
        );
        assert!(page.ends_with("\nattempt 2: 200 in 31 ms\n"), "{page}");
    }

    #[test]
    fn timeouts_are_seconds_or_durations() {
        assert_eq!(parse_timeout("120").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_timeout("soon").is_err());
    }
}
