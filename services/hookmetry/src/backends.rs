//! The log and store a process runs on, chosen by URL: embedded (the default), Kafka and
//! ScyllaDB when built with their features.

use std::fs::File;
use std::sync::Arc;

use anyhow::Context as _;
use hookmetry_config::{Config, LogBackend, StoreBackend};
use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions, EventLog};
use hookmetry_store::{SqliteStore, Store};
use hookmetry_telemetry::Metrics;

pub struct Backends {
    pub log: Arc<dyn EventLog>,
    pub store: Arc<dyn Store>,
    pub log_kind: &'static str,
    pub store_kind: &'static str,
    /// Held for the life of the process when the embedded log is used.
    _lock: Option<File>,
}

pub async fn open(config: &Config, _metrics: &Metrics) -> anyhow::Result<Backends> {
    let (log, log_kind, lock) = open_log(config).await?;
    let store = open_store(config, false).await?;
    let store_kind = match config.store_backend()? {
        StoreBackend::Sqlite(_) => "sqlite",
        StoreBackend::Scylla(_) => "scylla",
    };
    Ok(Backends { log, store, log_kind, store_kind, _lock: lock })
}

async fn open_log(config: &Config) -> anyhow::Result<(Arc<dyn EventLog>, &'static str, Option<File>)> {
    match config.log_backend()? {
        LogBackend::Embedded(dir) => {
            let data_dir = &config.server.data_dir;
            crate::bootstrap::private_data_dir(data_dir)?;
            // Two processes appending to one embedded log would interleave its segments.
            let lock = crate::bootstrap::lock_data_dir(data_dir)?;
            let log = EmbeddedLog::open(
                dir.clone(),
                EmbeddedLogOptions {
                    segment_bytes: config.log.segment_bytes.0,
                    max_unconsumed_bytes: config.log.max_unconsumed_bytes.0,
                    // The body plus every header and the envelope fits; anything larger was
                    // refused by ingest's own limits before it got here.
                    max_record_bytes: config.ingest.max_body_bytes.0
                        + 2 * config.ingest.max_header_bytes.0
                        + (64 << 10),
                    // Capture events only feed live subscribers, which live in this process:
                    // after a crash there is nobody to tell, so they are not worth an fsync each.
                    volatile_topics: vec![hookmetry_core::TOPIC_EVENTS.to_string()],
                    ..EmbeddedLogOptions::default()
                },
            )
            .await
            .with_context(|| format!("cannot open the embedded log in {}", dir.display()))?;
            Ok((log, "embedded", Some(lock)))
        }
        LogBackend::Kafka(brokers) => open_kafka(config, &brokers).await.map(|log| (log, "kafka", None)),
    }
}

#[cfg(feature = "kafka")]
async fn open_kafka(config: &Config, brokers: &str) -> anyhow::Result<Arc<dyn EventLog>> {
    use hookmetry_core::{TOPIC_CAPTURES, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES, TOPIC_EVENTS};
    use hookmetry_log::{KafkaLog, KafkaOptions};
    let mut options = KafkaOptions::from_url(&format!("kafka://{brokers}")).context("log.url")?;
    options.properties.extend(config.kafka_properties()?);
    options.partitions = config.log.kafka_partitions as i32;
    options.replication_factor = config.log.kafka_replication_factor as i32;
    options.create_topics = config.log.kafka_create_topics;
    options.session_timeout = config.log.kafka_session_timeout.0;
    // The producer gives a message up when ingest stops waiting for it, so a capture answered
    // with 503 is never delivered later behind the sender's back.
    options.append_timeout = config.ingest.append_timeout.0;
    options.max_record_bytes = config.ingest.max_body_bytes.0 + 2 * config.ingest.max_header_bytes.0 + (64 << 10);
    let log = KafkaLog::connect(options).await.with_context(|| format!("cannot connect to Kafka at {brokers}"))?;
    if config.log.kafka_create_topics {
        log.ensure_topics(&[TOPIC_CAPTURES, TOPIC_EVENTS, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES])
            .await
            .context("cannot create the Kafka topics (log.kafka_create_topics)")?;
    }
    Ok(log)
}

#[cfg(not(feature = "kafka"))]
async fn open_kafka(_config: &Config, _brokers: &str) -> anyhow::Result<Arc<dyn EventLog>> {
    anyhow::bail!("log.url names Kafka, but this build has no Kafka support: build with `--features kafka`")
}

/// The store `store.url` names. With `migrate`, its schema is created or upgraded first (what
/// `hookmetry migrate` does); nodes open it as it is. SQLite always migrates on open: it is one
/// file owned by one host.
pub async fn open_store(config: &Config, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    match config.store_backend()? {
        StoreBackend::Sqlite(path) => {
            // Made 0600 before SQLite opens it: SQLite gives its WAL and shared-memory files the
            // database file's permissions.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                crate::bootstrap::private_data_dir(dir)?;
            }
            crate::bootstrap::private_file()
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot create the store {}", path.display()))?;
            // Several processes on one host may share this file (WAL mode, busy timeout), which
            // is how a cluster is tried on one machine without ScyllaDB.
            let store =
                SqliteStore::open(&path).await.with_context(|| format!("cannot open the store {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StoreBackend::Scylla(url) => open_scylla(config, &url, migrate).await,
    }
}

#[cfg(feature = "scylla")]
async fn open_scylla(config: &Config, url: &str, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    use hookmetry_store::scylla::{Replication, parse_consistency};
    let mut options = hookmetry_store::ScyllaOptions::from_url(url).context("store.url")?;
    options.consistency = parse_consistency(&config.store.scylla_consistency).context("store.scylla_consistency")?;
    if !url.contains("replication") {
        options.replication = Replication::Factor(config.store.scylla_replication_factor);
    }
    options.migrate = migrate;
    options.create_keyspace = migrate;
    let store = hookmetry_store::ScyllaStore::open(options)
        .await
        .with_context(|| format!("cannot open the ScyllaDB store {url}"))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "scylla"))]
async fn open_scylla(_config: &Config, _url: &str, _migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    anyhow::bail!("store.url names ScyllaDB, but this build has no ScyllaDB support: build with `--features scylla`")
}
