//! `hookmetry capture list`: a team's or an endpoint's captures, newest first, through the
//! `captures` query's filters; and finding a capture id from a prefix the same way.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::client::Client;
use crate::endpoint;
use crate::error::CliError;
use crate::format;
use crate::ids::{self, IdPrefix};
use crate::model::{CAPTURE_LINE_FIELDS, Capture};
use crate::output::Output;

/// Captures asked for per query: 100 line records stay well inside the server's complexity limit.
const PAGE: usize = 100;
/// Largest `--limit`.
pub(crate) const MAX_LIMIT: usize = 1000;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this endpoint's captures (id, unique id prefix, or name) [default: every endpoint of
    /// the token's team, merged newest first].
    #[arg(long, short = 'e', value_name = "ENDPOINT")]
    pub endpoint: Option<String>,
    /// At most this many captures, the newest (1 to 1000).
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Only this exact method, case-sensitive (`POST`).
    #[arg(long, short = 'X')]
    pub method: Option<String>,
    /// Only captures whose path (after `/h/<token>`, as sent) starts with this, e.g. `/stripe`.
    #[arg(long, value_name = "PREFIX")]
    pub path: Option<String>,
    /// Only captures with this signature verdict: `valid`, `invalid-signature`,
    /// `missing-signature`, `outside-tolerance`, `malformed` or `not-checked`.
    #[arg(long)]
    pub verdict: Option<String>,
    /// Only captures whose body contains this text (case-sensitive).
    #[arg(long, short = 's', value_name = "TEXT")]
    pub search: Option<String>,
    /// Only captures with this header (`NAME`), or whose value contains text (`NAME:TEXT`).
    #[arg(long, value_name = "NAME[:TEXT]")]
    pub header: Option<String>,
    /// Only captures whose provider event type matches, with `*` for any run of characters
    /// (`charge.*`, `pull_request.opened`).
    #[arg(long = "event-type", value_name = "PATTERN")]
    pub event_type: Option<String>,
    /// Only captures of this provider event id (`evt_…`, a GitHub delivery id): every delivery of
    /// one event.
    #[arg(long = "event-id", value_name = "ID")]
    pub event_id: Option<String>,
    /// Received at or after this time: RFC 3339 (`2026-11-27T06:00:00Z`) or a time ago (`90m`,
    /// `2h`, `3days`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Received before this time, in the same forms as `--since`.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print a JSON array of the captures' summaries (no headers or bodies; `capture show --json`
    /// has those).
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: ListArgs, client: &Client, out: &mut Output) -> Result<(), CliError> {
    if !(1..=MAX_LIMIT).contains(&args.limit) {
        return Err(CliError::Usage(format!("`--limit` must be 1 to {MAX_LIMIT}, got {}", args.limit)));
    }
    let filter = filter(&args, SystemTime::now())?;
    let endpoints: Vec<String> = match &args.endpoint {
        Some(e) => vec![endpoint::resolve(client, e, None).await?.id],
        None => endpoint::list(client, None).await?.into_iter().map(|e| e.id).collect(),
    };
    let found = merged(client, &endpoints, &filter, CAPTURE_LINE_FIELDS, args.limit).await?;
    if args.json {
        return out.json_pretty(&found);
    }
    if found.is_empty() {
        eprintln!("no captures match");
    }
    for node in found {
        let c = as_capture(client, node)?;
        out.text(&format!("{}\n", format::tail_line(&c)))?;
    }
    Ok(())
}

fn as_capture(client: &Client, node: Value) -> Result<Capture, CliError> {
    serde_json::from_value(node).map_err(|e| CliError::Protocol {
        url: client.base.clone(),
        detail: format!("a capture has an unexpected shape ({e})"),
    })
}

