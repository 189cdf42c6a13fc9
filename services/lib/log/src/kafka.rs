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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use crate::{EventLog, GroupConsumer, LogError, NewRecord, Position, Record, Result, Tail, validate_name};

/// How a [`KafkaLog`] connects and behaves. [`KafkaOptions::from_url`] reads a `kafka://` URL.
#[derive(Clone)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port,host:port`.
    pub brokers: String,
    /// librdkafka properties applied to every client after the ones this log sets (so they can
    /// override them): TLS, SASL, tuning such as `linger.ms`.
    pub properties: Vec<(String, String)>,
    /// Partitions of topics this log creates.
    pub partitions: i32,
    /// Replication factor of topics this log creates (-1: the broker's default).
    pub replication_factor: i32,
    /// Create topics on first use (admin `CreateTopics`). Off: topics must exist.
    pub create_topics: bool,
    /// Upper bound of one `append`/`append_batch` call, and the producer's `message.timeout.ms`.
    pub append_timeout: Duration,
    /// Group `session.timeout.ms`: how long until a dead member's partitions move to the others.
    pub session_timeout: Duration,
    /// Bound of metadata, watermark, commit and admin requests.
    pub request_timeout: Duration,
    /// Bound of the metadata fetch in `health`.
    pub health_timeout: Duration,
    /// Largest record (key, headers and payload) accepted; also the producer's
    /// `message.max.bytes` and the `max.message.bytes` of topics this log creates.
    pub max_record_bytes: u64,
    /// `client.id` of every client.
    pub client_id: String,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            properties: Vec::new(),
            partitions: 6,
            replication_factor: 3,
            create_topics: true,
            append_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            health_timeout: Duration::from_secs(2),
            max_record_bytes: 16 << 20,
            client_id: "hookmetry".into(),
        }
    }
}

impl fmt::Debug for KafkaOptions {
    /// Values of secret-looking properties (passwords, keys, tokens) are not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret_property(k) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("properties", &properties)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("create_topics", &self.create_topics)
            .field("append_timeout", &self.append_timeout)
            .field("session_timeout", &self.session_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("health_timeout", &self.health_timeout)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("client_id", &self.client_id)
            .finish()
    }
}

fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key.pem", "ssl.key", "keystore", "sasl.jaas", "sasl.oauthbearer.config"]
        .iter()
        .any(|s| key.contains(s))
}

impl KafkaOptions {
    /// Reads `kafka://host:port[,host:port…][?name=value&…]`.
    ///
    /// Query names `partitions`, `replication_factor`, `create_topics` (true/false),
    /// `append_timeout_ms`, `session_timeout_ms`, `request_timeout_ms`, `health_timeout_ms`,
    /// `max_record_bytes` and `client_id` set the fields of the same name; every other name is
    /// passed to librdkafka as a property (`security.protocol=SASL_PLAINTEXT&sasl.username=…`).
    /// Values are percent-decoded.
    pub fn from_url(url: &str) -> Result<Self> {
        let bad = |why: &str| LogError::Config(format!("log URL `{}`: {why}", redact_url(url)));
        let rest = url.trim().strip_prefix("kafka://").ok_or_else(|| bad("must start with kafka://"))?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.trim_end_matches('/');
        let mut brokers = Vec::new();
        for host in hosts.split(',') {
            let host = host.trim();
            let port = host.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
            match port {
                Some((h, Ok(p))) if !h.is_empty() && p != 0 && !h.contains('/') && !h.contains('@') => {
                    brokers.push(host.to_owned());
                }
                _ => return Err(bad(&format!("broker `{host}` is not host:port"))),
            }
        }
        let mut options = Self { brokers: brokers.join(","), ..Self::default() };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| bad(&format!("`{pair}` is not name=value")))?;
            let name = percent_decode(name).ok_or_else(|| bad("bad percent-encoding"))?;
            let value = percent_decode(value).ok_or_else(|| bad("bad percent-encoding"))?;
            let number = |what: &str| -> Result<u64> {
                value.parse().map_err(|_| bad(&format!("{what} must be a whole number, got `{value}`")))
            };
            let millis = |what: &str| number(what).map(Duration::from_millis);
            match name.as_str() {
                "partitions" => {
                    options.partitions = i32::try_from(number(&name)?)
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| bad("partitions must be at least 1"))?;
                }
                "replication_factor" => {
                    options.replication_factor = value
                        .parse::<i32>()
                        .ok()
                        .filter(|&r| r == -1 || r > 0)
                        .ok_or_else(|| bad("replication_factor must be -1 or at least 1"))?;
                }
                "create_topics" => {
                    options.create_topics = value.parse().map_err(|_| bad("create_topics must be true or false"))?;
                }
                "append_timeout_ms" => options.append_timeout = millis(&name)?,
                "session_timeout_ms" => options.session_timeout = millis(&name)?,
                "request_timeout_ms" => options.request_timeout = millis(&name)?,
                "health_timeout_ms" => options.health_timeout = millis(&name)?,
                "max_record_bytes" => options.max_record_bytes = number(&name)?,
                "client_id" => options.client_id = value,
                _ => options.properties.push((name, value)),
            }
        }
        Ok(options)
    }
}

