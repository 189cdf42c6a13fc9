//! `hookmetry tail <endpoint>`: captures as they arrive, one line each, through the
//! `captureReceived` subscription over WebSocket (`graphql-transport-ws`).
//!
//! A tail shows the captures stored from the moment it is live; what was stored before is
//! history (`capture show`, the `captures` query). The stream survives what ends a subscription
//! without being the user's fault: a dropped connection, a restarted server, or the server's
//! `LAGGED` end when the terminal reads too slowly. Each time it resubscribes (with backoff while
//! the server is unreachable) and then pages `captures` for everything newer than the last
//! capture it printed, so nothing that arrived in between is silently missing. Ids order
//! captures (UUIDv7, the store's page order), which is what "newer" means here.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{Client, Connection};
use crate::endpoint;
use crate::error::{self, CliError, GqlError};
use crate::format;
use crate::history;
use crate::model::{CAPTURE_FIELDS, CAPTURE_LINE_FIELDS, Capture, Endpoint};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Endpoint id, or the exact name of one endpoint of the team.
    pub endpoint: String,
    /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// One JSON object per capture and line, with every field (the body in `bodyBase64`).
    #[arg(long)]
    pub json: bool,
}

/// How long to wait after subscribing before saying the tail is live and reading what was
/// missed: the server registers a subscription a moment after receiving it, and the protocol
/// does not say when.
pub(crate) const SETTLE: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// A protocol ping this often; a connection silent for `SILENCE_LIMIT` is taken as dead (a NAT
/// or proxy that dropped it without a close would otherwise leave the tail waiting forever).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(15);
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Most captures fetched after one interruption; the newest are kept.
const CATCH_UP_MAX: usize = 1000;
/// Ids remembered to avoid printing a capture twice when the subscription and the catch-up
/// both deliver it.
const RECENT_IDS: usize = 4096;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a session (one connection, one subscription) ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Not worth retrying: bad token, endpoint gone, output closed.
    Fatal(CliError),
    /// The server dropped the subscription because the client fell behind.
    Lagged(String),
    /// Connection trouble; retried with backoff.
    Dropped(String),
}