/// The `CaptureFilter` input the flags ask for, with times relative to `now`.
pub(crate) fn filter(args: &ListArgs, now: SystemTime) -> Result<Value, CliError> {
    let mut f = serde_json::Map::new();
    if let Some(m) = &args.method {
        f.insert("method".into(), json!(m.trim()));
    }
    if let Some(p) = &args.path {
        if !p.starts_with('/') {
            return Err(CliError::Usage(format!("`--path` must start with `/`, got `{p}`")));
        }
        f.insert("pathPrefix".into(), json!(p));
    }
    if let Some(v) = &args.verdict {
        let verdict = hookmetry_core::Verdict::parse_loose(v).ok_or_else(|| {
            let known: Vec<String> = hookmetry_core::Verdict::ALL.iter().map(|v| v.label().replace(' ', "-")).collect();
            CliError::Usage(format!("`--verdict` must be one of {}, got `{v}`", known.join(", ")))
        })?;
        f.insert("verdict".into(), json!(verdict.as_str()));
    }
    if let Some(s) = &args.search {
        f.insert("bodyContains".into(), json!(s));
    }
    if let Some(h) = &args.header {
        let (name, contains) = h.split_once(':').unwrap_or((h, ""));
        f.insert("header".into(), json!({ "name": name.trim(), "valueContains": contains.trim_start() }));
    }
    if let Some(t) = &args.event_type {
        f.insert("eventType".into(), json!(t.trim()));
    }
    if let Some(id) = &args.event_id {
        f.insert("eventId".into(), json!(id.trim()));
    }
    if let Some(t) = &args.since {
        f.insert("receivedFrom".into(), json!(parse_time("--since", t, now)?));
    }
    if let Some(t) = &args.until {
        f.insert("receivedUntil".into(), json!(parse_time("--until", t, now)?));
    }
    Ok(Value::Object(f))
}

/// An RFC 3339 time, or a duration before `now`, as the RFC 3339 text the API takes.
pub(crate) fn parse_time(flag: &str, raw: &str, now: SystemTime) -> Result<String, CliError> {
    let raw = raw.trim();
    let at = match humantime::parse_rfc3339_weak(raw) {
        Ok(t) => t,
        Err(_) => {
            let ago = humantime::parse_duration(raw).map_err(|_| {
                CliError::Usage(format!(
                    "`{flag}` must be an RFC 3339 time (`2026-11-27T06:00:00Z`) or a time ago (`90m`, `2h`), got `{raw}`"
                ))
            })?;
            now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH)
        }
    };
    Ok(rfc3339(at))
}

/// `t` as RFC 3339, held to the years humantime can write (1970 to 9999): an id prefix like
/// `00000000` or `ffffffff` stands for a time at either end.
fn rfc3339(t: SystemTime) -> String {
    const LAST: Duration = Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59Z
    let t = t.clamp(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH + LAST);
    humantime::format_rfc3339_micros(t).to_string()
}

/// One endpoint's captures being read page by page.
struct Cursor<'a> {
    endpoint: &'a str,
    buffered: VecDeque<Value>,
    after: Option<String>,
    done: bool,
}

/// Up to `limit` captures of `endpoints` passing `filter`, newest first: each endpoint is read a
/// page at a time and the pages merged, so no more than `limit` plus a page per endpoint is held.
pub(crate) async fn merged(
    client: &Client,
    endpoints: &[String],
    filter: &Value,
    fields: &str,
    limit: usize,
) -> Result<Vec<Value>, CliError> {
    let mut cursors: Vec<Cursor> =
        endpoints.iter().map(|e| Cursor { endpoint: e, buffered: VecDeque::new(), after: None, done: false }).collect();
    let page_size = limit.min(PAGE);
    let mut found = Vec::with_capacity(limit);
    while found.len() < limit {
        for c in cursors.iter_mut().filter(|c| c.buffered.is_empty() && !c.done) {
            let first = i32::try_from(page_size).unwrap_or(i32::MAX);
            let page =
                crate::history::filtered_page(client, c.endpoint, first, c.after.as_deref(), filter, fields).await?;
            c.buffered.extend(page.edges.into_iter().map(|e| e.node));
            match page.page_info.end_cursor {
                Some(cursor) if page.page_info.has_next_page => c.after = Some(cursor),
                _ => c.done = true,
            }
        }
        // Ids are UUIDv7 text of one length: the greatest is the newest.
        let newest = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.buffered.front().and_then(|n| n["id"].as_str()).map(|id| (id.to_owned(), i)))
            .max();
        let Some((_, i)) = newest else { break };
        found.extend(cursors[i].buffered.pop_front());
    }
    Ok(found)
}

