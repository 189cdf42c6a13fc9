//! One attempt of a delivery: send the request, record what came back or why nothing did.

use std::error::Error as StdError;
use std::io;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hookmetry_core::{Attempt, AttemptError, DeliveryId, Header, OutgoingRequest, Timestamp};
use hookmetry_egress::{EgressError, EgressPolicy, check_url, client_builder, egress_error};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use tracing::debug;

use crate::SettingError;
use crate::schedule::human;

/// How the replay worker's HTTP client behaves.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Which targets may be connected to.
    pub policy: EgressPolicy,
    /// `replay.connect_timeout`: TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// `replay.total_timeout`: from sending until the response body is read (as far as it is
    /// kept), connect included.
    pub total_timeout: Duration,
    /// `replay.max_response_body_bytes`: the most of a response body an attempt keeps.
    pub max_response_body_bytes: usize,
}

impl SenderSettings {
    /// Checks the values as configured; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        if self.connect_timeout.is_zero() {
            return Err(SettingError::new("replay.connect_timeout", "must be more than 0s, such as 5s"));
        }
        if self.total_timeout.is_zero() {
            return Err(SettingError::new("replay.total_timeout", "must be more than 0s, such as 30s"));
        }
        if self.total_timeout > Duration::from_secs(600) {
            return Err(SettingError::new(
                "replay.total_timeout",
                format!("is {}; it can be at most 10m", human(self.total_timeout)),
            ));
        }
        if self.max_response_body_bytes > 64 << 20 {
            return Err(SettingError::new(
                "replay.max_response_body_bytes",
                format!("is {}; it can be at most 67108864 (64 MiB)", self.max_response_body_bytes),
            ));
        }
        Ok(())
    }
}

/// The HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("could not set up the replay HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Sends delivery attempts through one pooled reqwest client that enforces the egress policy.
///
/// # What reaches the wire
///
/// The body is sent byte for byte with a `content-length`. Methods, header names and values are
/// sent as given (values byte for byte, obs-text included), with these differences that come
/// from reqwest and hyper and cannot be turned off through them:
///
/// - **Header names are lowercased** on HTTP/1.1 (always on HTTP/2). hyper can preserve case only
///   through an extension reqwest 0.12 does not expose; `ClientBuilder::http1_title_case_headers`
///   would send `X-Github-Event` for a captured `X-GitHub-Event`, which is no closer, so it is
///   not used. Header names are case-insensitive for every HTTP implementation.
/// - **Repeated headers are grouped**: headers go out in the order in which each name first
///   appears, and all values of a name are sent together, in their own order, at the place of
///   the first one. `A:1, B:2, A:3` goes out as `a:1, a:3, b:2`. Order is kept exactly whenever
///   no name repeats, which is by far the common case; the values of a repeated name keep their
///   relative order, which is the only order HTTP gives meaning to (RFC 9110 §5.3).
/// - After the forwarded headers come the ones the client adds: `accept: */*` unless the request
///   has an `Accept` header (reqwest's default header, which can be overridden but not removed),
///   then `host` for the target, then `content-length` (on HTTP/1.1; HTTP/2 sends the
///   `:authority` pseudo-header instead of `host`).
///
/// The `url` crate's normalization of the path is described on [`crate::outgoing_request`].
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    settings: SenderSettings,
}

impl Sender {
    pub fn new(settings: SenderSettings) -> Result<Self, SenderError> {
        settings.validate()?;
        let client = client_builder(&settings.policy)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            .build()
            .map_err(SenderError::Client)?;
        Ok(Self { client, settings })
    }

    pub fn settings(&self) -> &SenderSettings {
        &self.settings
    }

