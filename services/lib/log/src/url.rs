//! `log.url`, parsed once: `embedded://DIR` or `kafka://HOST:PORT[,HOST:PORT…][?name=value&…]`.
//!
//! Parsed whether or not this build has the `kafka` feature, so a bad URL fails where the
//! configuration is loaded; [`crate::open`] says when the backend itself is missing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// Which log a process runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogUrl {
    /// The embedded durable log in this directory.
    Embedded { dir: PathBuf },
    /// Kafka (or any Kafka-protocol broker) through these bootstrap servers, `host:port` each.
    Kafka { brokers: Vec<String>, options: KafkaUrlOptions },
}

impl LogUrl {
    pub fn is_embedded(&self) -> bool {
        matches!(self, LogUrl::Embedded { .. })
    }

    /// The backend's name, for log lines.
    pub fn kind(&self) -> &'static str {
        match self {
            LogUrl::Embedded { .. } => "embedded",
            LogUrl::Kafka { .. } => "kafka",
        }
    }
}

/// Without the query, which may hold credentials.
impl fmt::Display for LogUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogUrl::Embedded { dir } => write!(f, "embedded://{}", dir.display()),
            LogUrl::Kafka { brokers, .. } => write!(f, "kafka://{}", brokers.join(",")),
        }
    }
}

/// What the query of a `kafka://` URL sets. Names of [`crate::kafka::KafkaOptions`] fields set
/// that field (`None`: not given); every other name is a librdkafka property.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaUrlOptions {
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    pub create_topics: Option<bool>,
    pub append_timeout: Option<Duration>,
    pub session_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub health_timeout: Option<Duration>,
    pub max_record_bytes: Option<u64>,
    pub client_id: Option<String>,
    /// In the order given, duplicates included.
    pub properties: Vec<(String, String)>,
}

impl fmt::Debug for KafkaUrlOptions {
    /// Values of secret-looking properties (passwords, keys, tokens) are not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaUrlOptions")
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("create_topics", &self.create_topics)
            .field("append_timeout", &self.append_timeout)
            .field("session_timeout", &self.session_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("health_timeout", &self.health_timeout)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("client_id", &self.client_id)
            .field("properties", &redacted(&self.properties))
            .finish()
    }
}

/// The properties with the values of secret-looking ones replaced.
pub(crate) fn redacted(properties: &[(String, String)]) -> Vec<(&str, &str)> {
    properties
        .iter()
        .map(|(k, v)| (k.as_str(), if is_secret_property(k) { "<redacted>" } else { v.as_str() }))
        .collect()
}

fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key.pem", "ssl.key", "keystore", "sasl.jaas", "sasl.oauthbearer.config"]
        .iter()
        .any(|s| key.contains(s))
}

/// A log URL that cannot be used. Messages show a `kafka://` URL without its query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogUrlError {
    #[error("`{0}` is not a log URL: use kafka://HOST:PORT[,HOST:PORT…], embedded://DIR, or leave it empty")]
    NotALogUrl(String),
    #[error("log URL `{url}`: broker `{broker}` is not host:port")]
    Broker { url: String, broker: String },
    #[error("log URL `{url}`: `{pair}` is not name=value")]
    NotAPair { url: String, pair: String },
    #[error("log URL `{url}`: bad percent-encoding")]
    PercentEncoding { url: String },
    #[error("log URL `{url}`: {reason}")]
    Option { url: String, reason: String },
}

impl FromStr for LogUrl {
    type Err = LogUrlError;

    /// An empty URL is refused here: what it means (the embedded log in the data directory) is
    /// the configuration's to say.
    fn from_str(url: &str) -> Result<Self, LogUrlError> {
        let url = url.trim();
        if let Some(dir) = url.strip_prefix("embedded://").filter(|d| !d.is_empty()) {
            return Ok(LogUrl::Embedded { dir: PathBuf::from(dir) });
        }
        match url.strip_prefix("kafka://").filter(|r| !r.is_empty()) {
            Some(rest) => parse_kafka(rest.trim_end_matches('/')),
            None => Err(LogUrlError::NotALogUrl(url.to_owned())),
        }
    }
}

