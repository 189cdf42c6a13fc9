//! The retention job: deletes captures older than their team's retention, on the embedded store.
//! (Scylla expires rows by TTL instead, where `expire_captures` finds nothing to do.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hookmetry_core::Timestamp;
use hookmetry_store::CaptureStore;
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
    Ok(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            match store.expire_captures(Timestamp::now()).await {
                Ok(0) => tracing::debug!("retention pass: nothing expired"),
                Ok(n) => {
                    expired.inc_by(n);
                    tracing::info!(deleted = n, "retention pass deleted expired captures");
                }
                Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying at the next interval"),
            }
        }
    })
}
