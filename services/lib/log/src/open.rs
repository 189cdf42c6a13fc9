//! One way in: the log a [`LogUrl`] names, with the settings the URL does not carry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::url::{KafkaUrlOptions, LogUrl};
use crate::{EmbeddedLog, EmbeddedLogOptions, EventLog, LogError};

/// What opening a log needs besides its URL.
pub struct LogOptions {
    pub embedded: EmbeddedLogOptions,
    pub kafka: KafkaSettings,
}

/// Kafka settings of the deployment (the `log.kafka_*` configuration keys and limits derived from
/// ingest's). They take precedence over the same names in the URL's query.
pub struct KafkaSettings {
    pub partitions: i32,
    pub replication_factor: i32,
    pub create_topics: bool,
    pub session_timeout: Duration,
    pub append_timeout: Duration,
    pub max_record_bytes: u64,
    /// librdkafka properties applied after the URL's, so they win.
    pub properties: Vec<(String, String)>,
    /// Created at open when `create_topics` is on, so a broker that refuses fails the start
    /// rather than the first append.
    pub topics: Vec<String>,
}

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the embedded log in {}", dir.display())]
    Embedded {
        dir: PathBuf,
        #[source]
        source: LogError,
    },
    #[error("cannot connect to Kafka at {brokers}")]
    Kafka {
        brokers: String,
        #[source]
        source: LogError,
    },
    #[error("cannot create the Kafka topics (log.kafka_create_topics)")]
    Topics(#[source] LogError),
    #[error("log.url names Kafka, but this build has no Kafka support: build with `--features kafka`")]
    KafkaNotBuilt,
}

/// Opens the log `url` names: the embedded log in its directory, or Kafka (with the `kafka`
/// feature; without it, [`OpenError::KafkaNotBuilt`]).
pub async fn open(url: &LogUrl, options: LogOptions) -> Result<Arc<dyn EventLog>, OpenError> {
    match url {
        LogUrl::Embedded { dir } => match EmbeddedLog::open(dir.clone(), options.embedded).await {
            Ok(log) => Ok(log),
            Err(source) => Err(OpenError::Embedded { dir: dir.clone(), source }),
        },
        LogUrl::Kafka { brokers, options: query } => open_kafka(brokers, query, options.kafka).await,
    }
}

#[cfg(feature = "kafka")]
async fn open_kafka(
    brokers: &[String],
    query: &KafkaUrlOptions,
    settings: KafkaSettings,
) -> Result<Arc<dyn EventLog>, OpenError> {
    use crate::{KafkaLog, KafkaOptions};
    let mut options = KafkaOptions::from_url_options(brokers, query);
    options.properties.extend(settings.properties);
    options.partitions = settings.partitions;
    options.replication_factor = settings.replication_factor;
    options.create_topics = settings.create_topics;
    options.session_timeout = settings.session_timeout;
    options.append_timeout = settings.append_timeout;
    options.max_record_bytes = settings.max_record_bytes;
    let log =
        KafkaLog::connect(options).await.map_err(|source| OpenError::Kafka { brokers: brokers.join(","), source })?;
    if settings.create_topics {
        let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
        log.ensure_topics(&topics).await.map_err(OpenError::Topics)?;
    }
    Ok(log)
}

#[cfg(not(feature = "kafka"))]
async fn open_kafka(
    _brokers: &[String],
    _query: &KafkaUrlOptions,
    _settings: KafkaSettings,
) -> Result<Arc<dyn EventLog>, OpenError> {
    Err(OpenError::KafkaNotBuilt)
}