pub(crate) async fn run(args: TailArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let endpoint = endpoint::resolve(&client, &args.endpoint, args.team.as_deref()).await?;
    let mut tail = Tail {
        client,
        endpoint,
        json: args.json,
        out,
        last_seen: None,
        recent: Recent::default(),
        backoff: Backoff::default(),
        live_before: false,
        history_until: None,
    };
    tokio::select! {
        r = tail.run() => r,
        // Ctrl-C is how a tail is meant to end.
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

struct Tail<'a> {
    client: Client,
    endpoint: Endpoint,
    json: bool,
    out: &'a mut Output,
    /// The newest capture id printed, or stored when the tail went live.
    last_seen: Option<String>,
    recent: Recent,
    backoff: Backoff,
    /// Whether a session went live before, i.e. the current one is a reconnection.
    live_before: bool,
    /// The newest capture stored when the tail first went live. A capture stored just before
    /// the start can still be announced just after it (the processor stores, then announces):
    /// it is history, and is not printed.
    history_until: Option<String>,
}

/// One incoming WebSocket message, interpreted.
pub(crate) enum Step {
    Capture(Box<Capture>),
    Continue,
    End(End),
}

impl Tail<'_> {
    async fn run(&mut self) -> Result<(), CliError> {
        loop {
            match self.session().await {
                End::Fatal(e) => return Err(e),
                End::Lagged(message) => eprintln!(
                    "note: the server ended the live stream because this terminal fell behind ({message}); \
                     resubscribing and fetching what was missed"
                ),
                End::Dropped(reason) => {
                    let wait = self.backoff.next_delay();
                    eprintln!("note: {reason}; reconnecting in {}", seconds(wait));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn selection(&self) -> &'static str {
        if self.json { CAPTURE_FIELDS } else { CAPTURE_LINE_FIELDS }
    }

    async fn session(&mut self) -> End {
        let mut ws = match connect(&self.client).await {
            Ok(ws) => ws,
            Err(end) => return end,
        };
        if let Err(end) = handshake(&self.client, &mut ws).await {
            return end;
        }
        self.backoff.reset();
        let query = format!("subscription($e: ID!) {{ captureReceived(endpointId: $e) {{ {} }} }}", self.selection());
        let subscribe = json!({
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": query,
                "variables": { "e": self.endpoint.id },
            },
        });
        if let Err(e) = ws.send(Message::text(subscribe.to_string())).await {
            return dropped(&e);
        }

        // Captures arriving while we settle and catch up wait here, so output stays in order.
        let mut pending = Vec::new();
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = &mut settle => break,
                m = ws.next() => match incoming(&self.client, &self.endpoint, m, &mut ws).await {
                    Step::Capture(c) => pending.push(c),
                    Step::Continue => {}
                    Step::End(end) => return end,
                },
            }
        }
        let (shown, truncated) = if self.live_before {
            match self.catch_up().await {
                Ok(r) => r,
                Err(e) => return self.end_for(e),
            }
        } else {
            // First time live: what is stored already is history, not news. The newest stored
            // capture is where a later catch-up starts if nothing is printed before then.
            match self.newest_id().await {
                Ok(newest) => {
                    self.history_until.clone_from(&newest);
                    self.last_seen = self.last_seen.take().max(newest);
                }
                Err(e) => return self.end_for(e),
            }
            (0, false)
        };
        for c in pending {
            if let Err(e) = self.emit(*c) {
                return End::Fatal(e);
            }
        }
        self.announce(shown, truncated);

        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                m = ws.next() => {
                    last_heard = Instant::now();
                    match incoming(&self.client, &self.endpoint, m, &mut ws).await {
                        Step::Capture(c) => {
                            if let Err(e) = self.emit(*c) {
                                return End::Fatal(e);
                            }
                        }
                        Step::Continue => {}
                        Step::End(end) => return end,
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= SILENCE_LIMIT {
                        return End::Dropped(format!("no answer from the server for {}", seconds(SILENCE_LIMIT)));
                    }
                    if let Err(e) = ws.send(Message::text(r#"{"type":"ping"}"#)).await {
                        return dropped(&e);
                    }
                }
            }
        }
    }

    fn announce(&mut self, shown: usize, truncated: bool) {
        let e = &self.endpoint;
        if !self.live_before {
            self.live_before = true;
            let what = if self.json {
                "one JSON object per capture".to_string()
            } else {
                "one line per capture: time (UTC), method, path, body size, content type, capture id".to_string()
            };
            eprintln!("tailing endpoint `{}` ({}): {what}; Ctrl-C to stop", e.name, e.id);
        } else if shown == 0 {
            eprintln!("note: live again; no capture arrived meanwhile");
        } else {
            let s =
                if shown == 1 { "capture that arrived meanwhile is" } else { "captures that arrived meanwhile are" };
            eprintln!("note: live again; {shown} {s} shown above");
        }
        if truncated {
            eprintln!(
                "note: more than {CATCH_UP_MAX} captures arrived meanwhile; the newest {CATCH_UP_MAX} are shown \
                 and older ones can be read with the `captures` query ({}/graphql)",
                self.client.base
            );
        }
    }

    /// A failed HTTP query during a session: network trouble is retried, the rest is final.
    fn end_for(&self, e: CliError) -> End {
        match e {
            CliError::Unreachable { .. } | CliError::Timeout { .. } | CliError::Transport { .. } => {
                End::Dropped(e.to_string())
            }
            CliError::Server { code: Some(ref c), .. } if c == "NOT_FOUND" => End::Fatal(gone(&self.endpoint)),
            CliError::Server { code: Some(ref c), .. } if c == "UNAVAILABLE" || c == "INTERNAL" => {
                End::Dropped(e.to_string())
            }
            e => End::Fatal(e),
        }
    }

    /// The newest capture id of the endpoint: where catching up starts if nothing is printed.
    async fn newest_id(&self) -> Result<Option<String>, CliError> {
        history::newest_id(&self.client, &self.endpoint.id).await
    }

    /// Prints, oldest first, the captures newer than `last_seen` (at most `CATCH_UP_MAX`, the
    /// newest ones). Returns how many were printed and whether some were left out.
    async fn catch_up(&mut self) -> Result<(usize, bool), CliError> {
        let (missed, truncated) = history::captures_since(
            &self.client,
            &self.endpoint.id,
            self.last_seen.as_deref(),
            self.selection(),
            CATCH_UP_MAX,
        )
        .await?;
        let mut shown = 0;
        for c in missed {
            if self.emit(c)? {
                shown += 1;
            }
        }
        Ok((shown, truncated))
    }

    /// Prints a capture unless it was printed already; returns whether it printed.
    fn emit(&mut self, c: Capture) -> Result<bool, CliError> {
        // Ids are time-ordered (UUIDv7), so at or below the start's newest is history.
        if self.history_until.as_deref().is_some_and(|until| c.id.as_str() <= until) {
            return Ok(false);
        }
        if !self.recent.insert(&c.id) {
            return Ok(false);
        }
        if self.last_seen.as_deref().is_none_or(|seen| c.id.as_str() > seen) {
            self.last_seen = Some(c.id.clone());
        }
        if self.json {
            self.out.json_line(&c)?;
        } else {
            let mut line = format::tail_line(&c);
            line.push('\n');
            self.out.text(&line)?;
        }
        Ok(true)
    }
}

