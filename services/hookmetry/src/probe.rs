//! Gauges an operator alerts on without scraping `/readyz`: whether each backend answers, and,
//! in embedded mode, how full the data dir's filesystem is.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hookmetry_log::EventLog;
use hookmetry_store::Store;
use hookmetry_telemetry::{Metrics, TelemetryError};
use prometheus::{IntGauge, IntGaugeVec};
use tokio_util::sync::CancellationToken;

/// How often the backends are asked; alerts fire after minutes, so seconds of delay are fine.
const EVERY: Duration = Duration::from_secs(10);
/// Walking the data dir reads every file's metadata: keep it rarer than the cheap probes.
const SIZE_EVERY: u32 = 6;

#[derive(Clone)]
pub struct ProbeMetrics {
    backend_up: IntGaugeVec,
    disk: Option<DiskGauges>,
}

#[derive(Clone)]
struct DiskGauges {
    dir: PathBuf,
    free: IntGauge,
    capacity: IntGauge,
    size: IntGauge,
}

impl ProbeMetrics {
    /// `data_dir` is the directory the embedded log or SQLite store keeps its files in, or
    /// `None` when neither is used (cluster mode), where the disk gauges would mean nothing.
    pub fn new(metrics: &Metrics, data_dir: Option<&Path>) -> Result<Self, TelemetryError> {
        let backend_up = metrics.gauge_vec(
            "hookmetry_backend_up",
            "1 when the backend answered this process's last health check (every 10s), 0 when it did not.",
            &["backend"],
        )?;
        let disk = match data_dir {
            None => None,
            Some(dir) => Some(DiskGauges {
                dir: dir.to_path_buf(),
                free: metrics.gauge(
                    "hookmetry_data_dir_free_bytes",
                    "Bytes available to this process on the filesystem holding server.data_dir (embedded mode).",
                )?,
                capacity: metrics.gauge(
                    "hookmetry_data_dir_capacity_bytes",
                    "Size in bytes of the filesystem holding server.data_dir (embedded mode).",
                )?,
                size: metrics.gauge(
                    "hookmetry_data_dir_size_bytes",
                    "Bytes of the files under server.data_dir: the embedded log, the SQLite database (embedded mode).",
                )?,
            }),
        };
        Ok(Self { backend_up, disk })
    }
}

/// Probes once at once, then every 10 s until `shutdown`.
pub async fn run(log: Arc<dyn EventLog>, store: Arc<dyn Store>, metrics: ProbeMetrics, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u32 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let log_up = log.health().await.is_ok();
        let store_up = store.health().await.is_ok();
        metrics.backend_up.with_label_values(&["log"]).set(i64::from(log_up));
        metrics.backend_up.with_label_values(&["store"]).set(i64::from(store_up));
        if let Some(disk) = &metrics.disk {
            let with_size = round.is_multiple_of(SIZE_EVERY);
            let dir = disk.dir.clone();
            let measured = tokio::task::spawn_blocking(move || measure(&dir, with_size)).await;
            match measured {
                Ok(Ok(m)) => {
                    disk.free.set(clamp(m.free));
                    disk.capacity.set(clamp(m.capacity));
                    if let Some(size) = m.size {
                        disk.size.set(clamp(size));
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, dir = %disk.dir.display(), "cannot measure the data dir"),
                Err(e) => tracing::warn!(error = %e, "data dir measurement task failed"),
            }
        }
        round = round.wrapping_add(1);
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[derive(Debug)]
struct Measured {
    free: u64,
    capacity: u64,
    size: Option<u64>,
}

fn measure(dir: &Path, with_size: bool) -> std::io::Result<Measured> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(Measured {
        // `f_bavail`, not `f_bfree`: blocks reserved for root are not ours to fill.
        free: st.f_bavail.saturating_mul(st.f_frsize),
        capacity: st.f_blocks.saturating_mul(st.f_frsize),
        size: if with_size { Some(dir_size(dir)) } else { None },
    })
}

/// Bytes of the regular files under `dir`, not following symlinks; unreadable entries are
/// skipped (files come and go as log segments roll).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_filesystem_and_the_files_under_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("log")).unwrap();
        std::fs::write(dir.path().join("log/00000001.seg"), vec![0u8; 3000]).unwrap();
        std::fs::write(dir.path().join("hookmetry.db"), vec![0u8; 1234]).unwrap();
        let m = measure(dir.path(), true).unwrap();
        assert_eq!(m.size, Some(4234));
        assert!(m.capacity > 0 && m.free <= m.capacity, "{m:?}");
        assert_eq!(measure(dir.path(), false).unwrap().size, None);
    }

    #[test]
    fn a_missing_dir_is_an_error_not_zero() {
        assert!(measure(Path::new("/nonexistent/hookmetry-data"), true).is_err());
    }
}
