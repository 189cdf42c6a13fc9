//! `hookmetry await <endpoint> [--match EXPR]… [--count N] [--timeout 60s] [--since WHEN]`:
//! blocks until `N` captures passing every expression are stored, prints them, and exits 0; on
//! timeout exits 1 with what did arrive and why it did not count.
//!
//! Nothing falls between history and news: it subscribes to `captureReceived` first, then pages
//! the `captures` stored since `--since`, and counts each capture id once. A dropped connection
//! is retried the same way (subscribe, then page again). Captures that cannot be judged yet
//! (`verdict:` on a capture not checked) are asked for again until they can.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, Connection};
use crate::endpoint;
use crate::error::CliError;
use crate::format;
use crate::matching::{self, Failure, Matcher, Subject};
use crate::model::{CAPTURE_FIELDS, Capture, Endpoint};
use crate::output::Output;
use crate::tail::{self, Backoff, End, Step};

#[derive(Debug, clap::Args)]
pub struct AwaitArgs {
    /// Endpoint id, a unique id prefix (8 or more hex digits), or its exact name.
    pub endpoint: String,
    /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// What a capture must carry to count; repeat for several (all must hold):
    /// `header:X-GitHub-Event=push`, `header:Name` (present), `json:.action=="opened"`,
    /// `json:/data/object/id`, `json:.n!=0`, `method:POST`, `path:/prefix`, `query:k=v`,
    /// `event:charge.*`, `verdict:valid` (waits for the check), `body:text`.
    #[arg(long = "match", value_name = "EXPR", value_parser = matching::parse_arg)]
    pub matches: Vec<Matcher>,
    /// How many matching captures to wait for.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub count: u64,
    /// How long to wait in all (`30s`, `2m`).
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Count captures stored since: a time ago (`10m`), an RFC 3339 time, a capture id or its
    /// first 8+ hex digits (captures after it), or `all`. The default covers an event sent
    /// just before `await` started without counting a long-lived endpoint's old captures.
    #[arg(long, default_value = DEFAULT_SINCE, value_parser = Since::parse)]
    pub since: Since,
    /// Print only a JSON array of the matched captures, every field (the body in `bodyBase64`).
    #[arg(long, conflicts_with = "print")]
    pub json: bool,
    /// Print only this field of each matched capture, one line each (`ID=$(hookmetry await …
    /// --print id)`).
    #[arg(long, value_name = "FIELD", value_parser = ["id", "url", "method", "path", "receivedAt", "bodyText", "bodySha256"])]
    pub print: Option<String>,
}

/// `--since`'s default: long enough for a trigger, build or deploy step before `await`, short
/// enough that yesterday's run on a shared endpoint does not pass today's.
pub(crate) const DEFAULT_SINCE: &str = "10m";
/// Captures looked at in the history, at most; the newest are kept.
const HISTORY_MAX: usize = 5_000;
/// Captures asked for per history page: whole captures, bodies included.
const HISTORY_PAGE: i32 = 50;
/// How often captures not judged yet are asked for again.
const RECHECK_EVERY: Duration = Duration::from_millis(250);
/// Non-matching captures described on a timeout; the rest are counted.
const SHOWN_FAILURES: usize = 5;

/// Where `--since` starts counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    All,
    Ago(Duration),
    At(SystemTime),
    /// A capture id, whole or a prefix, as typed: captures after it count.
    After(String),
}

impl Since {
    pub fn parse(raw: &str) -> Result<Since, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("all") {
            return Ok(Since::All);
        }
        if let Ok(t) = humantime::parse_rfc3339_weak(raw) {
            return Ok(Since::At(t));
        }
        if let Ok(d) = humantime::parse_duration(raw) {
            return Ok(Since::Ago(d));
        }
        if uuid::Uuid::parse_str(raw).is_ok() || crate::ids::IdPrefix::parse(raw).is_some() {
            return Ok(Since::After(raw.to_ascii_lowercase()));
        }
        Err(format!(
            "expected a time ago (`10m`), an RFC 3339 time (`2026-12-05T10:00:00Z`), a capture id (or its first 8+ \
             hex digits) or `all`; got `{raw}`"
        ))
    }
}

