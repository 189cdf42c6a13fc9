//! How a Kafka log connects and behaves.

use std::fmt;
use std::time::Duration;

use crate::url::{KafkaUrlOptions, LogUrl, redacted};
use crate::{LogError, Result};

/// How a [`KafkaLog`](super::KafkaLog) connects and behaves: the defaults, then what a `kafka://`
/// URL says ([`KafkaOptions::from_url_options`]).
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
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("properties", &redacted(&self.properties))
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

impl KafkaOptions {
    /// The defaults with what the URL's query set: these brokers, the fields it names, and its
    /// other names as librdkafka properties.
    pub fn from_url_options(brokers: &[String], url: &KafkaUrlOptions) -> Self {
        let d = Self::default();
        Self {
            brokers: brokers.join(","),
            properties: url.properties.clone(),
            partitions: url.partitions.unwrap_or(d.partitions),
            replication_factor: url.replication_factor.unwrap_or(d.replication_factor),
            create_topics: url.create_topics.unwrap_or(d.create_topics),
            append_timeout: url.append_timeout.unwrap_or(d.append_timeout),
            session_timeout: url.session_timeout.unwrap_or(d.session_timeout),
            request_timeout: url.request_timeout.unwrap_or(d.request_timeout),
            health_timeout: url.health_timeout.unwrap_or(d.health_timeout),
            max_record_bytes: url.max_record_bytes.unwrap_or(d.max_record_bytes),
            client_id: url.client_id.clone().unwrap_or(d.client_id),
        }
    }

    /// Reads `kafka://host:port[,host:port…][?name=value&…]` through [`LogUrl`], for callers
    /// that hold a URL rather than a parsed one (tests, tools).
    pub fn from_url(url: &str) -> Result<Self> {
        match url.parse::<LogUrl>() {
            Ok(LogUrl::Kafka { brokers, options }) => Ok(Self::from_url_options(&brokers, &options)),
            Ok(other) => Err(LogError::Config(format!("log URL `{other}`: must start with kafka://"))),
            Err(e) => Err(LogError::Config(e.to_string())),
        }
    }
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

    /// What is wrong with a URL is url.rs's to say and test; this one only passes it on, and
    /// refuses a log URL of another kind.
    #[test]
    fn bad_urls_are_refused() {
        for url in ["kafka://host", "http://host:9092", "kafka://h:1?partitions=0", "embedded:///d"] {
            assert!(matches!(KafkaOptions::from_url(url), Err(LogError::Config(_))), "{url}");
        }
    }
}