/// The URL without its query, which may hold credentials.
fn redact_url(url: &str) -> &str {
    url.split_once('?').map_or(url, |(head, _)| head)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Sends librdkafka's logs and errors to `tracing` and logs rebalances.
#[derive(Clone, Default)]
struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                error!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Warning => warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => info!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Debug => debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Mostly transient (a broker connection dropped); librdkafka retries on its own.
        warn!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for LogContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let describe = |tpl: &TopicPartitionList| {
            tpl.elements().iter().map(|e| format!("{}/{}", e.topic(), e.partition())).collect::<Vec<_>>().join(",")
        };
        match rebalance {
            Rebalance::Assign(tpl) => info!(partitions = %describe(tpl), "kafka partitions assigned"),
            Rebalance::Revoke(tpl) => info!(partitions = %describe(tpl), "kafka partitions revoked"),
            Rebalance::Error(e) => warn!(error = %e, "kafka rebalance failed"),
        }
    }
}

type LogProducer = FutureProducer<LogContext>;
type LogConsumer = StreamConsumer<LogContext>;

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

    fn producer(&self) -> Arc<LogProducer> {
        self.producer.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An idempotent producer that hit a fatal error (e.g. the broker lost its state) refuses
    /// every later record: replace it, so appends recover once the cause is gone.
    fn replace_if_fatal(&self, failed: &Arc<LogProducer>) {
        let Some((code, reason)) = failed.client().fatal_error() else { return };
        let mut current = self.producer.write().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&current, failed) {
            return;
        }
        match create_producer(&self.options) {
            Ok(fresh) => {
                error!(%code, reason, "kafka producer failed fatally; replaced it");
                *current = Arc::new(fresh);
            }
            Err(e) => error!(%code, reason, error = %e, "kafka producer failed fatally and cannot be replaced"),
        }
    }

    async fn send(&self, topic: &str, records: Vec<NewRecord>) -> Result<Vec<Position>> {
        validate_name(topic)?;
        let limit = self.options.max_record_bytes;
        if let Some(size) = records.iter().map(record_size).find(|&size| size > limit) {
            return Err(LogError::RecordTooLarge { size, limit });
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let timeout = self.options.append_timeout;
        let started = Instant::now();
        let outcome = tokio::time::timeout(timeout, async {
            self.ensure_topic(topic).await?;
            let producer = self.producer();
            let result = enqueue_and_wait(&producer, topic, &records, started + timeout).await;
            if result.is_err() {
                self.replace_if_fatal(&producer);
            }
            result
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(_) => Err(LogError::Unavailable(format!(
                "no acknowledgement from Kafka for topic `{topic}` within {timeout:?}"
            ))),
        }
    }

    fn consumer_config(&self, extra: &[(&str, String)]) -> ClientConfig {
        // A fetch must be able to carry the largest record whole: not every broker returns a
        // batch larger than the fetch size (KIP-74), and librdkafka then waits forever.
        let partition_fetch = (self.options.max_record_bytes + (1 << 20)).min(1 << 30);
        let fetch = partition_fetch.max(50 << 20);
        let mut own: Vec<(&str, String)> = vec![
            ("enable.partition.eof", "false".into()),
            ("enable.auto.commit", "false".into()),
            ("enable.auto.offset.store", "false".into()),
            ("max.partition.fetch.bytes", partition_fetch.to_string()),
            ("fetch.max.bytes", fetch.to_string()),
            ("receive.message.max.bytes", (fetch + (1 << 20)).to_string()),
        ];
        own.extend_from_slice(extra);
        client_config(&self.options, &own)
    }
}

fn create_producer(options: &KafkaOptions) -> Result<LogProducer> {
    let timeout_ms = options.append_timeout.as_millis().clamp(1, i32::MAX as u128);
    let request_ms = options.request_timeout.as_millis().clamp(1, timeout_ms);
    let message_max = (options.max_record_bytes + (1 << 20)).clamp(1 << 20, 1_000_000_000);
    let own: Vec<(&str, String)> = vec![
        ("enable.idempotence", "true".into()),
        ("acks", "all".into()),
        ("message.timeout.ms", timeout_ms.to_string()),
        ("request.timeout.ms", request_ms.to_string()),
        ("partitioner", "murmur2_random".into()),
        ("message.max.bytes", message_max.to_string()),
    ];
    client_config(options, &own)
        .create_with_context(LogContext)
        .map_err(|e| LogError::Config(format!("Kafka producer: {e}")))
}

/// The settings every client shares, then `own`, then the caller's pass-through properties.
fn client_config(options: &KafkaOptions, own: &[(&str, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", options.brokers.trim()).set("client.id", &options.client_id);
    config.set_log_level(RDKafkaLogLevel::Warning);
    for (key, value) in own {
        config.set(*key, value);
    }
    for (key, value) in &options.properties {
        config.set(key, value);
    }
    config
}

fn record_size(record: &NewRecord) -> u64 {
    let headers: usize = record.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    (record.key.len() + headers + record.payload.len()) as u64
}

/// Enqueues `records` in order, then waits for every delivery report.
async fn enqueue_and_wait(
    producer: &LogProducer,
    topic: &str,
    records: &[NewRecord],
    deadline: Instant,
) -> Result<Vec<Position>> {
    let mut pending = Vec::with_capacity(records.len());
    for record in records {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            headers = headers.insert(Header { key: name.as_str(), value: Some(&value[..]) });
        }
        // The append time by the product's clock, as the embedded log stamps it, rather than
        // librdkafka's own reading of the system clock.
        let mut message = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(&record.payload[..])
            .headers(headers)
            .timestamp(hookmetry_core::Timestamp::now().micros().div_euclid(1_000));
        if !record.key.is_empty() {
            message = message.key(&record.key[..]);
        }
        loop {
            match producer.send_result(message) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                // The local queue is full: wait for room, keeping the order.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    message = back;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err((e, _)) => return Err(produce_error(topic, e)),
            }
        }
    }
    let mut positions = Vec::with_capacity(pending.len());
    let mut failure = None;
    // Every report is awaited, so none is dropped unread while others are still in flight.
    for delivery in pending {
        match delivery.await {
            Ok(Ok(d)) => positions.push(Position { partition: d.partition as u32, offset: d.offset as u64 }),
            Ok(Err((e, _))) => failure = failure.or(Some(produce_error(topic, e))),
            Err(_) => failure = failure.or(Some(LogError::Unavailable("kafka producer dropped a record".into()))),
        }
    }
    match failure {
        None => Ok(positions),
        Some(e) => Err(e),
    }
}

fn produce_error(topic: &str, e: KafkaError) -> LogError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            LogError::Unavailable(format!("topic `{topic}`: the broker refused the record as too large ({e})"))
        }
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            LogError::Unavailable(format!("topic `{topic}`: no acknowledgement from Kafka in time ({e})"))
        }
        _ => LogError::Unavailable(format!("appending to topic `{topic}`: {e}")),
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
        validate_name(topic)?;
        validate_name(group)?;
        self.ensure_topic(topic).await?;
        let session_ms = self.options.session_timeout.as_millis().clamp(1, i32::MAX as u128);
        let config = self.consumer_config(&[
            ("group.id", group.to_owned()),
            ("auto.offset.reset", "earliest".into()),
            ("session.timeout.ms", session_ms.to_string()),
            ("heartbeat.interval.ms", (session_ms / 3).max(1).to_string()),
        ]);
        let consumer: LogConsumer =
            config.create_with_context(LogContext).map_err(|e| LogError::Config(format!("Kafka consumer: {e}")))?;
        consumer.subscribe(&[topic]).map_err(|e| LogError::Unavailable(format!("subscribing to `{topic}`: {e}")))?;
        // Lag is read through a client of its own that never joins the group: on the member's
        // connection a ListOffsets request queues behind the outstanding fetch long-poll, and
        // one per partition stalled the processor for seconds per batch.
        let lag_client: BaseConsumer<LogContext> = self
            .consumer_config(&[("group.id", group.to_owned())])
            .create_with_context(LogContext)
            .map_err(|e| LogError::Config(format!("Kafka consumer: {e}")))?;
        debug!(topic, group, "kafka group consumer subscribed");
        Ok(Box::new(KafkaGroupConsumer {
            consumer: Some(Arc::new(consumer)),
            lag_client: Arc::new(lag_client),
            topic: topic.to_owned(),
            group: group.to_owned(),
            committed: HashMap::new(),
            request_timeout: self.options.request_timeout,
        }))
    }

    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>> {
        validate_name(topic)?;
        self.ensure_topic(topic).await?;
        // librdkafka's `assign` needs a group id, but `assign` never joins the group and
        // nothing is committed (auto commit is off): a fresh id keeps tails apart.
        let consumer: LogConsumer = self
            .consumer_config(&[("group.id", format!("{}.tail.{}", self.options.client_id, unique_suffix()))])
            .create_with_context(LogContext)
            .map_err(|e| LogError::Config(format!("Kafka consumer: {e}")))?;
        let mut tail = KafkaTail {
            consumer: Some(Arc::new(consumer)),
            topic: topic.to_owned(),
            assigned: false,
            request_timeout: self.options.request_timeout,
        };
        tail.assign(Offset::End, self.options.request_timeout).await?;
        Ok(Box::new(tail))
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

struct KafkaGroupConsumer {
    /// `None` only while being dropped.
    consumer: Option<Arc<LogConsumer>>,
    /// Reads the group's commits and the partitions' ends for `lag`, on its own connections.
    lag_client: Arc<BaseConsumer<LogContext>>,
    topic: String,
    group: String,
    /// The highest offset this member committed per partition, so commits never go back.
    committed: HashMap<i32, i64>,
    request_timeout: Duration,
}

impl KafkaGroupConsumer {
    fn consumer(&self) -> &Arc<LogConsumer> {
        self.consumer.as_ref().expect("consumer is present until drop")
    }
}

impl Drop for KafkaGroupConsumer {
    fn drop(&mut self) {
        close_in_background(self.consumer.take());
    }
}

#[async_trait]
impl GroupConsumer for KafkaGroupConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
        poll_batch(self.consumer(), max, wait).await
    }

    async fn commit(&mut self, records: &[Record]) -> Result<()> {
        let mut next: HashMap<i32, i64> = HashMap::new();
        for record in records.iter().filter(|r| r.topic == self.topic) {
            let offset = record.offset as i64 + 1;
            let entry = next.entry(record.partition as i32).or_insert(offset);
            *entry = (*entry).max(offset);
        }
        next.retain(|p, o| self.committed.get(p).is_none_or(|c| *o > *c));
        // A partition lost in a rebalance since its records were read belongs to another member
        // now, whose commits may be ahead: committing it from here could move them back.
        if let Ok(assigned) = self.consumer().assignment() {
            next.retain(|p, _| assigned.find_partition(&self.topic, *p).is_some());
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (&partition, &offset) in &next {
            tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| LogError::Unavailable(format!("commit: {e}")))?;
        }
        let consumer = self.consumer().clone();
        let group = self.group.clone();
        blocking(move || {
            consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| LogError::Unavailable(format!("committing for group `{group}`: {e}")))
        })
        .await?;
        self.committed.extend(next);
        Ok(())
    }

    async fn lag(&mut self) -> Result<u64> {
        let consumer = self.lag_client.clone();
        let (topic, timeout) = (self.topic.clone(), self.request_timeout);
        blocking(move || {
            let Some(partitions) = partitions_of(&*consumer, &topic, timeout)? else {
                return Ok(0);
            };
            let (mut tpl, mut starts, mut ends) =
                (TopicPartitionList::new(), TopicPartitionList::new(), TopicPartitionList::new());
            for &p in &partitions {
                tpl.add_partition(&topic, p);
                // Offset::Beginning and Offset::End as timestamps ask ListOffsets for the earliest
                // and latest offsets: one request for every partition, not a query for each.
                let at = |list: &mut TopicPartitionList, offset| {
                    list.add_partition_offset(&topic, p, offset)
                        .map_err(|e| LogError::Unavailable(format!("lag of `{topic}`: {e}")))
                };
                at(&mut starts, Offset::Beginning)?;
                at(&mut ends, Offset::End)?;
            }
            let committed = consumer
                .committed_offsets(tpl, timeout)
                .map_err(|e| LogError::Unavailable(format!("reading commits of `{topic}`: {e}")))?;
            let offsets = |list| {
                consumer
                    .offsets_for_times(list, timeout)
                    .map_err(|e| LogError::Unavailable(format!("reading the offsets of `{topic}`: {e}")))
            };
            let (starts, ends) = (offsets(starts)?, offsets(ends)?);
            let offset_in = |list: &TopicPartitionList, p| match list.find_partition(&topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Ok(o),
                other => Err(LogError::Unavailable(format!("no offset for `{topic}`/{p}: {other:?}"))),
            };
            let mut lag = 0u64;
            for p in partitions {
                let (low, high) = (offset_in(&starts, p)?, offset_in(&ends, p)?);
                // Records removed by retention are not lag, committed or not.
                let done = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) if o >= 0 => o.max(low),
                    _ => low,
                };
                lag += high.saturating_sub(done).max(0) as u64;
            }
            Ok(lag)
        })
        .await
    }
}

