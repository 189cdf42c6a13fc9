//! `hookmetry assert <capture-id> [--verdict V] [--status N] [--event-type T] [--match EXPR]…
//! [--delivered N]`: checks one capture for a script. Each check prints `ok` or `FAILED` with
//! what was expected and what was found; the exit code is 1 when any failed.

use std::time::Duration;

use hookmetry_core::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{Client, Connection};
use crate::error::CliError;
use crate::format;
use crate::matching::{self, Failure, Matcher};
use crate::model::{CAPTURE_FIELDS, Capture};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct AssertArgs {
    /// Capture id (the last column of `hookmetry tail` and `await`), or its first 8+ hex digits.
    pub id: String,
    /// The signature verdict: valid, invalid-signature, missing-signature, outside-tolerance,
    /// malformed, not-checked.
    #[arg(long, value_parser = parse_verdict)]
    pub verdict: Option<Verdict>,
    /// The HTTP status ingest answered the sender with.
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..=599))]
    pub status: Option<u16>,
    /// The provider's event type, exactly or with `*` (`charge.*`).
    #[arg(long)]
    pub event_type: Option<String>,
    /// An expression the capture must pass, as `hookmetry await --match` takes; repeatable.
    #[arg(long = "match", value_name = "EXPR", value_parser = matching::parse_arg)]
    pub matches: Vec<Matcher>,
    /// The response status of the latest attempt of the capture's newest delivery (a replay,
    /// forwarding rule or listener).
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..=599))]
    pub delivered: Option<u16>,
    /// How long to wait for the capture to be stored and judged, and for a delivery to answer.
    #[arg(long, default_value = "10s", value_parser = parse_wait)]
    pub wait: Duration,
    /// Print only a JSON object: the capture id, whether all passed, and every check.
    #[arg(long)]
    pub json: bool,
}

fn parse_verdict(raw: &str) -> Result<Verdict, String> {
    Verdict::parse_loose(raw).ok_or_else(|| {
        let known: Vec<String> = Verdict::ALL.iter().map(|v| v.label().replace(' ', "-")).collect();
        format!("expected one of {}", known.join(", "))
    })
}

fn parse_wait(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim()).map_err(|e| format!("expected a duration such as `10s` ({e})"))
}

/// What a capture is asked for beyond [`CAPTURE_FIELDS`]: the answer ingest gave and the
/// newest delivery's latest attempt.
const ASSERT_FIELDS: &str = "deliveries(first: 1) { state attempts(last: 1) { responseStatus errorMessage } }";

const POLL_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Deserialize)]
struct Checked {
    #[serde(flatten)]
    capture: Capture,
    #[serde(default)]
    deliveries: Vec<DeliveryState>,
}

#[derive(Debug, Deserialize)]
struct DeliveryState {
    state: String,
    attempts: Vec<AttemptState>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptState {
    response_status: Option<u16>,
    error_message: Option<String>,
}

/// One check's result, as printed and as `--json` has it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Check {
    check: String,
    passed: bool,
    expected: String,
    got: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    capture_id: &'a str,
    passed: bool,
    checks: &'a [Check],
}

pub(crate) async fn run(args: AssertArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let id = crate::capture_list::resolve_id(&client, &args.id).await?;
    let checked = fetch_settled(&client, &id, &args).await?;
    let checks = checks(&args, &checked);
    let failed = checks.iter().filter(|c| !c.passed).count();
    if args.json {
        out.json_pretty(&Report { capture_id: &id, passed: failed == 0, checks: &checks })?;
    } else {
        for c in &checks {
            out.text(&format!("{}\n", line(c)))?;
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError::Unmet(format!("{n} of {} checks failed on capture {id}", checks.len()))),
    }
}

/// `ok      verdict: valid` or `FAILED  verdict: expected valid, got invalid signature`.
pub(crate) fn line(c: &Check) -> String {
    if c.passed {
        format!("ok      {}: {}", c.check, c.got)
    } else {
        format!("FAILED  {}: expected {}, got {}", c.check, c.expected, c.got)
    }
}

