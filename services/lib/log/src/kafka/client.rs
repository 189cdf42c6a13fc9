//! What every client of the log shares: its settings and where librdkafka's logs go.

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::topic_partition_list::TopicPartitionList;
use tracing::{debug, error, info, warn};

use super::KafkaOptions;

/// Sends librdkafka's logs and errors to `tracing` and logs rebalances.
#[derive(Clone, Default)]
pub(super) struct LogContext;

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

pub(super) type LogProducer = FutureProducer<LogContext>;
pub(super) type LogConsumer = StreamConsumer<LogContext>;

/// The settings every client shares, then `own`, then the caller's pass-through properties.
pub(super) fn client_config(options: &KafkaOptions, own: &[(&str, String)]) -> ClientConfig {
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
