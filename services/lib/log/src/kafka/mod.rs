//! `KafkaLog`: the cluster log, on Kafka (or any Kafka-protocol broker) through rdkafka.
//!
//! # Appends
//!
//! One idempotent producer (`enable.idempotence=true`, `acks=all`) per `KafkaLog`. A record's key
//! (the endpoint id) picks its partition with the Java-compatible murmur2 partitioner, so one
//! endpoint's captures stay in order and other Kafka clients agree on where a key lives; records
//! without a key are sent with a null key and spread over partitions. `NewRecord` headers become
//! Kafka record headers, in order, duplicates included.
//!
//! `append` resolves when the delivery report arrives, i.e. after every in-sync replica acked.
//! `message.timeout.ms` is set to [`KafkaOptions::append_timeout`], and the whole call (topic
//! creation included) is bounded by it too, so a broker that is down or slow yields
//! [`LogError::Unavailable`] within that time and never a success. `append_batch` enqueues every
//! record first (in order; the idempotent producer keeps that order per partition) and then waits
//! for all acks: one round trip instead of one per record.
//!
//! # Consumer groups
//!
//! Each [`GroupConsumer`] is one Kafka group member (`subscribe`), with `enable.auto.commit=false`
//! and `auto.offset.reset=earliest`: a group without commits starts at the earliest retained
//! record. `commit` commits, synchronously, offset + 1 of the highest given record per partition
//! (never moving a partition back behind what this member committed). Partitions are split
//! between the members of a group and move on rebalance; a member that dies is noticed after
//! `session.timeout.ms` ([`KafkaOptions::session_timeout`]) and its partitions resume at their
//! last commit on the others: records it had not committed are delivered again (at-least-once).
//!
//! `lag` is, over every partition of the topic, the high watermark minus the group's committed
//! offset (the low watermark where the group has no commit).
//!
//! # Tails
//!
//! A [`Tail`] is a consumer that never joins a group: it reads the high watermark of every
//! partition when it is opened and `assign`s the partitions at those offsets, so it sees exactly
//! the records acked after it opened, and commits nothing (librdkafka wants a group id for
//! `assign`; each tail gets a fresh one that no member ever joins). A topic that does not exist
//! yet is assigned from its start once it appears. Partitions added to the topic after the tail
//! opened are not followed.
//!
//! # Topics
//!
//! With [`KafkaOptions::create_topics`] a topic is created (admin `CreateTopics`, with the
//! configured partitions and replication factor; "already exists" is fine) the first time this
//! log uses its name, or up front through [`KafkaLog::ensure_topics`]. Without it topics must
//! exist (or the broker must create them).
//!
//! # TLS and SASL
//!
//! Any librdkafka property can be passed through [`KafkaOptions::properties`] (or the query of
//! the `kafka://` URL), e.g. `security.protocol=SASL_SSL`, `ssl.ca.location`, `sasl.mechanism`,
//! `sasl.username`, `sasl.password`. librdkafka is built with OpenSSL (the system's), so `SSL`,
//! `SASL_SSL` and SASL `SCRAM-*` work, as does `PLAIN`; `GSSAPI` (Kerberos) is not built in.
//!
//! # Limits
//!
//! rdkafka reads header names as UTF-8 and panics on a record whose header name is not; every
//! record this log writes has UTF-8 names (they are `String`s).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::Producer;
use tracing::{debug, info};

use crate::{EventLog, GroupConsumer, LogError, NewRecord, Position, Result, Tail, validate_name};

mod client;
mod consume;
mod options;
mod produce;

use client::{LogContext, LogProducer, client_config};
pub use options::KafkaOptions;
use produce::create_producer;

pub struct KafkaLog {
    options: KafkaOptions,
    producer: RwLock<Arc<LogProducer>>,
    admin: AdminClient<LogContext>,
    /// Topics known to exist (created or found by this log).
    topics: Mutex<HashSet<String>>,
    creating: tokio::sync::Mutex<()>,
}

