//! A small GraphQL-over-WebSocket client for tests and benchmarks.
//!
//! Speaks both subprotocols the API offers on `/graphql/ws`: `graphql-transport-ws` (the
//! current `graphql-ws` library protocol) and the legacy `graphql-ws` (Apollo's
//! subscriptions-transport-ws). Messages of both are normalised to one [`WsMessage`] type, so a
//! test can run the same assertions over either.
//!
//! ```ignore
//! let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(token)).await?;
//! let id = ws.subscribe("subscription($e: ID!) { captureReceived(endpointId: $e) { id } }", json!({"e": ep})).await?;
//! match ws.next_message(Duration::from_secs(5)).await? {
//!     Some(WsMessage::Next { payload, .. }) => { /* payload is {"data": …} or {"errors": […]} */ }
//!     other => panic!("{other:?}"),
//! }
//! ws.close().await?;
//! ```
//!
//! Keep-alives never reach the caller: a protocol `ping` is answered with `pong`, `pong` and the
//! legacy `ka` are dropped, and WebSocket ping frames are answered by tungstenite.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long [`WsClient::connect`] waits for the answer to `connection_init`, and
/// [`WsClient::close`] for the server's close.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket subprotocol, sent as `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`: `subscribe`/`next`/`complete`, `ping`/`pong`.
    TransportWs,
    /// Legacy `graphql-ws`: `start`/`data`/`stop`, `ka` keep-alives, `connection_error`.
    LegacyWs,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::TransportWs, Protocol::LegacyWs];

    /// The `Sec-WebSocket-Protocol` value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        }
    }
}

/// Where the API token goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No token at all.
    None,
    /// `{"authorization": "Bearer <token>"}` as the `connection_init` payload.
    Init(String),
    /// `Authorization: Bearer <token>` on the upgrade request (and an empty init payload).
    Header(String),
}

/// One server message, the same for both subprotocols.
#[derive(Debug, Clone, PartialEq)]
pub enum WsMessage {
    /// `connection_ack`, with its payload (`null` when there was none).
    ConnectionAck(Value),
    /// A result for operation `id`: `next` (graphql-transport-ws) or `data` (legacy). `payload`
    /// is a GraphQL response, `{"data": …}` and/or `{"errors": […]}`.
    Next { id: String, payload: Value },
    /// `error` for operation `id`; `payload` is what the server sent (usually a list of errors).
    Error { id: String, payload: Value },
    /// `complete`: operation `id` is over.
    Complete { id: String },
    /// Legacy `connection_error`; the server closes the connection after it.
    ConnectionError(Value),
    /// The connection ended: the server's close frame, or code 1006 and an empty reason when
    /// the TCP connection ended without one. Every later call returns this again.
    Closed { code: u16, reason: String },
    /// A JSON message of a type not listed above, whole.
    Other(Value),
}

impl WsMessage {
    /// `payload.errors[0]`, for `Next`, `Error` and `ConnectionError`, if any.
    pub fn first_error(&self) -> Option<&Value> {
        match self {
            WsMessage::Next { payload, .. } => payload.get("errors")?.get(0),
            WsMessage::Error { payload, .. } => payload.get(0).or_else(|| payload.get("errors")?.get(0)),
            WsMessage::ConnectionError(payload) => Some(payload),
            _ => None,
        }
    }
}

/// Why [`WsClient::connect`] did not get a usable connection.
#[derive(Debug)]
pub enum ConnectError {
    /// The server refused the WebSocket upgrade with this HTTP answer.
    Http { status: u16, body: String },
    /// The upgrade worked but the server did not acknowledge `connection_init`: what it sent
    /// instead (`Closed` with the reason, or a legacy `ConnectionError`).
    Refused(WsMessage),
    /// Anything else: connection, protocol or timeout problems.
    Other(anyhow::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Http { status, body } => write!(f, "upgrade refused with HTTP {status}: {body}"),
            ConnectError::Refused(m) => write!(f, "connection_init refused: {m:?}"),
            ConnectError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl From<anyhow::Error> for ConnectError {
    fn from(e: anyhow::Error) -> Self {
        ConnectError::Other(e)
    }
}

/// A GraphQL WebSocket connection that has been acknowledged by the server.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Protocol,
    next_id: u64,
    closed: Option<(u16, String)>,
}

impl fmt::Debug for WsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsClient").field("protocol", &self.protocol).field("closed", &self.closed).finish()
    }
}

