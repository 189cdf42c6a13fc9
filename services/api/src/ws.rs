//! `/graphql/ws`: subscriptions (and any operation) over WebSocket, speaking
//! `graphql-transport-ws` or the legacy `graphql-ws`, whichever the client offers.
//!
//! The token comes from the upgrade request's `Authorization` header or from the
//! connection-init payload (`{"authorization": "Bearer …"}`); a bad header is refused before the
//! upgrade, a bad payload closes the connection with the reason. The upgrade itself needs no
//! token (browsers cannot set headers on it), so what an anonymous socket may cost is bounded
//! here: it must authenticate within `api.ws_init_timeout` (else 4408, as `graphql-transport-ws`
//! specifies), no message may exceed `api.ws_max_message_bytes` (else 1009), and a peer that
//! stops answering pings for `api.ws_idle_timeout` is closed (1001).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLSocket, WebSocketProtocols, WsMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt as _, StreamExt as _};
use http::HeaderMap;

use crate::session::WsSession;
use crate::{Api, ApiError, init_authorization};

/// What one socket read may take in. tungstenite's default (128 KiB) is allocated per socket
/// and zeroed before every read attempt, and the GraphQL socket polls its input each time it
/// sends: with 1,000 live subscribers that was 128 KiB of `memset` per message delivered (17 %
/// of the server's CPU in `hookmetry-bench fan-out`) and 128 KiB of resident memory per socket.
/// Clients send small operations; a larger message is read in several chunks.
const READ_BUFFER_BYTES: usize = 8 * 1024;

pub(crate) async fn graphql_ws(State(api): State<Arc<Api>>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let Some(protocol) = headers
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|offered| offered.split(',').find_map(|p| p.trim().parse::<WebSocketProtocols>().ok()))
    else {
        return ApiError::bad("Sec-WebSocket-Protocol", "offer graphql-transport-ws or graphql-ws").into_response();
    };
    let from_header = match headers.contains_key(http::header::AUTHORIZATION) {
        true => match api.authenticate(&headers).await {
            Ok(caller) => Some(caller),
            Err(e) => return e.into_response(),
        },
        false => None,
    };
    let limit = api.ws.max_message_bytes;
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(api, socket, protocol, from_header))
}

async fn serve(api: Arc<Api>, socket: WebSocket, protocol: WebSocketProtocols, from_header: Option<crate::Caller>) {
    let settings = api.ws.clone();
    let started = Instant::now();
    // Milliseconds since `started` of the peer's last frame of any kind (pongs included).
    let last_seen = Arc::new(AtomicU64::new(0));
    let too_big = Arc::new(AtomicBool::new(false));
    let initialised = Arc::new(AtomicBool::new(false));
    let (mut sink, stream) = socket.split();

    let input = {
        let (last_seen, too_big) = (last_seen.clone(), too_big.clone());
        stream
            .take_while(move |frame| {
                if let Err(e) = frame {
                    // axum reports the size limit only in the error's text ("Space limit
                    // exceeded: Message too long: …" / "… frame too big").
                    let text = e.to_string().to_ascii_lowercase();
                    if text.contains("too long") || text.contains("too big") {
                        too_big.store(true, Ordering::Release);
                    }
                }
                futures::future::ready(frame.is_ok())
            })
            .filter_map(move |frame| {
                last_seen.store(started.elapsed().as_millis() as u64, Ordering::Release);
                futures::future::ready(match frame {
                    Ok(Message::Text(t)) => Some(t.as_bytes().to_vec()),
                    Ok(Message::Binary(b)) => Some(b.to_vec()),
                    _ => None,
                })
            })
    };
    let on_init = {
        let (api, initialised) = (api.clone(), initialised.clone());
        move |payload: serde_json::Value| async move {
            let caller = match init_authorization(&payload) {
                Some(value) => api.authenticate_value(&value).await.map_err(|e| e.to_string())?,
                None => from_header.ok_or_else(|| {
                    ApiError::Unauthenticated(
                        "send `{\"authorization\": \"Bearer <token>\"}` in connection_init or an Authorization header",
                    )
                    .to_string()
                })?,
            };
            initialised.store(true, Ordering::Release);
            let mut data = Data::default();
            data.insert(caller);
            data.insert(WsSession);
            Ok(data)
        }
    };
    let mut out = GraphQLSocket::new(api.schema.clone(), input, protocol).on_connection_init(on_init);

    let init_deadline = tokio::time::sleep(settings.init_timeout);
    tokio::pin!(init_deadline);
    let ping_every = (settings.idle_timeout / 3).max(Duration::from_millis(100));
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let close = |code: u16, reason: String| Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    loop {
        tokio::select! {
            msg = out.next() => match msg {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let _ = sink.send(close(code, reason)).await;
                    return;
                }
                None => {
                    if too_big.load(Ordering::Acquire) {
                        let reason = format!("message larger than {} bytes (api.ws_max_message_bytes)", settings.max_message_bytes);
                        let _ = sink.send(close(1009, reason)).await;
                    }
                    return;
                }
            },
            _ = &mut init_deadline, if !initialised.load(Ordering::Acquire) => {
                let reason = format!("connection_init not received within {:?} (api.ws_init_timeout)", settings.init_timeout);
                let _ = sink.send(close(4408, reason)).await;
                return;
            }
            _ = pings.tick() => {
                let silent = started.elapsed().saturating_sub(Duration::from_millis(last_seen.load(Ordering::Acquire)));
                if silent > settings.idle_timeout {
                    let reason = format!("no answer to pings for {:?} (api.ws_idle_timeout)", settings.idle_timeout);
                    let _ = sink.send(close(1001, reason)).await;
                    return;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}