struct KafkaTail {
    /// `None` only while being dropped.
    consumer: Option<Arc<LogConsumer>>,
    topic: String,
    /// False while the topic does not exist (possible only without `create_topics`).
    assigned: bool,
    request_timeout: Duration,
}

impl KafkaTail {
    /// Assigns every partition at its high watermark (`Offset::End`, read now, so the tail starts
    /// exactly after the records acked so far) or at its start (a topic created after the tail
    /// opened holds only later records). Leaves the tail unassigned while the topic is missing.
    async fn assign(&mut self, at: Offset, timeout: Duration) -> Result<()> {
        let consumer = self.consumer.clone().expect("consumer is present until drop");
        let topic = self.topic.clone();
        self.assigned = blocking(move || {
            let Some(partitions) = partitions_of(&*consumer, &topic, timeout)? else {
                return Ok(false);
            };
            let mut tpl = TopicPartitionList::new();
            for p in partitions {
                let offset = match at {
                    Offset::End => {
                        let (_, high) = consumer
                            .fetch_watermarks(&topic, p, timeout)
                            .map_err(|e| LogError::Unavailable(format!("reading the end of `{topic}`/{p}: {e}")))?;
                        Offset::Offset(high)
                    }
                    other => other,
                };
                tpl.add_partition_offset(&topic, p, offset)
                    .map_err(|e| LogError::Unavailable(format!("tail of `{topic}`: {e}")))?;
            }
            consumer.assign(&tpl).map_err(|e| LogError::Unavailable(format!("tail of `{topic}`: {e}")))?;
            Ok(true)
        })
        .await?;
        Ok(())
    }
}