impl fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaLog").field("options", &self.options).finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// Creates the clients. Nothing is sent to the brokers yet, so this succeeds while they are
    /// down (appends then fail with `Unavailable` and `health` says why); bad options fail here.
    pub async fn connect(options: KafkaOptions) -> Result<Arc<Self>> {
        if options.brokers.trim().is_empty() {
            return Err(LogError::Config("no Kafka brokers given".into()));
        }
        if options.partitions < 1 {
            return Err(LogError::Config("partitions must be at least 1".into()));
        }
        if options.append_timeout < Duration::from_millis(100) {
            return Err(LogError::Config("append_timeout must be at least 100 ms".into()));
        }
        let producer = create_producer(&options)?;
        let admin = client_config(&options, &[])
            .create_with_context(LogContext)
            .map_err(|e| LogError::Config(format!("Kafka admin client: {e}")))?;
        info!(options = ?options, "kafka log configured");
        Ok(Arc::new(Self {
            options,
            producer: RwLock::new(Arc::new(producer)),
            admin,
            topics: Mutex::new(HashSet::new()),
            creating: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn options(&self) -> &KafkaOptions {
        &self.options
    }

    /// Creates the topics that do not exist yet (when `create_topics` is on). Call at start to
    /// fail early; otherwise topics are created on first use.
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<()> {
        for topic in topics {
            validate_name(topic)?;
            self.ensure_topic(topic).await?;
        }
        Ok(())
    }

    async fn ensure_topic(&self, topic: &str) -> Result<()> {
        if !self.options.create_topics || lock(&self.topics).contains(topic) {
            return Ok(());
        }
        // One creation at a time, so concurrent first appends send one request, not one each.
        let _creating = self.creating.lock().await;
        if lock(&self.topics).contains(topic) {
            return Ok(());
        }
        let limit = self.options.max_record_bytes.to_string();
        let new =
            NewTopic::new(topic, self.options.partitions, TopicReplication::Fixed(self.options.replication_factor))
                .set("max.message.bytes", &limit);
        let timeout = self.options.request_timeout;
        let admin_options = AdminOptions::new().request_timeout(Some(timeout)).operation_timeout(Some(timeout));
        let results = self
            .admin
            .create_topics([&new], &admin_options)
            .await
            .map_err(|e| LogError::Unavailable(format!("creating topic `{topic}`: {e}")))?;
        for result in results {
            match result {
                Ok(_) => info!(topic, partitions = self.options.partitions, "kafka topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => debug!(topic, "kafka topic exists"),
                Err((_, code)) => {
                    return Err(LogError::Unavailable(format!("creating topic `{topic}`: {code}")));
                }
            }
        }
        lock(&self.topics).insert(topic.to_owned());
        Ok(())
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, topic: &str, record: NewRecord) -> Result<Position> {
        let positions = self.send(topic, vec![record]).await?;
        positions.into_iter().next().ok_or_else(|| LogError::Unavailable("kafka answered without a position".into()))
    }

    async fn append_batch(&self, topic: &str, records: Vec<NewRecord>) -> Result<Vec<Position>> {
        self.send(topic, records).await
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn GroupConsumer>> {
        self.group_consumer(topic, group).await
    }

    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>> {
        self.open_tail(topic).await
    }

    async fn health(&self) -> Result<()> {
        let producer = self.producer();
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace_if_fatal(&producer);
            return Err(LogError::Unavailable(format!("kafka producer failed: {code}: {reason}")));
        }
        let timeout = self.options.health_timeout;
        blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(None, timeout)
                .map_err(|e| LogError::Unavailable(format!("kafka brokers unreachable: {e}")))?;
            if metadata.brokers().is_empty() {
                return Err(LogError::Unavailable("kafka metadata lists no brokers".into()));
            }
            Ok(())
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| LogError::Unavailable(format!("kafka task failed: {e}")))?
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
