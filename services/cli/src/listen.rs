//! `hookmetry listen <endpoint> --forward-to http://localhost:3000/hook`: forwards each capture
//! of an endpoint to a server on this machine, through the `captureReceived` subscription (no
//! inbound port, no public URL), and reports every attempt back with `reportListenerAttempt`, so
//! teammates see what the local server answered.
//!
//! Two halves run side by side:
//! - the **feed** keeps a subscription open (reconnecting with backoff like `tail`) and queues
//!   captures in id order, each once. Before going live it queues what the listener missed: a
//!   named listener (`--name`) everything after its server-side cursor, i.e. what arrived while
//!   it was stopped; any listener, after a reconnection, what arrived while it was disconnected;
//! - the **forwarder** sends queued captures one at a time, in order: a capture is retried while
//!   the local server is down (capped backoff, `--max-attempts`) and the next one waits, so the
//!   local server sees captures in the order they arrived.
//!
//! The server moves a named listener's cursor when it reports a capture finished (delivered or
//! given up), in the same call. A listener stopped between the local server's answer and that
//! report delivers the capture again when it comes back: delivery is at least once.

use std::collections::VecDeque;
use std::time::{Duration, Instant as StdInstant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use hookmetry_core::Header as CoreHeader;
use hookmetry_egress::http1::{self, FailureKind};
use hookmetry_egress::{EgressPolicy, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, Connection};
use crate::endpoint;
use crate::error::CliError;
use crate::format;
use crate::history;
use crate::model::{CAPTURE_FIELDS, Capture, Endpoint};
use crate::output::Output;
use crate::tail::{self, Backoff, End, PING_EVERY, SETTLE, SILENCE_LIMIT, Step};

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Endpoint id, or the exact name of one endpoint of the team.
    pub endpoint: String,
    /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// Local URL to send each capture to; the capture's path and query are appended to its path.
    #[arg(long = "forward-to", value_name = "URL")]
    pub forward_to: String,
    /// Makes the listener durable: started again with the same name (and endpoint), it first
    /// delivers, in order, what arrived while it was stopped. Letters, digits, `.`, `-`, `_`.
    #[arg(long)]
    pub name: Option<String>,
    /// Rewrites a capture path starting with FROM to start with TO instead (first match wins),
    /// e.g. `--path-map /stripe=/webhooks/stripe`. Repeatable.
    #[arg(long = "path-map", value_name = "FROM=TO")]
    pub path_map: Vec<String>,
    /// Forward only captures with exactly this method.
    #[arg(long)]
    pub method: Option<String>,
    /// Forward only captures whose path (after `/h/<token>`) starts with this.
    #[arg(long = "path-prefix", value_name = "PREFIX")]
    pub path_prefix: Option<String>,
    /// Forward only captures with this header (any case), whose value contains CONTAINS if given.
    #[arg(long, value_name = "NAME[:CONTAINS]")]
    pub header: Option<String>,
    /// Attempts per capture before giving up on it and going on with the next.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_attempts: u32,
    /// Time limit of one attempt, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Most attempts per capture (the server's limit too).
const MAX_ATTEMPTS: u32 = 1_000;
/// Most captures queued after an interruption; the oldest missed ones past it are skipped
/// with a note (they stay readable with `captures`).
const CATCH_UP_MAX: usize = 10_000;
/// Captures waiting for the forwarder. When full the feed stops reading the subscription; the
/// server then ends it as lagged, and the feed catches up from the last queued capture.
const QUEUE: usize = 1_000;
/// Response body bytes reported per attempt.
const REPORTED_BODY: usize = 64 * 1024;
/// Wait before attempt n+1: `RETRY_INITIAL × 2^(n−1)`, at most `RETRY_MAX`.
const RETRY_INITIAL: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// What the flags say, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    forward_to: Url,
    name: Option<String>,
    path_map: Vec<(String, String)>,
    method: Option<String>,
    path_prefix: Option<String>,
    header: Option<(String, String)>,
    max_attempts: u32,
    timeout: Duration,
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Plan {
    fn of(args: &ListenArgs) -> Result<Self, CliError> {
        let raw = args.forward_to.trim();
        let forward_to = Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "`--forward-to` must be an http:// or https:// URL such as http://localhost:3000/hook, got `{raw}`"
                ))
            })?;
        let name = match args.name.as_deref().map(str::trim) {
            None => None,
            Some(n)
                if !n.is_empty()
                    && n.len() <= 64
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) =>
            {
                Some(n.to_owned())
            }
            Some(n) => {
                return Err(CliError::Usage(format!(
                    "`--name` must be 1 to 64 letters, digits, `.`, `-` or `_`, got `{n}`"
                )));
            }
        };
        let mut path_map = Vec::new();
        for m in &args.path_map {
            match m.split_once('=') {
                Some((from, to)) if from.starts_with('/') && to.starts_with('/') => {
                    path_map.push((from.to_owned(), to.to_owned()))
                }
                _ => {
                    return Err(CliError::Usage(format!(
                        "`--path-map` must be FROM=TO with both paths starting with `/`, e.g. \
                         `/stripe=/webhooks/stripe`, got `{m}`"
                    )));
                }
            }
        }
        if let Some(m) = &args.method
            && !is_token(m)
        {
            return Err(CliError::Usage(format!("`--method` must be an HTTP method such as POST, got `{m}`")));
        }
        if let Some(p) = &args.path_prefix
            && !p.starts_with('/')
        {
            return Err(CliError::Usage(format!("`--path-prefix` must start with `/`, got `{p}`")));
        }
        let header = match &args.header {
            None => None,
            Some(h) => {
                let (name, contains) = h.split_once(':').unwrap_or((h.as_str(), ""));
                let name = name.trim();
                if !is_token(name) {
                    return Err(CliError::Usage(format!(
                        "`--header` must be NAME or NAME:CONTAINS with a header name such as X-GitHub-Event, got `{h}`"
                    )));
                }
                Some((name.to_owned(), contains.trim_start().to_owned()))
            }
        };
        if !(1..=MAX_ATTEMPTS).contains(&args.max_attempts) {
            return Err(CliError::Usage(format!(
                "`--max-attempts` must be 1 to {MAX_ATTEMPTS}, got {}",
                args.max_attempts
            )));
        }
        if args.timeout == 0 {
            return Err(CliError::Usage("`--timeout` must be at least 1 second".into()));
        }
        Ok(Self {
            forward_to,
            name,
            path_map,
            method: args.method.clone(),
            path_prefix: args.path_prefix.clone(),
            header,
            max_attempts: args.max_attempts,
            timeout: Duration::from_secs(args.timeout),
        })
    }

    /// Whether this listener forwards `c` (every filter given must hold).
    fn wants(&self, c: &Capture) -> bool {
        self.method.as_ref().is_none_or(|m| *m == c.method)
            && self.path_prefix.as_ref().is_none_or(|p| c.path.starts_with(p.as_str()))
            && self.header.as_ref().is_none_or(|(name, contains)| {
                c.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case(name)
                        && B64.decode(&h.value_base64).is_ok_and(|v| {
                            contains.is_empty() || v.windows(contains.len()).any(|w| w == contains.as_bytes())
                        })
                })
            })
    }

    /// `c`'s path after `--path-map`.
    fn mapped_path(&self, c: &Capture) -> String {
        self.path_map
            .iter()
            .find_map(|(from, to)| c.path.strip_prefix(from.as_str()).map(|rest| map_path(from, to, rest)))
            .unwrap_or_else(|| c.path.clone())
    }

    /// The mapped path when its `..` segments would climb above `--forward-to`'s path: such a
    /// capture is not sent (see `hookmetry_core::path_climbs`).
    fn climbing_path(&self, c: &Capture) -> Option<String> {
        let path = self.mapped_path(c);
        hookmetry_core::path_climbs(&path).then_some(path)
    }

    /// Where `c` goes: `--path-map` applied to its path, appended to `--forward-to` with the
    /// query, as the replay worker builds a target URL.
    fn url_for(&self, c: &Capture) -> Url {
        let path = self.mapped_path(c);
        let mut url = self.forward_to.clone();
        url.set_fragment(None);
        if !path.is_empty() && path != "/" {
            let base = url.path();
            let base = base.strip_suffix('/').unwrap_or(base);
            let joined = if path.starts_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") };
            url.set_path(&joined);
        }
        match (url.query().map(str::to_owned), c.query.as_deref()) {
            (_, None) => {}
            (Some(own), Some("")) if !own.is_empty() => {}
            (None, Some(q)) => url.set_query(Some(q)),
            (Some(own), Some(q)) if own.is_empty() => url.set_query(Some(q)),
            (Some(own), Some(q)) => url.set_query(Some(&format!("{own}&{q}"))),
        }
        url
    }
}