pub(crate) async fn connect(client: &Client) -> Result<Ws, End> {
    let base = &client.base;
    let mut request = client
        .ws_url()
        .into_client_request()
        .map_err(|e| End::Fatal(CliError::BadUrl(format!("does not give a WebSocket URL: {e}"))))?;
    let headers = request.headers_mut();
    headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    // Also in connection_init; the header makes a bad token fail before the upgrade with
    // the server's explanation in an HTTP body.
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", client.token)) {
        headers.insert("Authorization", v);
    }
    // Captures are as large as the server accepts (`--json` carries the whole body).
    let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => Err(End::Dropped(format!("cannot reach Hookmetry at {base}: timed out"))),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            Err(match status {
                401 | 403 => End::Fatal(
                    client.explain(
                        error::decode_response::<Value>(base, status, &body)
                            .err()
                            .unwrap_or_else(|| error::unauthorized(&format!("HTTP {status}"))),
                    ),
                ),
                404 => End::Fatal(CliError::Protocol {
                    url: base.clone(),
                    detail: "it has no /graphql/ws for live captures".into(),
                }),
                _ => End::Dropped(format!("the server refused the live connection with HTTP {status}")),
            })
        }
        Ok(Err(tungstenite::Error::Io(e))) => {
            Err(End::Dropped(format!("cannot reach Hookmetry at {base}: {}", error::io_reason(&e))))
        }
        Ok(Err(e)) => Err(End::Dropped(format!("cannot open the live connection to {base}: {e}"))),
    }
}