    /// Makes attempt `number` of delivery `delivery_id` and records how it went. Never fails:
    /// every failure is an [`Attempt`] with an [`AttemptError`] and a message for the user.
    ///
    /// A target the policy refuses is not connected to at all. A non-2xx answer is a
    /// [`AttemptError::Status`] failure with its status, headers and body kept. A failure while
    /// the body is read (reset, timeout) fails the attempt even after a 2xx status, with that
    /// status recorded: the receiver may have processed the request, and delivery is at least
    /// once. `latency_ms` runs from sending until the attempt ended.
    pub async fn attempt(&self, delivery_id: DeliveryId, number: u32, req: &OutgoingRequest) -> Attempt {
        let started_at = Timestamp::now();
        let start = Instant::now();
        let mut attempt = Attempt {
            delivery_id,
            number,
            started_at,
            latency_ms: 0,
            response_status: None,
            response_headers: Vec::new(),
            response_body: Bytes::new(),
            response_truncated: false,
            error: None,
            error_message: None,
        };
        let outcome = self.send(req, &mut attempt).await;
        attempt.latency_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err((class, message)) = outcome {
            attempt.error = Some(class);
            attempt.error_message = Some(message);
        }
        debug!(
            delivery = %delivery_id,
            attempt = number,
            status = attempt.response_status,
            error = attempt.error.map(AttemptError::as_str),
            latency_ms = attempt.latency_ms,
            "delivery attempt"
        );
        attempt
    }

    async fn send(&self, req: &OutgoingRequest, attempt: &mut Attempt) -> Result<(), (AttemptError, String)> {
        let url = Url::parse(&req.url)
            .map_err(|e| (AttemptError::Other, format!("the target URL is not a valid URL: {e}")))?;
        // reqwest connects to IP literals without the guarded resolver: this is their check.
        check_url(&url, &self.settings.policy).map_err(|e| {
            let class = if e.is_refusal() { AttemptError::Refused } else { AttemptError::Other };
            (class, e.to_string())
        })?;
        let target = host_port(&url);
        let request = build_request(req, url).map_err(|message| (AttemptError::Other, message))?;
        let mut response =
            self.client.execute(request).await.map_err(|e| self.describe(&e, &target, Phase::Request))?;

        let status = response.status();
        attempt.response_status = Some(status.as_u16());
        attempt.response_headers = response
            .headers()
            .iter()
            .map(|(name, value)| Header::new(name.as_str(), Bytes::copy_from_slice(value.as_bytes())))
            .collect();

        let limit = self.settings.max_response_body_bytes;
        let mut body = BytesMut::new();
        let read = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = limit - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        attempt.response_truncated = true;
                        // Dropping the response closes the connection instead of reading the rest
                        // to return it to the pool: the rest may be large or never end, and a
                        // new connection is cheap next to that.
                        break Ok(());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(self.describe(&e, &target, Phase::Body)),
            }
        };
        drop(response);
        attempt.response_body = body.freeze();
        read?;

        if !status.is_success() {
            let reason = status.canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
            return Err((AttemptError::Status, format!("{target} answered {}{reason}", status.as_u16())));
        }
        Ok(())
    }

    /// The class of a failed request and a sentence about it that includes the underlying cause.
    fn describe(&self, err: &reqwest::Error, target: &str, phase: Phase) -> (AttemptError, String) {
        let class = classify(err);
        let cause = cause(err);
        let message = match class {
            AttemptError::Refused => match egress_error(err) {
                Some(refusal) => refusal.to_string(),
                None => cause,
            },
            AttemptError::Timeout if err.is_connect() => format!(
                "could not connect to {target} within the {} connect timeout",
                human(self.settings.connect_timeout)
            ),
            AttemptError::Timeout => match phase {
                Phase::Request => {
                    format!("{target} did not answer within the {} total timeout", human(self.settings.total_timeout))
                }
                Phase::Body => format!(
                    "{target} did not finish its answer within the {} total timeout",
                    human(self.settings.total_timeout)
                ),
            },
            AttemptError::Connect => match egress_error(err) {
                Some(e @ (EgressError::Resolve { .. } | EgressError::NoAddresses { .. })) => format!("{e}"),
                _ => format!("could not connect to {target}: {cause}"),
            },
            AttemptError::Tls => format!("the TLS handshake with {target} failed: {cause}"),
            AttemptError::Reset => match phase {
                Phase::Request => format!("the connection to {target} broke before it answered: {cause}"),
                Phase::Body => format!("the connection to {target} broke while it was answering: {cause}"),
            },
            AttemptError::Status | AttemptError::Other => format!("the request to {target} failed: {cause}"),
        };
        (class, message)
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Until the response status and headers arrived.
    Request,
    /// Reading the response body.
    Body,
}