/// Most captures looked at to resolve one prefix; a busier window needs more of the id.
const MAX_SCANNED: usize = 5_000;
/// A capture's id is made right after its receive time is taken; this covers the gap generously.
const ID_CLOCK_SLACK: Duration = Duration::from_secs(60);

/// The capture id `raw` names: a whole id as it is, or a unique prefix of the id of a capture of
/// one of the token's team's endpoints. Anything else is passed on for the server to judge.
pub(crate) async fn resolve_id(client: &Client, raw: &str) -> Result<String, CliError> {
    let raw = raw.trim();
    let Some(prefix) = IdPrefix::parse(raw) else { return Ok(raw.to_owned()) };
    let (from, until) = prefix.time_window();
    let window = json!({
        "receivedFrom": rfc3339(from.checked_sub(ID_CLOCK_SLACK).unwrap_or(from)),
        "receivedUntil": rfc3339(until + ID_CLOCK_SLACK),
    });
    let endpoints: Vec<String> = endpoint::list(client, None).await?.into_iter().map(|e| e.id).collect();
    let seen = merged(client, &endpoints, &window, "id", MAX_SCANNED).await?;
    let matches: Vec<String> =
        seen.iter().filter_map(|n| n["id"].as_str()).filter(|id| prefix.matches(id)).map(str::to_owned).collect();
    if seen.len() == MAX_SCANNED && matches.len() <= 1 {
        return Err(CliError::Usage(format!(
            "more than {MAX_SCANNED} captures were received around the time `{raw}` stands for; give more of the id"
        )));
    }
    ids::pick_one("capture", raw, matches, "`hookmetry capture list` shows the team's captures")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ListArgs {
        ListArgs {
            endpoint: None,
            limit: 20,
            method: None,
            path: None,
            verdict: None,
            search: None,
            header: None,
            event_type: None,
            event_id: None,
            since: None,
            until: None,
            json: false,
        }
    }

    #[test]
    fn flags_become_the_capture_filter() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = ListArgs {
            method: Some("POST".into()),
            path: Some("/stripe".into()),
            verdict: Some("invalid-signature".into()),
            search: Some("charge".into()),
            header: Some("X-Kind: test".into()),
            event_type: Some("charge.*".into()),
            event_id: Some(" evt_1 ".into()),
            since: Some("2h".into()),
            until: Some("2027-01-15T08:00:00Z".into()),
            ..args()
        };
        assert_eq!(
            filter(&a, now).unwrap(),
            json!({
                "method": "POST",
                "pathPrefix": "/stripe",
                "verdict": "INVALID_SIGNATURE",
                "bodyContains": "charge",
                "header": { "name": "X-Kind", "valueContains": "test" },
                "eventType": "charge.*",
                "eventId": "evt_1",
                "receivedFrom": "2027-01-15T06:00:00.000000Z",
                "receivedUntil": "2027-01-15T08:00:00.000000Z",
            })
        );
        assert_eq!(filter(&args(), now).unwrap(), json!({}));
        let h = ListArgs { header: Some("X-Present".into()), ..args() };
        assert_eq!(filter(&h, now).unwrap()["header"], json!({ "name": "X-Present", "valueContains": "" }));
    }

    #[test]
    fn bad_flags_are_sentences_naming_them() {
        let now = SystemTime::now();
        let e = filter(&ListArgs { path: Some("stripe".into()), ..args() }, now).unwrap_err().to_string();
        assert_eq!(e, "`--path` must start with `/`, got `stripe`");
        let e = filter(&ListArgs { verdict: Some("ok".into()), ..args() }, now).unwrap_err().to_string();
        assert!(e.starts_with("`--verdict` must be one of valid, invalid-signature,"), "{e}");
        let e = filter(&ListArgs { since: Some("yesterday".into()), ..args() }, now).unwrap_err().to_string();
        assert!(e.starts_with("`--since` must be an RFC 3339 time"), "{e}");
    }

    #[test]
    fn times_at_either_end_of_the_id_space_are_written() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(60)), "1970-01-01T00:00:00.000000Z");
        let (_, until) = IdPrefix::parse("ffffffff").unwrap().time_window();
        assert_eq!(rfc3339(until + ID_CLOCK_SLACK), "9999-12-31T23:59:59.000000Z");
    }
}