fn parse_timeout(raw: &str) -> Result<Duration, String> {
    match humantime::parse_duration(raw.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than 0s".into()),
        Err(e) => Err(format!("expected a duration such as `60s` or `2m` ({e})")),
    }
}

/// `--since` resolved against the server and the clock: where the history starts, and the id
/// a capture must be greater than.
#[derive(Debug, Clone, Default)]
struct Start {
    from: Option<SystemTime>,
    after_id: Option<String>,
    /// `in the last 10m`, `since 2026-…`, `after capture …`, `ever`.
    words: String,
}

async fn resolve_since(client: &Client, since: &Since, now: SystemTime) -> Result<Start, CliError> {
    Ok(match since {
        Since::All => Start { words: "ever".into(), ..Start::default() },
        Since::Ago(d) => Start {
            from: Some(now.checked_sub(*d).unwrap_or(SystemTime::UNIX_EPOCH)),
            after_id: None,
            words: format!("in the last {}", humantime::format_duration(*d)),
        },
        Since::At(t) => {
            Start { from: Some(*t), after_id: None, words: format!("since {}", humantime::format_rfc3339_seconds(*t)) }
        }
        Since::After(raw) => {
            let id = crate::capture_list::resolve_id(client, raw).await?.to_ascii_lowercase();
            // Ids are UUIDv7: the capture's own time bounds the history to read.
            let from = crate::ids::IdPrefix::parse(&id[..13])
                .map(|p| p.time_window().0.checked_sub(Duration::from_secs(60)).unwrap_or(SystemTime::UNIX_EPOCH));
            Start { from, words: format!("after capture {id}"), after_id: Some(id) }
        }
    })
}

pub(crate) async fn run(args: AwaitArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let endpoint = endpoint::resolve(&client, &args.endpoint, args.team.as_deref()).await?;
    let start = resolve_since(&client, &args.since, SystemTime::now()).await?;
    let count = usize::try_from(args.count).unwrap_or(usize::MAX);
    let what = wanted(count, &args.matches);
    eprintln!(
        "waiting up to {} for {what} on endpoint `{}` ({}), counting captures stored {}",
        humantime::format_duration(args.timeout),
        endpoint.name,
        endpoint.id,
        start.words
    );
    let mut waiter = Waiter::new(args.matches, count, start);
    match tokio::time::timeout(args.timeout, waiter.run(&client, &endpoint)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(CliError::Unmet(waiter.summary(args.timeout, &what))),
    }
    let mut matched = waiter.matched;
    matched.sort_by(|a, b| a.id.cmp(&b.id));
    matched.truncate(count);
    if args.json {
        return out.json_pretty(&matched);
    }
    if let Some(field) = &args.print {
        for c in &matched {
            out.field(c, field)?;
        }
        return Ok(());
    }
    for c in &matched {
        out.text(&format!("{}\n", format::tail_line(c)))?;
    }
    Ok(())
}

/// `2 captures matching `a`, `b``, or `1 capture` without expressions.
fn wanted(count: usize, matches: &[Matcher]) -> String {
    let noun = if count == 1 { "capture" } else { "captures" };
    if matches.is_empty() {
        return format!("{count} {noun}");
    }
    let list: Vec<String> = matches.iter().map(|m| format!("`{m}`")).collect();
    format!("{count} {noun} matching {}", list.join(", "))
}

/// Whether capture `c` passes every expression; `Failure::Pending` until it can be told.
pub(crate) fn judge(matchers: &[Matcher], c: &Capture) -> Result<(), Failure> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.decode(&c.body_base64).unwrap_or_default();
    let subject = Subject {
        method: &c.method,
        path: &c.path,
        query: c.query.as_deref(),
        headers: c.headers.iter().map(|h| (h.name.as_str(), h.value.as_str())).collect(),
        body: &body,
        event_type: c.event.as_ref().and_then(|e| e.kind.as_deref()),
        verdict: c.verification.as_ref().map(|v| v.verdict.as_str()),
    };
    matching::judge_all(matchers, &subject)
}

/// A capture that did not count, for the timeout summary.
struct Miss {
    line: String,
    expr: String,
    why: String,
}

struct Waiter {
    matchers: Vec<Matcher>,
    count: usize,
    start: Start,
    seen: HashSet<String>,
    matched: Vec<Capture>,
    misses: Vec<Miss>,
    /// Captures that pass so far but cannot be judged whole yet.
    pending: Vec<Capture>,
    history_truncated: bool,
}

