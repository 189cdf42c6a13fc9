use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hookmetry_config::Config;
use hookmetry_ingest::HeaderTap;
use hookmetry_telemetry::{Metrics, TelemetryError};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus::{IntCounter, IntGauge};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Connection-level counters.
#[derive(Clone)]
pub struct ServerMetrics {
    refused: IntCounter,
    idle_closed: IntCounter,
    open: IntGauge,
}

impl ServerMetrics {
    pub fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        Ok(Self {
            refused: m.counter(
                "hookmetry_server_connections_refused_total",
                "Connections answered 503 and closed because server.max_connections were open.",
            )?,
            idle_closed: m.counter(
                "hookmetry_server_idle_closed_total",
                "Connections closed after server.idle_timeout without a byte either way.",
            )?,
            open: m.gauge("hookmetry_server_connections", "Connections open now.")?,
        })
    }
}

/// Serves `app` until `shutdown`, then lets open requests finish within `server.shutdown_grace`.
///
/// This is axum's `serve` with the knobs it hides: HTTP/1 header count and buffer limits, a
/// header read timeout against slow-loris clients, the peer address for ingest, a cap on open
/// connections (`server.max_connections`; past it a connection gets a 503 and is closed), and an
/// idle timeout for every connection, HTTP/1, HTTP/2 or upgraded alike (`server.idle_timeout`:
/// no byte read or written for that long closes it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &Config,
    metrics: ServerMetrics,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Hyper's own limits sit above ingest's so that ingest, not hyper, answers 431 with a message
    // naming the limit; beyond these hyper refuses the request by itself.
    let max_headers = config.ingest.max_headers.saturating_mul(2).max(100);
    let max_header_bytes = config.ingest.max_header_bytes.0.saturating_mul(2).max(64 << 10) as usize;
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30).min(config.server.idle_timeout.0))
        .max_headers(max_headers)
        .max_buf_size(max_header_bytes.max(8192 + 4096 * 100));
    builder.http2().timer(TokioTimer::new()).max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));

    let idle_timeout = config.server.idle_timeout.0;
    let slots = Arc::new(Semaphore::new(config.server.max_connections.min(Semaphore::MAX_PERMITS)));
    let graceful = GracefulShutdown::new();
    // Kept so that connections still open after the grace period can be ended: they hold the
    // log and store, which must be closed before the data-dir lock is released.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.refused.inc();
            tokio::spawn(refuse(stream, config.server.max_connections));
            continue;
        };
        let activity = Activity::default();
        let stream = Tracked::new(stream, activity.clone(), slot);
        let (stream, heads) = HeaderTap::new(stream, max_headers);
        let svc = app.clone().map_request(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // HTTP/1 requests on a connection are dispatched in the order their heads arrived.
            if req.version() <= http::Version::HTTP_11
                && let Some(raw) = heads.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
            {
                req.extensions_mut().insert(raw);
            }
            req
        });
        let conn =
            builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc)).into_owned();
        let conn = graceful.watch(conn);
        // Finished connections are reaped as we go so the set stays small.
        while connections.try_join_next().is_some() {}
        let metrics = metrics.clone();
        connections.spawn(async move {
            metrics.open.inc();
            tokio::pin!(conn);
            let mut check = tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(50)));
            loop {
                tokio::select! {
                    ended = &mut conn => {
                        if let Err(e) = ended {
                            tracing::debug!(error = %e, peer = %peer, "connection ended with error");
                        }
                        break;
                    }
                    _ = check.tick() => {
                        if activity.idle_for() >= idle_timeout {
                            // Nothing moved either way for the whole timeout, so no request is
                            // in flight on it: dropping it loses nothing.
                            metrics.idle_closed.inc();
                            tracing::debug!(peer = %peer, "idle connection closed");
                            break;
                        }
                    }
                }
            }
            metrics.open.dec();
        });
    }
    drop(listener);
    let grace = config.server.shutdown_grace.0;
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => {
            tracing::warn!(grace = ?grace, open = connections.len(), "shutdown grace elapsed; closing open connections");
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Answers a connection over `server.max_connections` with a 503 naming the limit, then closes
/// it. The request is read (briefly, bounded) first, so the close is not a reset that would hide
/// the answer from the client.
async fn refuse(mut stream: tokio::net::TcpStream, max: usize) {
    let body = serde_json::json!({ "error": { "code": "too_many_connections", "message": format!(
        "this server already has {max} connections open (server.max_connections); retry later"
    ) } })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// When a connection last moved a byte either way.
#[derive(Clone)]
struct Activity {
    born: Instant,
    /// Milliseconds after `born`.
    last: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self { born: Instant::now(), last: Arc::new(AtomicU64::new(0)) }
    }
}

impl Activity {
    fn touch(&self) {
        self.last.store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.born.elapsed().saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }
}

/// Longest a closed connection keeps reading what its client still sends (see [`linger`]).
const LINGER: Duration = Duration::from_secs(5);
/// Most bytes read and dropped while lingering.
const LINGER_BYTES: u64 = 64 << 20;

/// A connection's stream that records [`Activity`], and closes like a careful server: when it
/// is dropped before the client finished sending (a request refused before its body was read:
/// 413, 503), it lingers, so the client reads the answer instead of a reset.
struct Tracked {
    inner: Option<tokio::net::TcpStream>,
    activity: Activity,
    /// The connection's place under `server.max_connections`, kept while it lingers: otherwise
    /// refused uploads could leave any number of sockets open past the cap.
    slot: Option<OwnedSemaphorePermit>,
    /// The client closed its side: nothing can be left unread.
    eof: bool,
}

impl Tracked {
    fn new(inner: tokio::net::TcpStream, activity: Activity, slot: OwnedSemaphorePermit) -> Self {
        Self { inner: Some(inner), activity, slot: Some(slot), eof: false }
    }

    fn stream(&mut self) -> &mut tokio::net::TcpStream {
        self.inner.as_mut().expect("the stream is only taken on drop")
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let (false, Some(stream)) = (self.eof, self.inner.take())
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(linger(stream, self.slot.take()));
        }
    }
}

/// Closing a socket whose client is still sending makes the kernel answer with a reset, which
/// can destroy the answer the client has not read yet (RFC 9112 §9.6). So: end our side (the
/// client sees the answer, then end of stream), then read and drop what still arrives until the
/// client closes, for at most [`LINGER`] and [`LINGER_BYTES`]. Costs a socket and no buffer.
async fn linger(mut stream: tokio::net::TcpStream, _slot: Option<OwnedSemaphorePermit>) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut buf = [0u8; 8192];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            left = left.saturating_sub(n as u64);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(self.stream()).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        } else if matches!(polled, Poll::Ready(Ok(()))) && buf.remaining() > 0 {
            self.eof = true;
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(self.stream()).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.stream()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.stream()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(self.stream()).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }
}