/// `to` in place of `from` before `rest`, keeping one `/` where `from` ended with one
/// (`/=/other` maps `/github` to `/other/github`).
fn map_path(from: &str, to: &str, rest: &str) -> String {
    match (to.ends_with('/'), rest.starts_with('/')) {
        (true, true) => format!("{to}{}", &rest[1..]),
        (false, false) if from.ends_with('/') && !rest.is_empty() => format!("{to}/{rest}"),
        _ => format!("{to}{rest}"),
    }
}

/// A capture to forward, and whether it arrived while this listener was not subscribed.
struct Queued {
    capture: Capture,
    missed: bool,
}

pub(crate) async fn run(args: ListenArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let plan = Plan::of(&args)?;
    let client = Client::new(conn)?;
    let endpoint = endpoint::resolve(&client, &args.endpoint, args.team.as_deref()).await?;
    // Forwarding into a capture URL of the same server would capture every forward again.
    let capture_base = endpoint.url.rsplit_once("/h/").map_or(endpoint.url.as_str(), |(base, _)| base).to_string();
    let own = hookmetry_egress::with_local_aliases(&[client.base.clone(), capture_base]);
    if let Some(base) = hookmetry_egress::own_capture_base(&plan.forward_to, &own) {
        return Err(CliError::Usage(format!(
            "`--forward-to` {} is a capture URL of this Hookmetry (under {base}/h/): every capture forwarded there would be captured and forwarded again",
            plan.forward_to
        )));
    }
    // An unnamed listener still reports under a name, made up for this run, so its attempts
    // land on one delivery per capture; it keeps no cursor.
    let name = plan.name.clone().unwrap_or_else(|| {
        // The tail of a UUIDv7 is random; its head is the time.
        let id = hookmetry_core::DeliveryId::new().to_string();
        format!("anonymous-{}", &id[id.len() - 8..])
    });
    let http = http1::Client::new(http1::ClientSettings {
        // The developer's own machine forwarding to a server they chose: anything on it or
        // their network is fair, except the cloud metadata addresses no class toggle opens.
        policy: EgressPolicy {
            allow_loopback: true,
            allow_private: true,
            allow_link_local: true,
            ..EgressPolicy::cluster()
        },
        connect_timeout: plan.timeout,
        total_timeout: plan.timeout,
        max_response_body_bytes: REPORTED_BODY,
        // The local server answers for itself: a redirect is reported, not followed.
        follow_redirects: false,
        extra_root_certificates: Vec::new(),
    })
    .map_err(|e| CliError::Usage(format!("cannot start the HTTP client: {e}")))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let mut feed = Feed {
        client: client.clone(),
        endpoint,
        name: name.clone(),
        durable: plan.name.is_some(),
        forward_to: plan.forward_to.to_string(),
        tx,
        last_queued: None,
        recent: VecDeque::new(),
        backoff: Backoff::default(),
        live_before: false,
        floor: None,
    };
    let mut forwarder = Forwarder { client, reporting: true, http, plan, name, out };
    tokio::select! {
        r = feed.run() => r,
        r = forwarder.run(rx) => r,
        // Ctrl-C is how a listener is meant to end; an attempt in flight is not reported, so a
        // named listener sends that capture again when it comes back.
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

struct Feed {
    client: Client,
    endpoint: Endpoint,
    name: String,
    durable: bool,
    forward_to: String,
    tx: mpsc::Sender<Queued>,
    /// The newest capture id queued (or, when nothing was, where the listener started).
    last_queued: Option<String>,
    /// The last ids queued, so a capture both caught up and received live is sent once.
    recent: VecDeque<String>,
    backoff: Backoff,
    live_before: bool,
    /// Where the listener started: its cursor, or the newest capture at its first start.
    /// Captures up to here are finished or history, even when their live event comes late (the
    /// processor announces a capture after storing it, so one stored just before the start
    /// may still arrive on the fresh subscription).
    floor: Option<String>,
}

impl Feed {
    async fn run(&mut self) -> Result<(), CliError> {
        loop {
            match self.session().await {
                End::Fatal(e) => return Err(e),
                End::Lagged(message) => {
                    eprintln!("note: the server ended the live stream ({message}); resubscribing and catching up")
                }
                End::Dropped(reason) => {
                    let wait = self.backoff.next_delay();
                    eprintln!("note: {reason}; reconnecting in {}", tail::seconds(wait));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn session(&mut self) -> End {
        let mut ws = match tail::connect(&self.client).await {
            Ok(ws) => ws,
            Err(end) => return end,
        };
        if let Err(end) = tail::handshake(&self.client, &mut ws).await {
            return end;
        }
        self.backoff.reset();
        let query = format!(
            "subscription($e: ID!, $l: String) {{ captureReceived(endpointId: $e, listener: $l) {{ {CAPTURE_FIELDS} }} }}"
        );
        let subscribe = json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": query, "variables": { "e": self.endpoint.id, "l": self.name } },
        });
        if let Err(e) = ws.send(Message::text(subscribe.to_string())).await {
            return tail::dropped(&e);
        }
        // Subscribed first, caught up second: a capture stored in between comes both ways and
        // is queued once; none falls between the two.
        let mut live = Vec::new();
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = &mut settle => break,
                m = ws.next() => match tail::incoming(&self.client, &self.endpoint, m, &mut ws).await {
                    Step::Capture(c) => live.push(*c),
                    Step::Continue => {}
                    Step::End(end) => return end,
                },
            }
        }
        let caught_up = match self.catch_up().await {
            Ok(n) => n,
            Err(e) => return self.end_for(e),
        };
        for c in live {
            if let Err(end) = self.queue(c, false).await {
                return end;
            }
        }
        self.announce(caught_up);

        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                m = ws.next() => {
                    last_heard = Instant::now();
                    match tail::incoming(&self.client, &self.endpoint, m, &mut ws).await {
                        Step::Capture(c) => {
                            if let Err(end) = self.queue(*c, false).await {
                                return end;
                            }
                        }
                        Step::Continue => {}
                        Step::End(end) => return end,
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= SILENCE_LIMIT {
                        return End::Dropped(format!("no answer from the server for {}", tail::seconds(SILENCE_LIMIT)));
                    }
                    if let Err(e) = ws.send(Message::text(r#"{"type":"ping"}"#)).await {
                        return tail::dropped(&e);
                    }
                }
            }
        }
    }

    fn announce(&mut self, caught_up: usize) {
        let e = &self.endpoint;
        if !self.live_before {
            self.live_before = true;
            let kind = if self.durable { "durable listener" } else { "listener" };
            eprintln!(
                "listening on endpoint `{}` ({}) as {kind} `{}`, forwarding to {}; Ctrl-C to stop",
                e.name, e.id, self.name, self.forward_to
            );
        }
        if caught_up > 0 {
            eprintln!("note: {caught_up} capture(s) missed while offline are delivered first");
        }
    }

    /// Where this session catches up from: the last capture queued; at the first start, a
    /// named listener's cursor, else the newest capture (what is stored already is history).
    async fn start_point(&mut self) -> Result<Option<String>, CliError> {
        if self.live_before {
            return Ok(self.last_queued.clone());
        }
        if self.durable {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                listener_cursor: Option<Cursor>,
            }
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Cursor {
                capture_id: String,
            }
            let q = "query($e: ID!, $n: String!) { listenerCursor(endpointId: $e, name: $n) { captureId } }";
            let data: Data = self.client.query(q, json!({ "e": self.endpoint.id, "n": self.name })).await?;
            if let Some(c) = data.listener_cursor {
                return Ok(Some(c.capture_id));
            }
        }
        // A new listener starts with what arrives from now on.
        history::newest_id(&self.client, &self.endpoint.id).await
    }

    /// Queues, oldest first, the captures newer than the start point; returns how many.
    async fn catch_up(&mut self) -> Result<usize, CliError> {
        let start = self.start_point().await?;
        if start.is_none() && !self.live_before {
            // An endpoint without captures: nothing was missed.
            return Ok(0);
        }
        let (missed, truncated) =
            history::captures_since(&self.client, &self.endpoint.id, start.as_deref(), CAPTURE_FIELDS, CATCH_UP_MAX)
                .await?;
        if truncated {
            eprintln!(
                "note: more than {CATCH_UP_MAX} captures arrived while offline; the newest {CATCH_UP_MAX} are \
                 delivered and older ones skipped (read them with the `captures` query)"
            );
        }
        if !self.live_before {
            self.floor.clone_from(&start);
        }
        if self.last_queued.is_none() {
            self.last_queued = start;
        }
        let mut queued = 0;
        for c in missed {
            if self.queue(c, true).await.map_err(|_| CliError::Usage("the forwarder stopped".into()))? {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Hands `c` to the forwarder unless it was queued already; waits while the queue is full.
    async fn queue(&mut self, c: Capture, missed: bool) -> Result<bool, End> {
        if self.recent.contains(&c.id) || self.floor.as_deref().is_some_and(|f| c.id.as_str() <= f) {
            return Ok(false);
        }
        if self.recent.len() == QUEUE * 4 {
            self.recent.pop_front();
        }
        self.recent.push_back(c.id.clone());
        if self.last_queued.as_deref().is_none_or(|l| c.id.as_str() > l) {
            self.last_queued = Some(c.id.clone());
        }
        self.tx
            .send(Queued { capture: c, missed })
            .await
            .map_err(|_| End::Fatal(CliError::Usage("the forwarder stopped".into())))?;
        Ok(true)
    }

    fn end_for(&self, e: CliError) -> End {
        match e {
            CliError::Unreachable { .. } | CliError::Timeout { .. } | CliError::Transport { .. } => {
                End::Dropped(e.to_string())
            }
            CliError::Server { code: Some(ref c), .. } if c == "UNAVAILABLE" || c == "INTERNAL" => {
                End::Dropped(e.to_string())
            }
            e => End::Fatal(e),
        }
    }
}

struct Forwarder<'a> {
    client: Client,
    /// Off once the server refused a report for the token's role: attempts are still made,
    /// and nobody is told the same thing for every capture.
    reporting: bool,
    http: http1::Client,
    plan: Plan,
    name: String,
    out: &'a mut Output,
}

/// What one attempt met, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    latency_ms: u64,
    status: Option<u16>,
    /// `None` for a 2xx answer.
    error: Option<&'static str>,
    message: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    truncated: bool,
}

impl Outcome {
    /// A capture that was not sent, for the reason given.
    fn refused(message: String) -> Self {
        Self {
            latency_ms: 0,
            status: None,
            error: Some("REFUSED"),
            message: Some(message),
            headers: Vec::new(),
            body: Vec::new(),
            truncated: false,
        }
    }
}

impl Forwarder<'_> {
    async fn run(&mut self, mut rx: mpsc::Receiver<Queued>) -> Result<(), CliError> {
        while let Some(q) = rx.recv().await {
            if self.plan.wants(&q.capture) {
                self.forward(q).await?;
            }
        }
        Ok(())
    }

    /// Sends one capture until the local server takes it or the attempts run out.
    async fn forward(&mut self, q: Queued) -> Result<(), CliError> {
        let c = &q.capture;
        let url = self.plan.url_for(c);
        let body = B64.decode(&c.body_base64).map_err(|e| CliError::Protocol {
            url: self.client.base.clone(),
            detail: format!("capture {} has a body that is not base64 ({e})", c.id),
        })?;
        let headers: Vec<CoreHeader> = c
            .headers
            .iter()
            .map(|h| {
                CoreHeader::new(
                    h.name.clone(),
                    B64.decode(&h.value_base64).unwrap_or_else(|_| h.value.clone().into_bytes()),
                )
            })
            .collect();
        // The hop count makes a listener forwarding back into Hookmetry (by another name than
        // the ones refused at start) end at `ingest.max_hops`, like a forwarding rule.
        let headers = hookmetry_core::answer::with_next_hop(&hookmetry_core::forwarded_headers(&headers));
        let missed_note = if q.missed { " (missed while offline)" } else { "" };
        if let Some(path) = self.plan.climbing_path(c) {
            let outcome = Outcome::refused(format!(
                "not forwarded: the capture path `{path}` climbs above --forward-to's path through `..` segments"
            ));
            self.out.text(&line(c, &url, "", &outcome, missed_note))?;
            self.report(&q, &url, hookmetry_core::Timestamp::now(), &outcome, true).await;
            return Ok(());
        }
        for number in 1..=self.plan.max_attempts {
            let started_at = hookmetry_core::Timestamp::now();
            let outcome = self.attempt(&c.method, &url, &headers, &body).await;
            let last = outcome.error.is_none() || number == self.plan.max_attempts;
            self.out.text(&line(c, &url, &format!("attempt {number}: "), &outcome, missed_note))?;
            self.report(&q, &url, started_at, &outcome, last).await;
            if outcome.error.is_none() {
                return Ok(());
            }
            if last {
                eprintln!("note: gave up on capture {} after {number} attempt(s); going on with the next one", c.id);
                return Ok(());
            }
            tokio::time::sleep(retry_delay(number)).await;
        }
        Ok(())
    }

    async fn attempt(&self, method: &str, url: &Url, headers: &[CoreHeader], body: &[u8]) -> Outcome {
        let start = StdInstant::now();
        let pairs: Vec<(&str, &[u8])> = headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
        let exchange = self.http.send(&http1::Request { method, url, headers: &pairs, body }).await;
        let (error, message) = match (exchange.failure, exchange.status) {
            (Some(f), _) => (Some(error_name(f.kind)), Some(f.message)),
            (None, Some(status)) if !(200..300).contains(&status) => {
                let status = reqwest::StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string());
                (Some("STATUS"), Some(format!("answered {status}")))
            }
            (None, _) => (None, None),
        };
        Outcome {
            latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            status: exchange.status,
            error,
            message,
            headers: exchange.headers.into_iter().map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned())).collect(),
            body: exchange.body.to_vec(),
            truncated: exchange.truncated,
        }
    }

    /// Reports an attempt; a report that cannot be made is noted and forwarding goes on (the
    /// local server's answer matters more than the record of it).
    async fn report(&mut self, q: &Queued, url: &Url, started_at: hookmetry_core::Timestamp, o: &Outcome, last: bool) {
        if !self.reporting {
            return;
        }
        let headers: Vec<Value> = o.headers.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect();
        let input = json!({
            "captureId": q.capture.id,
            "listener": self.name,
            "target": url.as_str(),
            "missed": q.missed,
            "durable": self.plan.name.is_some(),
            "maxAttempts": self.plan.max_attempts,
            "last": last,
            "attempt": {
                "startedAt": started_at.to_rfc3339(),
                "latencyMs": o.latency_ms.min(i32::MAX as u64),
                "responseStatus": o.status,
                "error": o.error,
                "errorMessage": o.message,
                "responseHeaders": headers,
                "responseBodyBase64": B64.encode(&o.body),
                "responseTruncated": o.truncated,
            },
        });
        let q = "mutation($input: ReportListenerAttemptInput!) { reportListenerAttempt(input: $input) { id } }";
        // A few tries: a server restarting should not lose the record, nor stall forwarding long.
        for wait in [Duration::from_millis(200), Duration::from_secs(1), Duration::ZERO] {
            match self.client.query::<Value>(q, json!({ "input": input })).await {
                Ok(_) => return,
                Err(e) if wait.is_zero() => {
                    eprintln!("note: could not report the attempt to Hookmetry: {e}");
                    return;
                }
                Err(CliError::Unreachable { .. } | CliError::Timeout { .. } | CliError::Transport { .. }) => {
                    tokio::time::sleep(wait).await
                }
                Err(e) if e.code() == Some("FORBIDDEN") => {
                    eprintln!(
                        "note: this token may not record attempts ({e}); forwarding goes on, but teammates will not see these deliveries and a named listener keeps no cursor"
                    );
                    self.reporting = false;
                    return;
                }
                Err(e) => {
                    eprintln!("note: could not report the attempt to Hookmetry: {e}");
                    return;
                }
            }
        }
    }
}

