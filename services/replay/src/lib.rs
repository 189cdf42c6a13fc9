//! The replay worker role: sends captured requests to targets and keeps every attempt.
//!
//! - [`outgoing_request`] and [`with_edits`] turn a capture into the request a delivery sends:
//!   the captured body byte for byte, with its SHA-256, and the captured headers in order minus
//!   hop-by-hop ones;
//! - [`Sender`] makes one attempt through an HTTP/1.1 client that enforces the egress policy, with
//!   connect and total timeouts, and records the answer (status, headers, body up to a limit)
//!   or classifies the failure;
//! - [`RetrySchedule`] says when the next attempt is due, or that the delivery is dead-lettered;
//! - [`ReplayWorker`] is the role: it wakes deliveries from the `deliveries` log and from the
//!   store's due list, makes their attempts within per-target and global limits, records each
//!   one, schedules the next and announces the change on the `events` log;
//! - [`Deliveries`] creates deliveries for every entry point that makes one (a manual or bulk
//!   replay, a forwarding rule, `hookmetry listen`): builds, re-signs ([`resign`]), stores and
//!   wakes a worker; [`Announcer`] is the one way capture and delivery changes reach the
//!   `events` log, for the API, the processor and the worker alike.

mod announce;
mod deliveries;
mod forward;
mod resign;
mod schedule;
mod send;
mod wake;
mod worker;

pub use announce::Announcer;
pub use deliveries::{Deliveries, DeliveryError, ListenerDelivery, ListenerError, ListenerReport};
pub use resign::{ResignError, resign};
pub use wake::wake_record;

pub use forward::{EditError, Edits, Prepared, forwarded_headers, outgoing_request, with_edits, with_traceparent};
pub use schedule::{RetrySchedule, retry_like};
pub use send::{Sender, SenderError, SenderSettings};
pub use worker::{GROUP, ReplayError, ReplaySettings, ReplayWorker, WorkerSettings};

/// A replay setting with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingError {
    /// The config key to fix, e.g. `replay.retry_initial`.
    pub key: &'static str,
    /// What is wrong with the value and what to write instead.
    pub reason: String,
}

impl SettingError {
    pub(crate) fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self { key, reason: reason.into() }
    }
}
