//! Reading: group members with explicit commits and lag, and tails from the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::debug;

use super::client::{LogConsumer, LogContext, client_config};
use super::{KafkaLog, blocking};
use crate::{GroupConsumer, LogError, Record, Result, Tail, validate_name};

impl KafkaLog {
    /// One member of `group` on `topic` (see the module docs).
    pub(super) async fn group_consumer(&self, topic: &str, group: &str) -> Result<Box<dyn GroupConsumer>> {
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

    /// A tail of `topic` from its current end (see the module docs).
    pub(super) async fn open_tail(&self, topic: &str) -> Result<Box<dyn Tail>> {
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