/// The capture once it is stored and, when a check needs it, judged and delivered; as it is at
/// the end of `--wait` otherwise.
async fn fetch_settled(client: &Client, id: &str, args: &AssertArgs) -> Result<Checked, CliError> {
    #[derive(Deserialize)]
    struct Data {
        capture: Option<Checked>,
    }
    let q = format!("query($id: ID!) {{ capture(id: $id) {{ {CAPTURE_FIELDS} {ASSERT_FIELDS} }} }}");
    let deadline = tokio::time::Instant::now() + args.wait;
    loop {
        let found = client.query::<Data>(&q, json!({ "id": id })).await?.capture;
        let last = tokio::time::Instant::now() >= deadline;
        match found {
            Some(c) if last || settled(args, &c) => return Ok(c),
            None if last => return Err(CliError::NotFound(format!("capture {id} not found"))),
            _ => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

fn settled(args: &AssertArgs, c: &Checked) -> bool {
    let judged = c.capture.verification.is_some();
    let needs_judging = args.verdict.is_some() || args.event_type.is_some() || !args.matches.is_empty();
    let delivered = c.deliveries.first().is_some_and(|d| d.state != "PENDING" || !d.attempts.is_empty());
    (judged || !needs_judging) && (delivered || args.delivered.is_none())
}

fn checks(args: &AssertArgs, c: &Checked) -> Vec<Check> {
    let capture = &c.capture;
    let mut checks = Vec::new();
    let check = |name: &str, passed: bool, expected: String, got: String| Check {
        check: name.to_string(),
        passed,
        expected,
        got,
    };
    if let Some(want) = args.verdict {
        let got = capture.verification.as_ref().map(|v| v.verdict.as_str());
        checks.push(check(
            "verdict",
            got == Some(want.as_str()),
            want.label().to_string(),
            match &capture.verification {
                Some(v) if v.verdict == want.as_str() => format::verdict_label(&v.verdict),
                Some(v) => format!("{} ({})", format::verdict_label(&v.verdict), v.reason),
                None => "not judged yet".to_string(),
            },
        ));
    }
    if let Some(want) = args.status {
        let got = capture.answer.as_ref().map(|a| a.status);
        checks.push(check(
            "status",
            got == Some(want),
            want.to_string(),
            got.map_or_else(|| "no recorded answer".to_string(), |s| s.to_string()),
        ));
    }
    if let Some(pattern) = &args.event_type {
        let got = capture.event.as_ref().and_then(|e| e.kind.as_deref());
        checks.push(check(
            "event type",
            got.is_some_and(|t| hookmetry_core::event_type_matches(pattern.trim(), t)),
            pattern.trim().to_string(),
            got.map_or_else(|| "none".to_string(), str::to_owned),
        ));
    }
    for m in &args.matches {
        let (passed, got) = match crate::await_cmd::judge(std::slice::from_ref(m), capture) {
            Ok(()) => (true, "matches".to_string()),
            Err(Failure::Failed { why, .. }) => (false, why),
            Err(Failure::Pending) => (false, "not judged yet".to_string()),
        };
        checks.push(check(&format!("match `{m}`"), passed, "a match".into(), got));
    }
    if let Some(want) = args.delivered {
        let newest = c.deliveries.first();
        let attempt = newest.and_then(|d| d.attempts.last());
        let got = match (newest, attempt) {
            (None, _) => "no delivery".to_string(),
            (Some(d), None) => format!("no attempt yet ({})", d.state.to_lowercase()),
            (Some(_), Some(AttemptState { response_status: Some(s), .. })) => s.to_string(),
            (Some(_), Some(AttemptState { error_message, .. })) => {
                format!("no response ({})", error_message.as_deref().unwrap_or("failed"))
            }
        };
        let passed = attempt.and_then(|a| a.response_status) == Some(want);
        checks.push(check("delivered", passed, want.to_string(), got));
    }
    if checks.is_empty() {
        checks.push(check("stored", true, "stored".into(), format!("received {}", capture.received_at)));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_ok_or_what_was_expected_and_found() {
        let ok = Check { check: "verdict".into(), passed: true, expected: "valid".into(), got: "valid".into() };
        assert_eq!(line(&ok), "ok      verdict: valid");
        let failed = Check { check: "status".into(), passed: false, expected: "200".into(), got: "503".into() };
        assert_eq!(line(&failed), "FAILED  status: expected 200, got 503");
    }

    #[test]
    fn verdicts_are_read_as_people_write_them() {
        assert_eq!(parse_verdict("VALID"), Ok(Verdict::Valid));
        assert_eq!(parse_verdict("invalid-signature"), Ok(Verdict::InvalidSignature));
        assert!(parse_verdict("ok").unwrap_err().starts_with("expected one of valid, invalid-signature"));
    }
}
