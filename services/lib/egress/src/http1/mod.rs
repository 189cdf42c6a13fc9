//! An HTTP/1.1 client that puts a forwarded request on the wire exactly as it was captured.
//!
//! Forwarding promises the receiver the captured request: the body byte for byte, and the
//! header section in its order, with repeated names where they were and each name in its case.
//! reqwest and hyper hold headers in a `HeaderMap`, which lowercases names and groups a repeated
//! name's values at its first place (`A:1, B:2, A:3` goes out as `a:1, a:3, b:2`), so they
//! cannot keep that promise. This client writes the request head itself and reads the answer
//! with `httparse`. It speaks HTTP/1.1 only, over TCP or TLS (rustls), which every webhook
//! receiver accepts, and keeps connections alive between requests to the same target
//! ([`PoolSettings`]).
//!
//! Every connection goes through the [`EgressPolicy`]: the first URL and every redirect target
//! pass [`check_url`], and a host name is resolved here and only the addresses the policy allows
//! are connected to (see [`crate::resolve_allowed`]). A kept-alive connection stays connected
//! to the address checked when it was opened (see `pool.rs`).

mod connect;
mod encode;
mod pool;
mod read;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio_rustls::rustls::ClientConfig;
use url::Url;

use crate::error::EgressError;
use crate::policy::EgressPolicy;
use crate::url_check::check_url;
use crate::{MAX_REDIRECTS, human_duration};
use connect::{Conn, ConnectError, connect, tls_config};
pub use pool::PoolSettings;
use pool::{Key, Pool};
use read::{Framing, ReadError, Reader};

/// How a [`Client`] behaves.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Which addresses may be connected to.
    pub policy: EgressPolicy,
    /// TCP connect and TLS handshake, per connection.
    pub connect_timeout: Duration,
    /// From the start until the answer's body is read (as far as it is kept), redirects included.
    pub total_timeout: Duration,
    /// The most of a response body an exchange keeps; reading stops there.
    pub max_response_body_bytes: usize,
    /// Follow up to [`MAX_REDIRECTS`] redirects (each target checked like the first), or answer
    /// with the redirect itself.
    pub follow_redirects: bool,
    /// Root certificates (DER) trusted besides the built-in Mozilla roots.
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// Which connections are kept for later requests, and for how long.
    pub pool: PoolSettings,
}

/// The request to send. `headers` go out as given, after `Host`; see [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

/// What came back, as far as it came, and why it stopped short if it did. A non-2xx answer is an
/// answer, not a failure.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// The final answer's status (after redirects), if one arrived.
    pub status: Option<u16>,
    /// Its headers as received: order, repeats, each name's case.
    pub headers: Vec<(String, Bytes)>,
    /// Its body, up to the limit, or as much as arrived before a failure.
    pub body: Bytes,
    /// The body was longer than the limit; the rest was not read.
    pub truncated: bool,
    /// `host:port` of the last target connected to (the full URL may carry tokens).
    pub target: String,
    pub failure: Option<Failure>,
}

/// Why an exchange did not complete: a kind to count and retry by, and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The policy refused the target or a redirect's; nothing was connected to.
    Refused,
    /// No connection: refused, unreachable, or the name did not resolve.
    Connect,
    /// A timeout: connect, or the total.
    Timeout,
    /// The TLS handshake or the TLS layer failed.
    Tls,
    /// The connection broke before or during the answer.
    Reset,
    /// The request cannot be written (a bad method, header name or value); nothing was sent.
    Unsendable,
    /// The answer was not valid HTTP/1.x, or went over a limit on its head.
    Protocol,
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
}

