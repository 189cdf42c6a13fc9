//! The retention jobs: one deletes captures older than their team's retention, on the embedded
//! store (Scylla expires rows by TTL instead, where `expire_captures` finds nothing to do); the
//! other deletes endpoints whose time to live has passed, with their captures, on every store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hookmetry_core::Timestamp;
use hookmetry_store::{CaptureStore, EndpointStore};
use hookmetry_telemetry::{Metrics, TelemetryError};
use tokio_util::sync::CancellationToken;

/// Runs one pass at once and then one every `interval` until `shutdown`. A failed pass is logged
/// and retried at the next interval: retention is housekeeping, never a reason to stop serving.
pub fn run(
    store: Arc<dyn CaptureStore>,
    interval: Duration,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, TelemetryError> {
    let expired = metrics.counter(
        "hookmetry_retention_expired_captures_total",
        "Captures deleted because they were older than their team's retention.",
    )?;
    Ok(every(interval, shutdown, move || {
        let store = store.clone();
        let expired = expired.clone();
        async move {
            match store.expire_captures(Timestamp::now()).await {
                Ok(0) => tracing::debug!("retention pass: nothing expired"),
                Ok(n) => {
                    expired.inc_by(n);
                    tracing::info!(deleted = n, "retention pass deleted expired captures");
                }
                Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying at the next interval"),
            }
        }
    }))
}

/// Most expired endpoints one pass deletes; the next pass takes the rest.
const EXPIRED_PER_PASS: usize = 500;

/// Deletes endpoints past their expiry (`ttlSeconds`), with their captures, at once and then
/// every `interval` until `shutdown`. Ingest already answers 404 for them; this frees the space.
pub fn run_endpoint_expiry(
    store: Arc<dyn EndpointStore>,
    interval: Duration,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, TelemetryError> {
    let expired = metrics.counter(
        "hookmetry_expired_endpoints_total",
        "Endpoints deleted, with their captures, because their time to live had passed.",
    )?;
    Ok(every(interval, shutdown, move || {
        let store = store.clone();
        let expired = expired.clone();
        async move {
            match expire_endpoints(store.as_ref(), Timestamp::now()).await {
                Ok(0) => {}
                Ok(n) => {
                    expired.inc_by(n);
                    tracing::info!(deleted = n, "expiry pass deleted endpoints past their time to live");
                }
                Err(e) => tracing::warn!(error = %e, "expiry pass failed; retrying at the next interval"),
            }
        }
    }))
}

/// Runs `pass` at once and then every `interval` (a slow pass delays the next, never stacks)
/// until `shutdown`.
async fn every<F, Fut>(interval: Duration, shutdown: CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        pass().await;
    }
}

/// One pass: how many endpoints it deleted. Each is read again just before its delete, so one
/// whose expiry was just moved or removed survives.
pub async fn expire_endpoints(store: &dyn EndpointStore, now: Timestamp) -> Result<u64, hookmetry_store::StoreError> {
    let mut deleted = 0;
    for endpoint in store.expired_endpoints(now, EXPIRED_PER_PASS).await? {
        let still = store.endpoint(endpoint.id).await?.is_some_and(|e| e.expired(now));
        if !still {
            continue;
        }
        match store.delete_endpoint(endpoint.id).await {
            Ok(()) => {
                deleted += 1;
                tracing::info!(endpoint_id = %endpoint.id, team_id = %endpoint.team_id, "expired endpoint deleted");
            }
            // Deleted by someone else meanwhile.
            Err(hookmetry_store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
