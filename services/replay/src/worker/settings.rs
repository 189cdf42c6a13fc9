//! What the worker is told by the `replay.*` config keys, and the checks of those values.

use std::time::Duration;

use crate::schedule::human;
use crate::{RetrySchedule, SenderSettings, SettingError};

/// Longest `replay.scan_interval` accepted: a due retry can wait this long for the next scan.
const MAX_SCAN_INTERVAL: Duration = Duration::from_secs(600);

/// How the worker schedules its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// `replay.per_target_concurrency`: attempts in flight at once to one `host:port`.
    pub per_target_concurrency: usize,
    /// `replay.scan_interval`: how often the store is asked for due deliveries. A retry starts
    /// at most this long after it is due.
    pub scan_interval: Duration,
    /// Most due deliveries one scan reads (and the cap of the `due_deliveries` gauge).
    pub scan_limit: usize,
    /// Attempts in flight at once in this worker, whatever their target: a flood of deliveries
    /// cannot spawn unbounded tasks. The rest wait in the store for a later scan.
    pub max_in_flight: usize,
    /// How long one poll of the deliveries log waits for a record.
    pub poll_wait: Duration,
    /// On shutdown, how long attempts in flight may finish. Those still running after it are
    /// abandoned; their deliveries stay pending and are tried again after a restart.
    pub shutdown_grace: Duration,
    /// `replay.propagate_trace_context`: send a `traceparent` naming the attempt's span (in
    /// place of a captured one) when spans are exported.
    pub propagate_trace_context: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            per_target_concurrency: 4,
            scan_interval: Duration::from_secs(1),
            scan_limit: 256,
            max_in_flight: 256,
            poll_wait: Duration::from_millis(100),
            shutdown_grace: Duration::from_secs(10),
            propagate_trace_context: false,
        }
    }
}

impl WorkerSettings {
    /// Checks the values as configured; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        if self.per_target_concurrency == 0 || self.per_target_concurrency > self.max_in_flight {
            return Err(SettingError::new(
                "replay.per_target_concurrency",
                format!("is {}; it must be between 1 and {}", self.per_target_concurrency, self.max_in_flight),
            ));
        }
        if self.scan_interval < Duration::from_millis(10) || self.scan_interval > MAX_SCAN_INTERVAL {
            return Err(SettingError::new(
                "replay.scan_interval",
                format!("is {}; it must be between 10ms and {}", human(self.scan_interval), human(MAX_SCAN_INTERVAL)),
            ));
        }
        // Not config keys: these are programming mistakes, named after the field.
        if self.scan_limit == 0 || self.max_in_flight == 0 || self.poll_wait.is_zero() {
            return Err(SettingError::new(
                "replay worker settings",
                "scan_limit, max_in_flight and poll_wait must be more than 0",
            ));
        }
        Ok(())
    }
}

/// Everything the worker needs to know, as built from the `replay.*` config keys.
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    pub sender: SenderSettings,
    pub schedule: RetrySchedule,
    pub worker: WorkerSettings,
}

impl ReplaySettings {
    /// Checks every value; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        self.sender.validate()?;
        self.schedule.validate()?;
        self.worker.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_settings_name_the_key_to_fix() {
        let key = |s: WorkerSettings| s.validate().unwrap_err().key;
        assert_eq!(WorkerSettings::default().validate(), Ok(()));
        assert_eq!(
            key(WorkerSettings { per_target_concurrency: 0, ..Default::default() }),
            "replay.per_target_concurrency"
        );
        assert_eq!(
            key(WorkerSettings { per_target_concurrency: 257, ..Default::default() }),
            "replay.per_target_concurrency"
        );
        assert_eq!(
            key(WorkerSettings { scan_interval: Duration::from_millis(5), ..Default::default() }),
            "replay.scan_interval"
        );
        assert_eq!(
            key(WorkerSettings { scan_interval: Duration::from_secs(601), ..Default::default() }),
            "replay.scan_interval"
        );
    }
}