/// The `AttemptError` enum value a failure is reported as.
fn error_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Refused => "REFUSED",
        FailureKind::Connect => "CONNECT",
        FailureKind::Timeout => "TIMEOUT",
        FailureKind::Tls => "TLS",
        FailureKind::Reset => "RESET",
        FailureKind::Unsendable | FailureKind::Protocol | FailureKind::TooManyRedirects => "OTHER",
    }
}

/// One output line: the capture, where it went, and what happened.
fn line(c: &Capture, url: &Url, attempt: &str, o: &Outcome, note: &str) -> String {
    format!("{} {} {} -> {url}: {attempt}{}{note}\n", c.id, c.method, format::escape_text(&c.path, false), describe(o))
}

fn describe(o: &Outcome) -> String {
    let what = match (o.status, &o.message) {
        (Some(s), None) => s.to_string(),
        // "answered 503 Service Unavailable" says no more than the status.
        (Some(s), Some(m)) if m.starts_with("answered ") => s.to_string(),
        (Some(s), Some(m)) => format!("{s} ({})", format::escape_text(m, false)),
        (None, Some(m)) => format::escape_text(m, false),
        (None, None) => "no answer".into(),
    };
    format!("{what} in {} ms", o.latency_ms)
}

/// Capped exponential backoff without jitter: one listener retries one local server, so there
/// is no crowd to spread out.
fn retry_delay(attempts_made: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts_made.saturating_sub(1)).unwrap_or(u32::MAX);
    RETRY_INITIAL.saturating_mul(factor).min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Header;

    fn args(extra: &[&str]) -> Result<Plan, CliError> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            listen: ListenArgs,
        }
        let mut argv = vec!["hookmetry", "ep"];
        argv.extend_from_slice(extra);
        let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
        Plan::of(&cli.listen)
    }

    fn capture(method: &str, path: &str, query: Option<&str>, headers: &[(&str, &str)]) -> Capture {
        Capture {
            id: "c".into(),
            endpoint_id: "e".into(),
            team_id: "t".into(),
            method: method.into(),
            path: path.into(),
            query: query.map(Into::into),
            headers: headers
                .iter()
                .map(|(n, v)| Header { name: (*n).into(), value: (*v).into(), value_base64: B64.encode(v) })
                .collect(),
            body_base64: String::new(),
            body_text: None,
            body_size: 0,
            body_sha256: String::new(),
            remote_addr: String::new(),
            http_version: String::new(),
            received_at: String::new(),
            content_type: None,
            url: String::new(),
            verification: None,
        }
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let cases = [
            (vec!["--forward-to", "localhost:3000"], "`--forward-to` must be an http:// or https:// URL"),
            (vec!["--forward-to", "ftp://h/x"], "`--forward-to` must be an http:// or https:// URL"),
            (vec!["--forward-to", "http://h", "--path-map", "stripe=/s"], "`--path-map` must be FROM=TO"),
            (vec!["--forward-to", "http://h", "--path-map", "/stripe"], "`--path-map` must be FROM=TO"),
            (vec!["--forward-to", "http://h", "--name", "a:b"], "`--name` must be 1 to 64"),
            (vec!["--forward-to", "http://h", "--method", "PO ST"], "`--method` must be an HTTP method"),
            (vec!["--forward-to", "http://h", "--path-prefix", "x"], "`--path-prefix` must start with `/`"),
            (vec!["--forward-to", "http://h", "--header", "a b:c"], "`--header` must be NAME or NAME:CONTAINS"),
            (vec!["--forward-to", "http://h", "--max-attempts", "0"], "`--max-attempts` must be 1 to 1000"),
        ];
        for (flags, want) in cases {
            let e = args(&flags).unwrap_err().to_string();
            assert!(e.starts_with(want), "{flags:?}: {e}");
        }
    }

    #[test]
    fn path_maps_rewrite_the_first_matching_prefix_and_keep_the_query() {
        let plan = args(&[
            "--forward-to",
            "http://localhost:3000/hooks?k=1",
            "--path-map",
            "/stripe=/payments/stripe",
            "--path-map",
            "/=/other",
        ])
        .unwrap();
        let url = |path: &str, query: Option<&str>| plan.url_for(&capture("POST", path, query, &[])).to_string();
        assert_eq!(
            url("/stripe/events", Some("live=1")),
            "http://localhost:3000/hooks/payments/stripe/events?k=1&live=1"
        );
        assert_eq!(url("/github", None), "http://localhost:3000/hooks/other/github?k=1");
        let plain = args(&["--forward-to", "http://localhost:3000/"]).unwrap();
        assert_eq!(plain.url_for(&capture("POST", "/", None, &[])).as_str(), "http://localhost:3000/");
        assert_eq!(plain.url_for(&capture("POST", "/a", Some("x=1"), &[])).as_str(), "http://localhost:3000/a?x=1");
    }

    #[test]
    fn filters_choose_by_method_path_and_header() {
        let plan = args(&[
            "--forward-to",
            "http://h",
            "--method",
            "POST",
            "--path-prefix",
            "/stripe",
            "--header",
            "Stripe-Signature:v1=",
        ])
        .unwrap();
        assert!(plan.wants(&capture("POST", "/stripe/x", None, &[("stripe-signature", "t=1,v1=ab")])));
        assert!(!plan.wants(&capture("PUT", "/stripe/x", None, &[("stripe-signature", "t=1,v1=ab")])));
        assert!(!plan.wants(&capture("POST", "/github", None, &[("stripe-signature", "t=1,v1=ab")])));
        assert!(!plan.wants(&capture("POST", "/stripe/x", None, &[("stripe-signature", "t=1")])));
        let present = args(&["--forward-to", "http://h", "--header", "x-github-event"]).unwrap();
        assert!(present.wants(&capture("GET", "/", None, &[("X-GitHub-Event", "push")])));
        assert!(!present.wants(&capture("GET", "/", None, &[])));
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let waits: Vec<u128> = (1..=7).map(|n| retry_delay(n).as_millis()).collect();
        assert_eq!(waits, [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(retry_delay(200), RETRY_MAX);
    }
}