impl Drop for KafkaTail {
    fn drop(&mut self) {
        close_in_background(self.consumer.take());
    }
}

#[async_trait]
impl Tail for KafkaTail {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
        let started = tokio::time::Instant::now();
        if !self.assigned {
            self.assign(Offset::Beginning, wait.min(self.request_timeout)).await?;
            if !self.assigned {
                tokio::time::sleep_until(started + wait).await;
                return Ok(Vec::new());
            }
        }
        let left = wait.saturating_sub(started.elapsed());
        poll_batch(self.consumer.as_ref().expect("consumer is present until drop"), max, left).await
    }
}

/// Closing a group member leaves the group, which blocks on the broker: not on a runtime thread.
fn close_in_background(consumer: Option<Arc<LogConsumer>>) {
    let Some(consumer) = consumer else { return };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(move || drop(consumer));
        }
        Err(_) => drop(consumer),
    }
}

/// Up to `max` records: waits up to `wait` for the first, then takes what is already fetched.
async fn poll_batch(consumer: &LogConsumer, max: usize, wait: Duration) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    if max == 0 {
        return Ok(out);
    }
    let deadline = tokio::time::Instant::now() + wait;
    // Waiting: transient errors (a broker restarting, a topic just created) are logged and
    // waited out; the caller sees an empty batch, and `health` tells why.
    while out.is_empty() {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => return Ok(out),
            Ok(Ok(message)) => out.push(to_record(&message)),
            Ok(Err(e)) => consume_error(e)?,
        }
    }
    // `recv` is cancel-safe: polling it once takes a fetched record or nothing.
    while out.len() < max {
        match consumer.recv().now_or_never() {
            None => break,
            Some(Ok(message)) => out.push(to_record(&message)),
            Some(Err(e)) => {
                consume_error(e)?;
                break;
            }
        }
    }
    Ok(out)
}