impl WsClient {
    /// Opens `<base_url>/graphql/ws` (an `http://` base becomes `ws://`), sends
    /// `connection_init` and waits for `connection_ack`.
    pub async fn connect(base_url: &str, protocol: Protocol, auth: Auth) -> Result<Self, ConnectError> {
        let mut client = Self::upgrade(base_url, protocol, &auth).await?;
        let payload = match &auth {
            Auth::Init(token) => json!({ "authorization": format!("Bearer {token}") }),
            Auth::None | Auth::Header(_) => json!({}),
        };
        client.send(json!({ "type": "connection_init", "payload": payload })).await?;
        match client.next_message(HANDSHAKE_TIMEOUT).await? {
            Some(WsMessage::ConnectionAck(_)) => Ok(client),
            Some(other) => Err(ConnectError::Refused(other)),
            None => Err(anyhow::anyhow!("no answer to connection_init within {HANDSHAKE_TIMEOUT:?}").into()),
        }
    }

    /// Opens the WebSocket without sending `connection_init`: for tests of what the server does
    /// with a socket that never authenticates.
    pub async fn upgrade(base_url: &str, protocol: Protocol, auth: &Auth) -> Result<Self, ConnectError> {
        let url = format!("{}/graphql/ws", base_url.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request().context("websocket request")?;
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", HeaderValue::from_static(protocol.name()));
        if let Auth::Header(token) = auth {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).context("token as a header value")?;
            headers.insert("authorization", value);
        }
        let stream = match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => stream,
            Err(tungstenite::Error::Http(resp)) => {
                let body = resp.body().as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                return Err(ConnectError::Http { status: resp.status().as_u16(), body });
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("cannot open {url}")).into()),
        };
        Ok(Self { stream, protocol, next_id: 0, closed: None })
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Starts an operation (`subscribe`, or `start` in the legacy protocol) and returns its id.
    pub async fn subscribe(&mut self, query: &str, variables: Value) -> anyhow::Result<String> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        self.send(json!({ "type": kind, "id": id, "payload": { "query": query, "variables": variables } })).await?;
        Ok(id)
    }

    /// The next server message other than a keep-alive, or `None` when nothing arrived within
    /// `timeout`. Once the connection has ended, returns `Closed` every time.
    pub async fn next_message(&mut self, timeout: Duration) -> anyhow::Result<Option<WsMessage>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((code, reason)) = &self.closed {
                return Ok(Some(WsMessage::Closed { code: *code, reason: reason.clone() }));
            }
            let frame = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(frame) => frame,
            };
            let text = match frame {
                None | Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                    self.closed.get_or_insert((1006, String::new()));
                    continue;
                }
                // A reset after the server's last frame is an ending too, not a test failure.
                Some(Err(tungstenite::Error::Io(_) | tungstenite::Error::Protocol(_))) => {
                    self.closed.get_or_insert((1006, String::new()));
                    continue;
                }
                Some(Err(e)) => return Err(e).context("websocket read"),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    self.closed = Some((code, reason));
                    continue;
                }
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                // tungstenite queues the pong for ping frames itself; it goes out on the next
                // read or write.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            };
            let v: Value =
                serde_json::from_str(&text).with_context(|| format!("server message is not JSON: {text}"))?;
            let id = || v["id"].as_str().unwrap_or_default().to_string();
            let payload = || v.get("payload").cloned().unwrap_or(Value::Null);
            let msg = match v["type"].as_str().unwrap_or_default() {
                "ka" | "pong" => continue,
                "ping" => {
                    self.send(json!({ "type": "pong" })).await?;
                    continue;
                }
                "connection_ack" => WsMessage::ConnectionAck(payload()),
                "next" | "data" => WsMessage::Next { id: id(), payload: payload() },
                "error" => WsMessage::Error { id: id(), payload: payload() },
                "complete" => WsMessage::Complete { id: id() },
                "connection_error" => WsMessage::ConnectionError(payload()),
                _ => WsMessage::Other(v),
            };
            return Ok(Some(msg));
        }
    }

    /// Ends the connection politely (legacy: `connection_terminate` first) and waits, bounded,
    /// for the server to close its side.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if self.closed.is_some() {
            return Ok(());
        }
        if self.protocol == Protocol::LegacyWs {
            // The server may already be gone; closing is best effort from here on.
            let _ = self.send(json!({ "type": "connection_terminate" })).await;
        }
        let _ = self.stream.close(None).await;
        let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.next_message(left).await?.is_none() {
                anyhow::bail!("the server did not close the connection within {HANDSHAKE_TIMEOUT:?}");
            }
        }
        Ok(())
    }

    /// Sends one text message as given, e.g. one larger than the server accepts.
    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.stream.send(Message::text(text)).await.context("websocket write")
    }

    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.stream.send(Message::text(message.to_string())).await.context("websocket write")
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    use super::*;

    async fn read_json(ws: &mut WebSocketStream<TcpStream>) -> Value {
        loop {
            if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// Keep-alives of every kind are handled below `next_message`: a fake server sends `ka`, a
    /// WebSocket ping frame and a protocol `ping` before its `connection_ack`, and expects the
    /// client's `pong` before the `subscribe`.
    #[tokio::test]
    async fn keep_alives_never_reach_the_caller() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // The callback type, with its large error, is tungstenite's.
            #[allow(clippy::result_large_err)]
            let accept = |req: &Request, mut resp: Response| {
                assert_eq!(req.headers()["sec-websocket-protocol"], "graphql-transport-ws");
                resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("graphql-transport-ws"));
                Ok(resp)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, accept).await.unwrap();
            let init = read_json(&mut ws).await;
            assert_eq!(init, json!({ "type": "connection_init", "payload": { "authorization": "Bearer s3cret" } }));
            for m in [
                Message::text(r#"{"type":"ka"}"#),
                Message::Ping(b"hi".to_vec().into()),
                Message::text(r#"{"type":"ping"}"#),
                Message::text(r#"{"type":"connection_ack"}"#),
            ] {
                ws.send(m).await.unwrap();
            }
            assert_eq!(read_json(&mut ws).await, json!({ "type": "pong" }));
            let sub = read_json(&mut ws).await;
            assert_eq!(sub["type"], "subscribe");
            assert_eq!(sub["payload"]["variables"], json!({ "x": 1 }));
            let id = sub["id"].clone();
            for m in [json!({ "type": "ka" }), json!({ "type": "next", "id": id, "payload": { "data": { "n": 1 } } })] {
                ws.send(Message::text(m.to_string())).await.unwrap();
            }
            ws.close(None).await.unwrap();
        });

        let mut ws = WsClient::connect(&base_url, Protocol::TransportWs, Auth::Init("s3cret".into())).await.unwrap();
        let id = ws.subscribe("subscription { n }", json!({ "x": 1 })).await.unwrap();
        let next = ws.next_message(Duration::from_secs(5)).await.unwrap();
        assert_eq!(next, Some(WsMessage::Next { id, payload: json!({ "data": { "n": 1 } }) }));
        let closed = ws.next_message(Duration::from_secs(5)).await.unwrap();
        assert!(matches!(closed, Some(WsMessage::Closed { .. })), "{closed:?}");
        server.await.unwrap();
    }
}