/// `host:port` for messages: the full URL may carry tokens in its path or query.
pub(crate) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

fn build_request(req: &OutgoingRequest, url: Url) -> Result<reqwest::Request, String> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("`{}` is not a valid HTTP method, so the request was not sent", req.method))?;
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in &req.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("`{}` is not a valid header name, so the request was not sent", h.name))?;
        let value = HeaderValue::from_bytes(&h.value).map_err(|_| {
            format!(
                "the value of header `{}` contains a line break or another control character, so the request was \
                 not sent",
                h.name
            )
        })?;
        headers.append(name, value);
    }
    let mut request = reqwest::Request::new(method, url);
    *request.headers_mut() = headers;
    *request.body_mut() = Some(req.body.clone().into());
    Ok(request)
}

/// Every error in `err`'s chain, the error an `io::Error` wraps included (`io::Error::source`
/// skips it and goes to that error's own source).
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e: &&'a (dyn StdError + 'static)| {
        match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        }
    })
}

fn io_kinds(err: &reqwest::Error) -> impl Iterator<Item = io::ErrorKind> + '_ {
    chain(err).filter_map(|e| e.downcast_ref::<io::Error>()).map(io::Error::kind)
}

/// What kind of failure `err` is, from reqwest's own flags and the errors it wraps.
pub(crate) fn classify(err: &reqwest::Error) -> AttemptError {
    if let Some(egress) = egress_error(err) {
        return match egress {
            e if e.is_refusal() => AttemptError::Refused,
            EgressError::TooManyRedirects { .. } => AttemptError::Other,
            // Failed or empty DNS answers.
            _ => AttemptError::Connect,
        };
    }
    if err.is_timeout() || io_kinds(err).any(|k| k == io::ErrorKind::TimedOut) {
        return AttemptError::Timeout;
    }
    if err.is_connect() {
        // rustls reports handshake failures as `InvalidData` I/O errors (certificate problems,
        // a server that does not speak TLS); TCP connects never fail that way.
        if io_kinds(err).any(|k| k == io::ErrorKind::InvalidData) {
            return AttemptError::Tls;
        }
        return AttemptError::Connect;
    }
    let broken_io = io_kinds(err).any(|k| {
        matches!(
            k,
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::NotConnected
        )
    });
    let closed_early = chain(err)
        .filter_map(|e| e.downcast_ref::<hyper::Error>())
        .any(|e| e.is_incomplete_message() || e.is_canceled() || e.is_closed());
    if broken_io || closed_early {
        return AttemptError::Reset;
    }
    AttemptError::Other
}

/// Wrappers in reqwest's and hyper's chains that say nothing the attempt's message does not.
const NOISE: [&str; 2] = ["request or response body error", "operation was canceled"];

/// The causes behind `err`, outermost first, without reqwest's own top line (which names the
/// full URL) and without wrappers that only repeat a kind ([`NOISE`], hyper-util's
/// "client error (…)").
pub(crate) fn cause(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(err).skip(1) {
        let text = e.to_string();
        let noise = text.starts_with("client error (") || NOISE.contains(&text.as_str());
        if noise || parts.last().is_some_and(|last| *last == text) {
            continue;
        }
        parts.push(text);
    }
    if parts.is_empty() {
        // Nothing below reqwest: its own text, without the URL.
        return without_url(err);
    }
    parts.join(": ")
}

/// reqwest's own text of `err` without the ` for url (…)` part.
fn without_url(err: &reqwest::Error) -> String {
    let text = err.to_string();
    match text.find(" for url (") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