/// `connection_init` with the token, until `connection_ack`.
pub(crate) async fn handshake(client: &Client, ws: &mut Ws) -> Result<(), End> {
    let init = json!({
        "type": "connection_init",
        "payload": { "authorization": format!("Bearer {}", client.token) },
    });
    ws.send(Message::text(init.to_string())).await.map_err(|e| dropped(&e))?;
    let wait_ack = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => match message_type(&text).as_deref() {
                    Some("connection_ack") => return Ok(()),
                    Some("ping") => ws.send(Message::text(r#"{"type":"pong"}"#)).await.map_err(|e| dropped(&e))?,
                    _ => {}
                },
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(if reason.starts_with("not authenticated") {
                        End::Fatal(client.explain(error::unauthorized(&reason)))
                    } else {
                        End::Dropped(closed_because(&reason))
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(dropped(&e)),
                None => return Err(End::Dropped("the server closed the connection".into())),
            }
        }
    };
    tokio::time::timeout(ACK_TIMEOUT, wait_ack)
        .await
        .unwrap_or_else(|_| Err(End::Dropped(format!("no connection_ack within {}", seconds(ACK_TIMEOUT)))))
}

pub(crate) async fn incoming(
    client: &Client,
    endpoint: &Endpoint,
    m: Option<Result<Message, tungstenite::Error>>,
    ws: &mut Ws,
) -> Step {
    let text = match m {
        None => return Step::End(End::Dropped("the server closed the connection".into())),
        Some(Err(e)) => return Step::End(dropped(&e)),
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(Message::Close(frame))) => {
            let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
            return Step::End(End::Dropped(closed_because(&reason)));
        }
        // WebSocket pings are answered by tungstenite itself.
        Some(Ok(_)) => return Step::Continue,
    };
    #[derive(Deserialize)]
    struct ServerMessage {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        payload: Value,
    }
    let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) else {
        return Step::End(protocol_error(client, "a WebSocket message is not graphql-transport-ws JSON"));
    };
    match msg.kind.as_str() {
        "next" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                capture_received: Capture,
            }
            #[derive(Deserialize)]
            struct Payload {
                data: Option<Data>,
                #[serde(default)]
                errors: Vec<GqlError>,
            }
            match serde_json::from_value::<Payload>(msg.payload) {
                Ok(p) if !p.errors.is_empty() => Step::End(classify(&p.errors, endpoint)),
                Ok(Payload { data: Some(d), .. }) => Step::Capture(Box::new(d.capture_received)),
                Ok(_) => Step::Continue,
                Err(e) => Step::End(protocol_error(client, &format!("a live capture has an unexpected shape ({e})"))),
            }
        }
        "error" => {
            let errors: Vec<GqlError> = serde_json::from_value(msg.payload).unwrap_or_default();
            Step::End(classify(&errors, endpoint))
        }
        "complete" => Step::End(End::Dropped("the server ended the subscription".into())),
        "ping" => match ws.send(Message::text(r#"{"type":"pong"}"#)).await {
            Ok(()) => Step::Continue,
            Err(e) => Step::End(dropped(&e)),
        },
        _ => Step::Continue,
    }
}

fn protocol_error(client: &Client, detail: &str) -> End {
    End::Fatal(CliError::Protocol { url: client.base.clone(), detail: detail.to_string() })
}

fn message_type(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).ok()?.get("type")?.as_str().map(str::to_owned)
}

pub(crate) fn dropped(e: &tungstenite::Error) -> End {
    End::Dropped(match e {
        tungstenite::Error::Io(io) => format!("the live connection failed: {}", error::io_reason(io)),
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            "the server closed the connection".to_string()
        }
        other => format!("the live connection failed: {other}"),
    })
}

fn closed_because(reason: &str) -> String {
    if reason.is_empty() {
        "the server closed the connection".to_string()
    } else {
        format!("the server closed the connection ({reason})")
    }
}

fn gone(e: &Endpoint) -> CliError {
    CliError::NotFound(format!("endpoint `{}` ({}) no longer exists; the live stream ended", e.name, e.id))
}