fn consume_error(e: KafkaError) -> Result<()> {
    use RDKafkaErrorCode as C;
    let transient = matches!(e, KafkaError::PartitionEOF(_))
        || matches!(
            e.rdkafka_error_code(),
            Some(
                C::AllBrokersDown
                    | C::BrokerTransportFailure
                    | C::Resolve
                    | C::UnknownTopicOrPartition
                    | C::UnknownTopic
                    | C::UnknownPartition
                    | C::LeaderNotAvailable
                    | C::NotLeaderForPartition
                    | C::RequestTimedOut
                    | C::OperationTimedOut
                    | C::TimedOutQueue
                    | C::NetworkException
                    | C::CoordinatorNotAvailable
                    | C::NotCoordinator
                    | C::CoordinatorLoadInProgress
                    | C::RebalanceInProgress
                    | C::IllegalGeneration
                    | C::UnknownMemberId
                    | C::OffsetNotAvailable
                    | C::FencedLeaderEpoch
                    | C::UnknownLeaderEpoch
                    | C::PollExceeded
            )
        );
    if transient {
        debug!(error = %e, "kafka consumer: transient error");
        Ok(())
    } else {
        Err(LogError::Unavailable(format!("kafka consumer: {e}")))
    }
}

fn to_record(message: &BorrowedMessage<'_>) -> Record {
    let copy = |b: Option<&[u8]>| b.map(Bytes::copy_from_slice).unwrap_or_default();
    let headers =
        message.headers().map(|h| h.iter().map(|h| (h.key.to_owned(), copy(h.value))).collect()).unwrap_or_default();
    Record {
        topic: message.topic().to_owned(),
        partition: message.partition() as u32,
        offset: message.offset() as u64,
        key: copy(message.key()),
        payload: copy(message.payload()),
        headers,
        timestamp_micros: message.timestamp().to_millis().unwrap_or(0).saturating_mul(1000),
    }
}

