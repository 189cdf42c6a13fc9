use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hookmetry_config::Config;
use hookmetry_ingest::HeaderTap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Serves `app` until `shutdown`, then lets open requests finish within `server.shutdown_grace`.
///
/// This is axum's `serve` with the knobs it hides: HTTP/1 header count and buffer limits, a
/// header read timeout against slow-loris clients, and the peer address for ingest.
pub async fn serve(listener: TcpListener, app: Router, config: &Config, shutdown: CancellationToken) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Hyper's own limits sit above ingest's so that ingest, not hyper, answers 431 with a message
    // naming the limit; beyond these hyper refuses the request by itself.
    let max_headers = config.ingest.max_headers.saturating_mul(2).max(100);
    let max_header_bytes = config.ingest.max_header_bytes.0.saturating_mul(2).max(64 << 10) as usize;
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_headers(max_headers)
        .max_buf_size(max_header_bytes.max(8192 + 4096 * 100));
    builder.http2().timer(TokioTimer::new()).max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));

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
        connections.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, peer = %peer, "connection ended with error");
            }
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
