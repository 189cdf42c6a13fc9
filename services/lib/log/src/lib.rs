//! The `EventLog` seam: a durable, ordered, partitioned log of records.
//!
//! Ingest appends captures and answers the provider only after `append` returned, so `append`
//! must mean "on disk" (embedded) or "acknowledged by all in-sync replicas" (Kafka). Consumers in
//! a group read at-least-once and commit after their work is durable; tails read live records
//! from the end for fan-out and never commit.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

// Test code, compiled only for the tests that enable it (never into the release binary).
#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod embedded;
#[cfg(feature = "kafka")]
pub mod kafka;
mod open;
mod url;

pub use embedded::{EmbeddedLog, EmbeddedLogOptions};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaLog, KafkaOptions};
pub use open::{KafkaSettings, LogOptions, OpenError, open};
pub use url::{KafkaUrlOptions, LogUrl, LogUrlError};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log refuses appends because it holds `limit_bytes` of records its consumers have not
    /// yet read. Ingest answers 503.
    #[error("log is full: topic `{topic}` holds more than {limit_bytes} bytes not yet consumed")]
    Full { topic: String, limit_bytes: u64 },
    /// The log cannot be reached or written right now. Ingest answers 503.
    #[error("log unavailable: {0}")]
    Unavailable(String),
    #[error("record of {size} bytes exceeds the log's record limit of {limit} bytes")]
    RecordTooLarge { size: u64, limit: u64 },
    #[error("invalid topic or group name `{0}`: use 1-64 characters of [a-zA-Z0-9._-]")]
    InvalidName(String),
    #[error("log i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("log data corrupt: {0}")]
    Corrupt(String),
    /// The log's options are unusable.
    #[error("log configuration: {0}")]
    Config(String),
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// A record to append. The key decides the partition (where a backend has several), so records
/// with one key stay in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRecord {
    pub key: Bytes,
    pub payload: Bytes,
    /// Small metadata such as schema version and trace context (Kafka record headers).
    pub headers: Vec<(String, Bytes)>,
}

impl NewRecord {
    pub fn new(key: impl Into<Bytes>, payload: impl Into<Bytes>) -> Self {
        Self { key: key.into(), payload: payload.into(), headers: Vec::new() }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub partition: u32,
    pub offset: u64,
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub key: Bytes,
    pub payload: Bytes,
    pub headers: Vec<(String, Bytes)>,
    /// Append time in microseconds since the Unix epoch.
    pub timestamp_micros: i64,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends one record and returns once it is durable. A returned error means the record may
    /// or may not be stored; callers must not acknowledge it.
    async fn append(&self, topic: &str, record: NewRecord) -> Result<Position>;

    /// Appends several records; durable as a whole when this returns.
    async fn append_batch(&self, topic: &str, records: Vec<NewRecord>) -> Result<Vec<Position>> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.append(topic, r).await?);
        }
        Ok(out)
    }

    /// Joins consumer group `group` on `topic`. Reading resumes after the group's last commit;
    /// a group with no commit starts at the earliest retained record.
    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn GroupConsumer>>;

    /// Reads live records from the current end of `topic`, without a group or commits.
    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>>;

    /// `Ok` when appends can be expected to succeed.
    async fn health(&self) -> Result<()>;
}

#[async_trait]
pub trait GroupConsumer: Send {
    /// Up to `max` records in offset order per partition. Waits up to `wait` for the first one and
    /// returns an empty batch when none arrived.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>>;

    /// Marks every record up to and including these (per partition) as done for the group. Call
    /// only after the work for them is durable: that is what makes at-least-once safe.
    async fn commit(&mut self, records: &[Record]) -> Result<()>;

    /// Records appended but not yet committed by this group, when the backend knows.
    async fn lag(&mut self) -> Result<u64>;
}

#[async_trait]
pub trait Tail: Send {
    /// Up to `max` records appended after the tail was opened (or after the last batch); waits up
    /// to `wait` for the first one.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>>;
}

/// Topic and group names become file names (embedded) and topic names (Kafka).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != "..";
    if ok { Ok(()) } else { Err(LogError::InvalidName(name.chars().take(80).collect())) }
}