/// The topic's partitions; `None` when the topic does not exist.
fn partitions_of<C: Consumer<LogContext>>(consumer: &C, topic: &str, timeout: Duration) -> Result<Option<Vec<i32>>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| LogError::Unavailable(format!("kafka metadata of `{topic}`: {e}")))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match found.error().map(RDKafkaErrorCode::from) {
        None if !found.partitions().is_empty() => Ok(Some(found.partitions().iter().map(|p| p.id()).collect())),
        None => Err(LogError::Unavailable(format!("kafka topic `{topic}` has no partitions"))),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => Ok(None),
        Some(code) => Err(LogError::Unavailable(format!("kafka topic `{topic}` is not available: {code}"))),
    }
}

/// Distinct within the process and, with the time and process id, between processes.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| LogError::Unavailable(format!("kafka task failed: {e}")))?
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_brokers_only() {
        let o = KafkaOptions::from_url("kafka://b1:9092,b2:9093").unwrap();
        assert_eq!(o.brokers, "b1:9092,b2:9093");
        assert!(o.properties.is_empty());
        assert_eq!(o.partitions, KafkaOptions::default().partitions);
    }

    #[test]
    fn url_query_sets_options_and_properties() {
        let o = KafkaOptions::from_url(
            "kafka://[::1]:9092/?partitions=12&replication_factor=1&create_topics=false&append_timeout_ms=2500\
             &session_timeout_ms=6000&security.protocol=SASL_PLAINTEXT&sasl.password=p%40ss%26word",
        )
        .unwrap();
        assert_eq!(o.brokers, "[::1]:9092");
        assert_eq!((o.partitions, o.replication_factor, o.create_topics), (12, 1, false));
        assert_eq!(o.append_timeout, Duration::from_millis(2500));
        assert_eq!(o.session_timeout, Duration::from_secs(6));
        assert_eq!(
            o.properties,
            [
                ("security.protocol".to_owned(), "SASL_PLAINTEXT".to_owned()),
                ("sasl.password".to_owned(), "p@ss&word".to_owned())
            ]
        );
        let shown = format!("{o:?}");
        assert!(!shown.contains("p@ss"), "secrets must not be shown: {shown}");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_query() {
        for url in [
            "kafka://",
            "kafka://host",
            "kafka://host:0",
            "kafka://host:x",
            "kafka://:9092",
            "http://host:9092",
            "kafka://h:1?partitions=0",
            "kafka://h:1?replication_factor=0",
            "kafka://h:1?append_timeout_ms=soon",
            "kafka://h:1?create_topics=yes",
            "kafka://h:1?noequals",
            "kafka://h:1?x=%zz",
        ] {
            assert!(matches!(KafkaOptions::from_url(url), Err(LogError::Config(_))), "{url}");
        }
        let err = KafkaOptions::from_url("kafka://h?sasl.password=hunter2").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