/// `rest` is what follows `kafka://`.
fn parse_kafka(rest: &str) -> Result<LogUrl, LogUrlError> {
    let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
    let shown = format!("kafka://{hosts}");
    let hosts = hosts.trim_end_matches('/');
    let mut brokers = Vec::new();
    for host in hosts.split(',').map(str::trim) {
        match host.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            Some((h, Ok(p))) if !h.is_empty() && p != 0 && !h.contains('/') && !h.contains('@') => {
                brokers.push(host.to_owned());
            }
            _ => return Err(LogUrlError::Broker { url: shown, broker: host.to_owned() }),
        }
    }
    let mut options = KafkaUrlOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(LogUrlError::NotAPair { url: shown, pair: pair.to_owned() });
        };
        let (Some(name), Some(value)) = (decode(name), decode(value)) else {
            return Err(LogUrlError::PercentEncoding { url: shown });
        };
        let bad = |reason: String| LogUrlError::Option { url: shown.clone(), reason };
        let number = || -> Result<u64, LogUrlError> {
            value.parse().map_err(|_| bad(format!("{name} must be a whole number, got `{value}`")))
        };
        let millis = || number().map(|ms| Some(Duration::from_millis(ms)));
        match name.as_str() {
            "partitions" => {
                let partitions = i32::try_from(number()?).ok().filter(|&p| p > 0);
                options.partitions = Some(partitions.ok_or_else(|| bad("partitions must be at least 1".into()))?);
            }
            "replication_factor" => {
                let factor = value.parse::<i32>().ok().filter(|&r| r == -1 || r > 0);
                options.replication_factor =
                    Some(factor.ok_or_else(|| bad("replication_factor must be -1 or at least 1".into()))?);
            }
            "create_topics" => {
                options.create_topics =
                    Some(value.parse().map_err(|_| bad("create_topics must be true or false".into()))?);
            }
            "append_timeout_ms" => options.append_timeout = millis()?,
            "session_timeout_ms" => options.session_timeout = millis()?,
            "request_timeout_ms" => options.request_timeout = millis()?,
            "health_timeout_ms" => options.health_timeout = millis()?,
            "max_record_bytes" => options.max_record_bytes = Some(number()?),
            "client_id" => options.client_id = Some(value),
            _ => options.properties.push((name, value)),
        }
    }
    Ok(LogUrl::Kafka { brokers, options })
}