/// Sends requests under an [`EgressPolicy`], writing the head itself.
///
/// # What reaches the wire
///
/// The request line is the method as given and the URL's path and query as the `url` crate
/// holds them. Then `Host` (the URL's host, with its port when not the default), then every
/// header of the request in its order, with its name's case and repeats, values byte for byte
/// (obs-text included), then `Authorization: Basic …` when the URL has user info and the
/// request no `Authorization`, then `Content-Length` (for any non-empty body, and `0` for
/// methods that normally have a body). Nothing else is added: no `Accept`, no `User-Agent`, no
/// `Connection`. The body follows byte for byte. A request sent on a kept-alive connection goes
/// out byte for byte as it would on a new one.
///
/// # Connections
///
/// A connection whose answer was read to its end, with nothing after it, and that neither side
/// asked to close (`Connection: close`, or an HTTP/1.0 answer without `keep-alive`) is kept for
/// the next request to the same scheme, host and port ([`PoolSettings`]); an answer cut at the
/// body limit, read until close, or a redirect, closes it. Clones share the kept connections. If
/// a kept connection turns out closed before any byte of an answer arrived, the request is sent
/// again on a new connection.
#[derive(Clone)]
pub struct Client {
    settings: Arc<ClientSettings>,
    tls: Arc<ClientConfig>,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// How far an exchange got; survives the total timeout cancelling it.
#[derive(Default)]
struct Progress {
    phase: Phase,
    target: String,
    status: Option<u16>,
    headers: Vec<(String, Bytes)>,
    body: BytesMut,
    truncated: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    #[default]
    Connect,
    /// Sending, and waiting for the status and headers.
    Request,
    /// Reading the body.
    Body,
}

impl Client {
    /// Fails only when an extra root certificate cannot be used.
    pub fn new(settings: ClientSettings) -> Result<Self, String> {
        let tls = tls_config(&settings.extra_root_certificates)?;
        let pool = Arc::new(Pool::new(settings.pool));
        Ok(Self { settings: Arc::new(settings), tls, pool })
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Sends `req` and reads the answer. Never fails: what went wrong is in
    /// [`Exchange::failure`], with whatever had arrived by then.
    pub async fn send(&self, req: &Request<'_>) -> Exchange {
        let mut progress = Progress { target: host_port(req.url), ..Progress::default() };
        let outcome = match precheck(req, &self.settings.policy) {
            Err(failure) => Err(failure),
            Ok(()) => match tokio::time::timeout(self.settings.total_timeout, self.run(req, &mut progress)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(self.total_timeout(&progress)),
            },
        };
        Exchange {
            status: progress.status,
            headers: progress.headers,
            body: progress.body.freeze(),
            truncated: progress.truncated,
            target: progress.target,
            failure: outcome.err(),
        }
    }

    fn total_timeout(&self, p: &Progress) -> Failure {
        let total = human_duration(self.settings.total_timeout);
        let target = &p.target;
        let message = match p.phase {
            Phase::Connect => format!("could not connect to {target} within the {total} total timeout"),
            Phase::Request => format!("{target} did not answer within the {total} total timeout"),
            Phase::Body => format!("{target} did not finish its answer within the {total} total timeout"),
        };
        Failure { kind: FailureKind::Timeout, message }
    }

    async fn run(&self, req: &Request<'_>, p: &mut Progress) -> Result<(), Failure> {
        let settings = &*self.settings;
        let mut url = req.url.clone();
        let mut method = req.method;
        let mut headers: Vec<(&str, &[u8])> = req.headers.to_vec();
        let mut body = req.body;
        let mut redirects = 0;
        loop {
            p.target = host_port(&url);
            let key = Key::of(&url);
            let head = encode::request_head(method, &url, headers.iter().copied(), body.len());
            let mut pooled = self.pool.take(&key);
            let (mut reader, answer) = loop {
                let reused = pooled.is_some();
                let mut reader = match pooled.take() {
                    Some(reader) => reader,
                    None => Reader::new(self.connect(&url, p).await?),
                };
                p.phase = Phase::Request;
                reader.begin();
                let written = write_request(&mut reader, &head, body).await;
                // A receiver may answer (413, say) and close before taking the whole body; its
                // answer says more than the broken write.
                let answer = reader.head().await;
                match (written, answer) {
                    (_, Ok(answer)) => break (reader, answer),
                    // The server closed a kept-alive connection as it was being reused: it
                    // answered nothing, so the request goes again on a new connection (as a
                    // receiver that took it and died would see at-least-once delivery anyway).
                    (_, Err(ReadError::Closed | ReadError::Io(_))) if reused && !reader.received_any() => {
                        tracing::debug!(target = %p.target, "kept-alive connection was closed; sending on a new one");
                    }
                    (Err(e), Err(_)) => return Err(read_failure(ReadError::Io(e), &p.target, Phase::Request)),
                    (Ok(()), Err(e)) => return Err(read_failure(e, &p.target, Phase::Request)),
                }
            };
            p.status = Some(answer.status);
            p.headers = answer.headers.clone();

            if settings.follow_redirects
                && matches!(answer.status, 301 | 302 | 303 | 307 | 308)
                && let Some(location) = answer.location()
            {
                if redirects == MAX_REDIRECTS {
                    let max = EgressError::TooManyRedirects { max: MAX_REDIRECTS };
                    return Err(failure(
                        FailureKind::TooManyRedirects,
                        format!("{max}; the last was from {}", p.target),
                    ));
                }
                let next = url.join(location).map_err(|e| {
                    failure(
                        FailureKind::Protocol,
                        format!("{} redirected to `{}`, which is not a URL ({e})", p.target, location.escape_debug()),
                    )
                })?;
                check_url(&next, &settings.policy)
                    .map_err(|e| policy_failure(e, &format!("{} redirected here", p.target)))?;
                // As browsers do (Fetch, "HTTP-redirect fetch"): 303 turns anything but HEAD into
                // a GET, and 301/302 turn a POST into one, without the body and what described it.
                let to_get = (answer.status == 303 && method != "HEAD")
                    || (matches!(answer.status, 301 | 302) && method == "POST");
                if to_get {
                    method = "GET";
                    body = &[];
                    headers.retain(|(n, _)| !is_body_header(n));
                }
                if origin(&next) != origin(&url) {
                    // Credentials meant for one site do not follow the request to another.
                    headers.retain(|(n, _)| !is_credential_header(n));
                }
                url = next;
                redirects += 1;
                continue;
            }

            p.phase = Phase::Body;
            let framing = answer.framing(method == "HEAD").map_err(|e| read_failure(e, &p.target, Phase::Body))?;
            p.truncated = reader
                .body(framing, settings.max_response_body_bytes, &mut p.body)
                .await
                .map_err(|e| read_failure(e, &p.target, Phase::Body))?;
            // Kept only when the next request's answer cannot be confused with this one's: read to
            // its end, nothing after it, and neither side asked to close.
            let reusable = !p.truncated
                && framing != Framing::UntilClose
                && reader.leftover() == 0
                && answer.keep_alive()
                && !asks_to_close(&headers);
            if reusable {
                self.pool.put(key, reader);
            }
            return Ok(());
        }
    }
}

impl Client {
    /// A new connection to `url`'s target, within the connect timeout.
    async fn connect(&self, url: &Url, p: &mut Progress) -> Result<Conn, Failure> {
        let settings = &*self.settings;
        p.phase = Phase::Connect;
        tokio::time::timeout(settings.connect_timeout, connect(url, &settings.policy, &self.tls))
            .await
            .map_err(|_| {
                failure(
                    FailureKind::Timeout,
                    format!(
                        "could not connect to {} within the {} connect timeout",
                        p.target,
                        human_duration(settings.connect_timeout)
                    ),
                )
            })?
            .map_err(|e| connect_failure(e, &p.target))
    }
}

/// Whether the request's own headers (an edited replay may carry one) ask to close after it.
fn asks_to_close(headers: &[(&str, &[u8])]) -> bool {
    headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("connection")
            && value.split(|b| *b == b',').any(|o| String::from_utf8_lossy(o).trim().eq_ignore_ascii_case("close"))
    })
}

