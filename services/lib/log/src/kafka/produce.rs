//! Appending: one idempotent producer, replaced when it fails fatally.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use tracing::error;

use super::client::{LogContext, LogProducer, client_config};
use super::{KafkaLog, KafkaOptions};
use crate::{LogError, NewRecord, Position, Result, validate_name};

impl KafkaLog {
    pub(super) fn producer(&self) -> Arc<LogProducer> {
        self.producer.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An idempotent producer that hit a fatal error (e.g. the broker lost its state) refuses
    /// every later record: replace it, so appends recover once the cause is gone.
    pub(super) fn replace_if_fatal(&self, failed: &Arc<LogProducer>) {
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

    pub(super) async fn send(&self, topic: &str, records: Vec<NewRecord>) -> Result<Vec<Position>> {
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
}

pub(super) fn create_producer(options: &KafkaOptions) -> Result<LogProducer> {
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