/// What a subscription error means for the tail. Messages are matched as well as codes:
/// subscription errors may reach the client without `extensions.code`.
fn classify(errors: &[GqlError], endpoint: &Endpoint) -> End {
    let Some(first) = errors.first() else { return End::Dropped("the server ended the subscription".into()) };
    let message = first.message.as_str();
    let code = first.code().unwrap_or(match message {
        m if m.starts_with("subscriber lagged") => "LAGGED",
        m if m.starts_with("not authenticated") => "UNAUTHENTICATED",
        m if m.ends_with(" not found") => "NOT_FOUND",
        m if m.starts_with("service unavailable") || m.contains("api.max_subscribers") => "UNAVAILABLE",
        m if m.starts_with("internal error") => "INTERNAL",
        _ => "",
    });
    match code {
        "LAGGED" => End::Lagged(message.to_string()),
        "UNAUTHENTICATED" => End::Fatal(error::unauthorized(message)),
        "NOT_FOUND" => End::Fatal(gone(endpoint)),
        // Capacity and outages pass; retrying is what a tail should do.
        "UNAVAILABLE" | "INTERNAL" | "LIMIT_EXCEEDED" => End::Dropped(format!("the live stream ended: {message}")),
        _ => End::Fatal(error::from_graphql_errors(errors)),
    }
}

/// The last `RECENT_IDS` capture ids printed.
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    /// `false` when `id` is already there.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id.to_string());
        self.set.insert(id.to_string());
        true
    }
}

/// Reconnection delays: quick at first, then at most every 15 s.
#[derive(Default)]
pub(crate) struct Backoff {
    attempt: usize,
}

impl Backoff {
    const STEPS_MS: [u64; 6] = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

    pub(crate) fn next_delay(&mut self) -> Duration {
        let ms = Self::STEPS_MS[self.attempt.min(Self::STEPS_MS.len() - 1)];
        self.attempt += 1;
        Duration::from_millis(ms)
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{s:.0}s") } else { format!("{s:.1}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            id: "e1".into(),
            team_id: "t".into(),
            name: "stripe".into(),
            token: "tok".into(),
            url: "u".into(),
            response: None,
            created_at: "c".into(),
            expires_at: None,
            max_captures: None,
        }
    }

    fn errors(json: &str) -> Vec<GqlError> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn subscription_errors_are_retried_or_final() {
        let ep = endpoint();
        let lagged =
            errors(r#"[{"message":"subscriber lagged: 256 captures were waiting","extensions":{"code":"LAGGED"}}]"#);
        assert!(matches!(classify(&lagged, &ep), End::Lagged(m) if m.starts_with("subscriber lagged")));
        // Without a code the message still tells.
        let lagged = errors(r#"[{"message":"subscriber lagged: 256 captures were waiting"}]"#);
        assert!(matches!(classify(&lagged, &ep), End::Lagged(_)));

        let gone = errors(r#"[{"message":"endpoint not found","extensions":{"code":"NOT_FOUND"}}]"#);
        match classify(&gone, &ep) {
            End::Fatal(e) => {
                assert_eq!(e.to_string(), "endpoint `stripe` (e1) no longer exists; the live stream ended")
            }
            other => panic!("{other:?}"),
        }
        let revoked = errors(r#"[{"message":"not authenticated: the token was revoked"}]"#);
        match classify(&revoked, &ep) {
            End::Fatal(e) => assert_eq!(e.to_string(), "the token was not accepted: the token was revoked"),
            other => panic!("{other:?}"),
        }
        let busy =
            errors(r#"[{"message":"this API node already serves 10 live subscriptions (api.max_subscribers)"}]"#);
        assert!(matches!(classify(&busy, &ep), End::Dropped(_)));
        let invalid = errors(r#"[{"message":"Unknown field","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]"#);
        assert!(matches!(classify(&invalid, &ep), End::Fatal(CliError::Server { .. })));
    }

    #[test]
    fn backoff_grows_to_a_ceiling_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
        assert_eq!(seconds(Duration::from_millis(500)), "0.5s");
        assert_eq!(seconds(Duration::from_secs(15)), "15s");
    }

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut r = Recent::default();
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        for i in 0..RECENT_IDS {
            r.insert(&i.to_string());
        }
        assert!(r.insert("a"), "forgotten after RECENT_IDS newer ids");
        assert_eq!(r.order.len(), RECENT_IDS);
        assert_eq!(r.set.len(), RECENT_IDS);
    }
}