/// Form decoding (`+` is a space), refusing what a lenient decoder would keep as written: a `%`
/// without two hex digits, or bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let malformed =
        s.split('%').skip(1).any(|after| !after.get(..2).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if malformed {
        return None;
    }
    percent_decode_str(&s.replace('+', " ")).decode_utf8().ok().map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(url: &str) -> (Vec<String>, KafkaUrlOptions) {
        match url.parse::<LogUrl>() {
            Ok(LogUrl::Kafka { brokers, options }) => (brokers, options),
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn embedded_takes_the_rest_as_the_directory() {
        for (url, dir) in [
            ("embedded:///var/lib/hm/log", "/var/lib/hm/log"),
            ("embedded://./data", "./data"),
            ("  embedded://rel/dir?x  ", "rel/dir?x"),
        ] {
            assert_eq!(url.parse::<LogUrl>(), Ok(LogUrl::Embedded { dir: PathBuf::from(dir) }), "{url}");
        }
        let url: LogUrl = "embedded:///d".parse().unwrap();
        assert!(url.is_embedded());
        assert_eq!((url.kind(), url.to_string()), ("embedded", "embedded:///d".to_owned()));
    }

    #[test]
    fn kafka_brokers_in_every_accepted_spelling() {
        for (url, brokers) in [
            ("kafka://b1:9092", vec!["b1:9092"]),
            ("kafka://b1:9092,b2:9093", vec!["b1:9092", "b2:9093"]),
            ("kafka://b1:9092, b2:9093/", vec!["b1:9092", "b2:9093"]),
            ("kafka://b1:9092///", vec!["b1:9092"]),
            ("kafka://[::1]:9092/?", vec!["[::1]:9092"]),
            (" kafka://10.0.0.1:1 ", vec!["10.0.0.1:1"]),
        ] {
            let (got, options) = kafka(url);
            assert_eq!(got, brokers, "{url}");
            assert_eq!(options, KafkaUrlOptions::default(), "{url}");
        }
        let url: LogUrl = "kafka://a:1,b:2?sasl.password=x".parse().unwrap();
        assert!(!url.is_embedded());
        assert_eq!((url.kind(), url.to_string()), ("kafka", "kafka://a:1,b:2".to_owned()));
    }

    #[test]
    fn kafka_query_sets_typed_options_and_passes_the_rest_on() {
        let (_, o) = kafka(
            "kafka://b:1/?partitions=12&replication_factor=-1&create_topics=false&append_timeout_ms=2500\
             &session_timeout_ms=6000&request_timeout_ms=7000&health_timeout_ms=800&max_record_bytes=1024\
             &client_id=hm+eu&security.protocol=SASL_SSL&sasl.password=p%40ss%26word&%73asl.mechanism=PLAIN",
        );
        assert_eq!((o.partitions, o.replication_factor, o.create_topics), (Some(12), Some(-1), Some(false)));
        assert_eq!(o.append_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(o.session_timeout, Some(Duration::from_secs(6)));
        assert_eq!(o.request_timeout, Some(Duration::from_secs(7)));
        assert_eq!(o.health_timeout, Some(Duration::from_millis(800)));
        assert_eq!(o.max_record_bytes, Some(1024));
        assert_eq!(o.client_id.as_deref(), Some("hm eu"));
        let properties: Vec<(&str, &str)> = o.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            properties,
            [("security.protocol", "SASL_SSL"), ("sasl.password", "p@ss&word"), ("sasl.mechanism", "PLAIN")]
        );
        let shown = format!("{o:?}");
        assert!(!shown.contains("p@ss") && shown.contains("SASL_SSL"), "secrets must not be shown: {shown}");
        assert_eq!(kafka("kafka://b:1?partitions=2&partitions=3").1.partitions, Some(3), "the last one wins");
    }

    #[test]
    fn refused_urls_say_why_without_the_query() {
        let not_a_log_url = |url: &str| {
            format!("`{url}` is not a log URL: use kafka://HOST:PORT[,HOST:PORT…], embedded://DIR, or leave it empty")
        };
        for url in ["", "nats://x", "kafka://", "embedded://", "http://host:9092", "KAFKA://b:1", "kafka:/b:1"] {
            assert_eq!(url.parse::<LogUrl>().unwrap_err().to_string(), not_a_log_url(url), "{url}");
        }
        for (url, message) in [
            ("kafka:///", "log URL `kafka://`: broker `` is not host:port"),
            ("kafka://host", "log URL `kafka://host`: broker `host` is not host:port"),
            ("kafka://host:0", "log URL `kafka://host:0`: broker `host:0` is not host:port"),
            ("kafka://host:x", "log URL `kafka://host:x`: broker `host:x` is not host:port"),
            ("kafka://host:70000", "log URL `kafka://host:70000`: broker `host:70000` is not host:port"),
            ("kafka://:9092", "log URL `kafka://:9092`: broker `:9092` is not host:port"),
            ("kafka://a:1,,b:2", "log URL `kafka://a:1,,b:2`: broker `` is not host:port"),
            ("kafka://u@h:1", "log URL `kafka://u@h:1`: broker `u@h:1` is not host:port"),
            ("kafka://h:1/x:2", "log URL `kafka://h:1/x:2`: broker `h:1/x:2` is not host:port"),
            ("kafka://h?sasl.password=hunter2", "log URL `kafka://h`: broker `h` is not host:port"),
            ("kafka://h:1?partitions=0", "log URL `kafka://h:1`: partitions must be at least 1"),
            ("kafka://h:1?partitions=-1", "log URL `kafka://h:1`: partitions must be a whole number, got `-1`"),
            ("kafka://h:1?partitions=3000000000", "log URL `kafka://h:1`: partitions must be at least 1"),
            ("kafka://h:1?replication_factor=0", "log URL `kafka://h:1`: replication_factor must be -1 or at least 1"),
            (
                "kafka://h:1?append_timeout_ms=soon",
                "log URL `kafka://h:1`: append_timeout_ms must be a whole number, got `soon`",
            ),
            (
                "kafka://h:1?max_record_bytes=1MiB",
                "log URL `kafka://h:1`: max_record_bytes must be a whole number, got `1MiB`",
            ),
            ("kafka://h:1?create_topics=yes", "log URL `kafka://h:1`: create_topics must be true or false"),
            ("kafka://h:1?noequals", "log URL `kafka://h:1`: `noequals` is not name=value"),
            ("kafka://h:1?x=%zz", "log URL `kafka://h:1`: bad percent-encoding"),
            ("kafka://h:1?x=%4", "log URL `kafka://h:1`: bad percent-encoding"),
            ("kafka://h:1?%zz=1", "log URL `kafka://h:1`: bad percent-encoding"),
            ("kafka://h:1?sasl.password=%ff", "log URL `kafka://h:1`: bad percent-encoding"),
        ] {
            assert_eq!(url.parse::<LogUrl>().unwrap_err().to_string(), message, "{url}");
        }
    }
}