async fn write_request(reader: &mut Reader<connect::Conn>, head: &[u8], body: &[u8]) -> io::Result<()> {
    let conn = reader.io_mut();
    if body.len() <= 16 * 1024 {
        // One write, one segment for a typical webhook.
        let mut all = Vec::with_capacity(head.len() + body.len());
        all.extend_from_slice(head);
        all.extend_from_slice(body);
        conn.write_all(&all).await?;
    } else {
        conn.write_all(head).await?;
        conn.write_all(body).await?;
    }
    conn.flush().await
}

/// The checks that need no network: the URL against the policy, the method and headers.
fn precheck(req: &Request<'_>, policy: &EgressPolicy) -> Result<(), Failure> {
    check_url(req.url, policy).map_err(|e| policy_failure(e, ""))?;
    encode::check_method(req.method).map_err(|e| failure(FailureKind::Unsendable, e.0))?;
    for (name, value) in req.headers {
        encode::check_header(name, value).map_err(|e| failure(FailureKind::Unsendable, e.0))?;
    }
    Ok(())
}

fn failure(kind: FailureKind, message: String) -> Failure {
    Failure { kind, message }
}

/// `context` says where a refused URL came from, when it was not the request's own.
fn policy_failure(e: EgressError, context: &str) -> Failure {
    let message = if context.is_empty() { e.to_string() } else { format!("{context}: {e}") };
    let kind = if e.is_refusal() { FailureKind::Refused } else { FailureKind::Connect };
    failure(kind, message)
}

fn connect_failure(e: ConnectError, target: &str) -> Failure {
    match e {
        ConnectError::Egress(e) => policy_failure(e, ""),
        ConnectError::Tcp(e) => failure(FailureKind::Connect, format!("could not connect to {target}: {e}")),
        ConnectError::Tls(e) => failure(FailureKind::Tls, format!("the TLS handshake with {target} failed: {e}")),
    }
}

fn read_failure(e: ReadError, target: &str, phase: Phase) -> Failure {
    let when = if phase == Phase::Body { "while it was answering" } else { "before it answered" };
    match e {
        ReadError::Closed if phase == Phase::Body => failure(
            FailureKind::Reset,
            format!("the connection to {target} broke {when}: it closed before the end of the body"),
        ),
        ReadError::Closed => {
            failure(FailureKind::Reset, format!("the connection to {target} broke {when}: it closed without an answer"))
        }
        // rustls reports a broken TLS record as InvalidData; TCP never does.
        ReadError::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            failure(FailureKind::Tls, format!("the TLS connection with {target} failed {when}: {e}"))
        }
        ReadError::Io(e) => failure(FailureKind::Reset, format!("the connection to {target} broke {when}: {e}")),
        ReadError::Malformed(what) => {
            failure(FailureKind::Protocol, format!("{target} did not answer in HTTP/1.1: it sent {what}"))
        }
    }
}

fn is_body_header(name: &str) -> bool {
    ["content-type", "content-encoding", "content-language", "content-location", "content-length"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn is_credential_header(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"].iter().any(|h| name.eq_ignore_ascii_case(h))
}

fn origin(url: &Url) -> (String, Option<String>, Option<u16>) {
    (url.scheme().to_string(), url.host_str().map(str::to_string), url.port_or_known_default())
}

/// `host:port` for messages: the full URL may carry tokens in its path or query.
pub fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}