impl Waiter {
    fn new(matchers: Vec<Matcher>, count: usize, start: Start) -> Self {
        Self {
            matchers,
            count,
            start,
            seen: HashSet::new(),
            matched: Vec::new(),
            misses: Vec::new(),
            pending: Vec::new(),
            history_truncated: false,
        }
    }

    fn done(&self) -> bool {
        self.matched.len() >= self.count
    }

    async fn run(&mut self, client: &Client, endpoint: &Endpoint) -> Result<(), CliError> {
        let mut backoff = Backoff::default();
        loop {
            match self.session(client, endpoint, &mut backoff).await {
                Ok(()) => return Ok(()),
                Err(End::Fatal(e)) => return Err(e),
                Err(End::Lagged(_)) => {}
                Err(End::Dropped(reason)) => {
                    let wait = backoff.next_delay();
                    eprintln!("note: {reason}; reconnecting in {}", tail::seconds(wait));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One subscription: live first, then the history, then live captures until done.
    async fn session(&mut self, client: &Client, endpoint: &Endpoint, backoff: &mut Backoff) -> Result<(), End> {
        let mut ws = tail::connect(client).await?;
        tail::handshake(client, &mut ws).await?;
        backoff.reset();
        let subscribe = json!({
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": format!("subscription($e: ID!) {{ captureReceived(endpointId: $e) {{ {CAPTURE_FIELDS} }} }}"),
                "variables": { "e": endpoint.id },
            },
        });
        ws.send(Message::text(subscribe.to_string())).await.map_err(|e| tail::dropped(&e))?;

        // The server registers a subscription a moment after receiving it; what arrives
        // meanwhile waits here, and the history read afterwards covers the rest.
        let mut live = Vec::new();
        let settle = tokio::time::sleep(tail::SETTLE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = &mut settle => break,
                m = ws.next() => match tail::incoming(client, endpoint, m, &mut ws).await {
                    Step::Capture(c) => live.push(*c),
                    Step::Continue => {}
                    Step::End(end) => return Err(end),
                },
            }
        }
        self.read_history(client, endpoint).await.map_err(|e| end_for(e, endpoint))?;
        for c in live {
            self.consider(c);
        }
        if self.done() {
            return Ok(());
        }

        let mut ping = tokio::time::interval_at(Instant::now() + tail::PING_EVERY, tail::PING_EVERY);
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                m = ws.next() => {
                    last_heard = Instant::now();
                    match tail::incoming(client, endpoint, m, &mut ws).await {
                        Step::Capture(c) => self.consider(*c),
                        Step::Continue => {}
                        Step::End(end) => return Err(end),
                    }
                }
                _ = recheck.tick(), if !self.pending.is_empty() => {
                    self.recheck(client).await.map_err(|e| end_for(e, endpoint))?;
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= tail::SILENCE_LIMIT {
                        return Err(End::Dropped(format!(
                            "no answer from the server for {}", tail::seconds(tail::SILENCE_LIMIT)
                        )));
                    }
                    ws.send(Message::text(r#"{"type":"ping"}"#)).await.map_err(|e| tail::dropped(&e))?;
                }
            }
            if self.done() {
                return Ok(());
            }
        }
    }

    /// Every capture stored since the start (the newest `HISTORY_MAX`), oldest first.
    async fn read_history(&mut self, client: &Client, endpoint: &Endpoint) -> Result<(), CliError> {
        let filter = match self.start.from {
            Some(t) => json!({ "receivedFrom": humantime::format_rfc3339_micros(t).to_string() }),
            None => serde_json::Value::Null,
        };
        let mut found: Vec<Capture> = Vec::new();
        let mut after: Option<String> = None;
        'pages: loop {
            let page = crate::history::filtered_page(
                client,
                &endpoint.id,
                HISTORY_PAGE,
                after.as_deref(),
                &filter,
                CAPTURE_FIELDS,
            )
            .await?;
            for edge in page.edges {
                let c: Capture = serde_json::from_value(edge.node).map_err(|e| CliError::Protocol {
                    url: client.base.clone(),
                    detail: format!("a capture has an unexpected shape ({e})"),
                })?;
                if self.start.after_id.as_deref().is_some_and(|a| c.id.as_str() <= a) {
                    break 'pages;
                }
                if found.len() == HISTORY_MAX {
                    self.history_truncated = true;
                    break 'pages;
                }
                found.push(c);
            }
            match page.page_info.end_cursor {
                Some(cursor) if page.page_info.has_next_page => after = Some(cursor),
                _ => break,
            }
        }
        // Newest first as paged; counted in arrival order.
        found.reverse();
        for c in found {
            self.consider(c);
        }
        Ok(())
    }

    fn consider(&mut self, c: Capture) {
        if self.start.after_id.as_deref().is_some_and(|a| c.id.as_str() <= a) || !self.seen.insert(c.id.clone()) {
            return;
        }
        self.judge(c);
    }

    fn judge(&mut self, c: Capture) {
        match judge(&self.matchers, &c) {
            Ok(()) => self.matched.push(c),
            Err(Failure::Pending) => self.pending.push(c),
            Err(Failure::Failed { expr, why }) => {
                self.misses.push(Miss { line: format!("{}  {} {}", c.id, c.method, c.target()), expr, why })
            }
        }
    }

    /// Asks again for the captures not judged yet.
    async fn recheck(&mut self, client: &Client) -> Result<(), CliError> {
        #[derive(Deserialize)]
        struct Data {
            capture: Option<Capture>,
        }
        let q = format!("query($id: ID!) {{ capture(id: $id) {{ {CAPTURE_FIELDS} }} }}");
        for c in std::mem::take(&mut self.pending) {
            // Deleted meanwhile: nothing left to count.
            if let Some(fresh) = client.query::<Data>(&q, json!({ "id": c.id })).await?.capture {
                self.judge(fresh);
            }
        }
        Ok(())
    }

    /// The timeout's sentence and what did arrive, one capture a line.
    fn summary(&self, timeout: Duration, what: &str) -> String {
        use std::fmt::Write as _;
        let arrived = self.seen.len();
        let mut s = format!(
            "timed out after {} waiting for {what}: {arrived} capture{} stored {}, {} matched",
            humantime::format_duration(timeout),
            if arrived == 1 { "" } else { "s" },
            self.start.words,
            self.matched.len(),
        );
        if self.history_truncated {
            let _ = write!(s, " (only the newest {HISTORY_MAX} stored before the start were looked at)");
        }
        for c in &self.matched {
            let _ = write!(s, "\n  matched  {}  {} {}", c.id, c.method, c.target());
        }
        for c in &self.pending {
            let _ = write!(s, "\n  not judged yet  {}  {} {}", c.id, c.method, c.target());
        }
        for m in self.misses.iter().take(SHOWN_FAILURES) {
            let _ = write!(s, "\n  {}  failed `{}`: {}", m.line, m.expr, m.why);
        }
        if self.misses.len() > SHOWN_FAILURES {
            let _ = write!(s, "\n  … and {} more that did not match", self.misses.len() - SHOWN_FAILURES);
        }
        s
    }
}

/// A failed HTTP query during a session: network trouble is retried, the rest is final.
fn end_for(e: CliError, endpoint: &Endpoint) -> End {
    match e {
        CliError::Unreachable { .. } | CliError::Timeout { .. } | CliError::Transport { .. } => {
            End::Dropped(e.to_string())
        }
        CliError::Server { code: Some(ref c), .. } if c == "NOT_FOUND" => {
            End::Fatal(CliError::NotFound(format!("endpoint `{}` ({}) no longer exists", endpoint.name, endpoint.id)))
        }
        CliError::Server { code: Some(ref c), .. } if c == "UNAVAILABLE" || c == "INTERNAL" => {
            End::Dropped(e.to_string())
        }
        e => End::Fatal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_times_ids_and_all() {
        assert_eq!(Since::parse("10m"), Ok(Since::Ago(Duration::from_secs(600))));
        assert_eq!(Since::parse("ALL"), Ok(Since::All));
        assert_eq!(
            Since::parse("2026-12-05T10:00:00Z"),
            Ok(Since::At(humantime::parse_rfc3339("2026-12-05T10:00:00Z").unwrap()))
        );
        assert_eq!(Since::parse("0193A1B2c3"), Ok(Since::After("0193a1b2c3".into())));
        let id = "0193a1b2-c3d4-7000-8000-000000000001";
        assert_eq!(Since::parse(id), Ok(Since::After(id.into())));
        let e = Since::parse("yesterday").unwrap_err();
        assert!(
            e.starts_with("expected a time ago (`10m`), an RFC 3339 time") && e.ends_with("got `yesterday`"),
            "{e}"
        );
        assert_eq!(Since::parse(DEFAULT_SINCE), Ok(Since::Ago(Duration::from_secs(600))));
    }

    #[test]
    fn timeouts_are_positive_durations() {
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("0s").unwrap_err(), "must be more than 0s");
        assert!(parse_timeout("soon").unwrap_err().starts_with("expected a duration such as `60s`"));
    }

    #[test]
    fn what_is_awaited_reads_as_a_sentence() {
        let m = |s: &str| Matcher::parse(s).unwrap();
        assert_eq!(wanted(1, &[]), "1 capture");
        assert_eq!(
            wanted(2, &[m("method:POST"), m(r#"json:.a=="b""#)]),
            r#"2 captures matching `method:POST`, `json:.a=="b"`"#
        );
    }

    fn capture(id: &str, kind: &str, body: &str) -> Capture {
        use base64::Engine as _;
        serde_json::from_value(json!({
            "id": id, "endpointId": "e", "teamId": "t", "method": "POST", "path": "/hook", "query": null,
            "headers": [{ "name": "X-Kind", "value": kind, "valueBase64": "" }],
            "bodyBase64": base64::engine::general_purpose::STANDARD.encode(body),
            "bodySize": body.len(), "bodySha256": "", "remoteAddr": "", "httpVersion": "HTTP/1.1",
            "receivedAt": "2026-12-05T10:00:00Z", "contentType": null, "url": "",
            "verification": { "provider": null, "verdict": "NOT_CONFIGURED", "reason": "", "secretLabel": null },
        }))
        .unwrap()
    }

    #[test]
    fn each_capture_counts_once_and_only_after_the_start() {
        let m = |s: &str| Matcher::parse(s).unwrap();
        let start = Start { from: None, after_id: Some("0002".into()), words: "after capture 0002".into() };
        let mut w = Waiter::new(vec![m("header:X-Kind=a"), m("json:.n==1")], 2, start);
        w.consider(capture("0001", "a", r#"{"n":1}"#)); // before the start
        w.consider(capture("0002", "a", r#"{"n":1}"#)); // the start itself
        w.consider(capture("0003", "a", r#"{"n":1}"#));
        w.consider(capture("0003", "a", r#"{"n":1}"#)); // history and live both had it
        w.consider(capture("0004", "b", r#"{"n":1}"#));
        w.consider(capture("0005", "a", r#"{"n":2}"#));
        assert!(!w.done());
        assert_eq!(
            w.summary(Duration::from_secs(5), "2 captures matching `header:X-Kind=a`, `json:.n==1`"),
            "timed out after 5s waiting for 2 captures matching `header:X-Kind=a`, `json:.n==1`: 3 captures stored \
             after capture 0002, 1 matched\n  matched  0003  POST /hook\n  0004  POST /hook  failed \
             `header:X-Kind=a`: header X-Kind is \"b\"\n  0005  POST /hook  failed `json:.n==1`: .n is 2"
        );
        w.consider(capture("0006", "a", r#"{"n":1.0}"#));
        assert!(w.done());
    }

    #[test]
    fn a_summary_lists_the_first_few_misses_and_counts_the_rest() {
        let mut w = Waiter::new(vec![Matcher::parse("method:PUT").unwrap()], 1, Start::default());
        for i in 0..(SHOWN_FAILURES + 3) {
            w.consider(capture(&format!("{i:04}"), "a", "{}"));
        }
        let s = w.summary(Duration::from_secs(60), "1 capture matching `method:PUT`");
        assert_eq!(s.lines().count(), 1 + SHOWN_FAILURES + 1, "{s}");
        assert!(s.ends_with("\n  … and 3 more that did not match"), "{s}");
        assert!(s.contains("  0000  POST /hook  failed `method:PUT`: method is POST"), "{s}");
    }
}
