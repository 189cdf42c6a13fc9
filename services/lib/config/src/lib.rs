//! Layered configuration: built-in defaults (`defaults.toml`, every key commented), a file,
//! `HOOKMETRY_*` environment variables and flags, validated once at start with errors that name
//! the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookmetry_log::{LogUrl, LogUrlError};
use hookmetry_store::{StoreUrl, StoreUrlError};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Value;

mod units;

pub use units::{ByteSize, HumanDuration, parse_duration, parse_size};

/// The documented defaults, also shipped as `hookmetry config defaults`.
pub const DEFAULTS_TOML: &str = include_str!("../defaults.toml");

/// Largest accepted `ingest.max_body_bytes`: well under SQLite's 1,000,000,000-byte blob limit,
/// so every body ingest accepts can also be stored.
pub const MAX_BODY_LIMIT: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("config key `{key}` (from {origin}): {message}")]
    Invalid { key: String, origin: String, message: String },
    #[error("unknown config key `{key}` (from {origin})")]
    UnknownKey { key: String, origin: String },
}

/// A value refused by a check that lives outside this crate (see [`Config::load_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey {
    /// The key to fix, e.g. `replay.retry_initial`.
    pub key: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub ingest: IngestConfig,
    pub log: LogConfig,
    pub store: StoreConfig,
    pub processor: ProcessorConfig,
    pub replay: ReplayConfig,
    pub api: ApiConfig,
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub capture_base_url: String,
    pub max_connections: usize,
    pub idle_timeout: HumanDuration,
    pub shutdown_grace: HumanDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub max_body_bytes: ByteSize,
    pub max_headers: usize,
    pub max_header_bytes: ByteSize,
    pub inflight_bytes: ByteSize,
    #[serde(deserialize_with = "units::deserialize_nets")]
    pub trusted_proxies: Vec<IpNet>,
    pub append_timeout: HumanDuration,
    pub body_timeout: HumanDuration,
    pub team_inflight_bytes: ByteSize,
    pub max_hops: u32,
    pub endpoint_cache_ttl: HumanDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub url: String,
    pub segment_bytes: ByteSize,
    pub max_unconsumed_bytes: ByteSize,
    pub kafka_partitions: u32,
    pub kafka_replication_factor: u32,
    pub kafka_create_topics: bool,
    pub kafka_session_timeout: HumanDuration,
    pub kafka_properties: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub url: String,
    pub retention_interval: HumanDuration,
    pub expiry_interval: HumanDuration,
    pub scylla_consistency: String,
    pub scylla_replication_factor: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    pub batch_size: usize,
    pub poll_wait: HumanDuration,
    pub commit_interval: HumanDuration,
    pub batch_linger: HumanDuration,
    pub schema_drift: bool,
}

/// `[replay]`: the replay worker. The binary turns it into the worker's settings, whose crates
/// check the values (see [`Config::load_with`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    pub connect_timeout: HumanDuration,
    pub total_timeout: HumanDuration,
    pub max_response_body_bytes: ByteSize,
    pub retry_initial: HumanDuration,
    pub retry_max_delay: HumanDuration,
    pub max_attempts: u32,
    pub per_target_concurrency: usize,
    pub scan_interval: HumanDuration,
    /// `None` for `"auto"`: decided by the [`RunMode`].
    #[serde(deserialize_with = "units::deserialize_auto_bool")]
    pub allow_loopback: Option<bool>,
    pub allow_private: bool,
    pub allow_link_local: bool,
    /// As written; parsed (and checked at load) by the egress policy.
    pub allowed_networks: Vec<String>,
    pub denied_networks: Vec<String>,
    pub propagate_trace_context: bool,
}

/// How the process was started, for defaults that differ between a laptop and a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// `hookmetry serve`: every role in one process, usually on the user's own machine.
    Serve,
    /// `hookmetry run --roles …`: a node of a cluster that other teams may share.
    Run,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub default_page_size: u32,
    pub max_page_size: u32,
    pub subscriber_buffer: usize,
    pub max_subscribers: usize,
    pub max_subscribers_per_team: usize,
    pub ws_init_timeout: HumanDuration,
    pub ws_max_message_bytes: ByteSize,
    pub ws_idle_timeout: HumanDuration,
    pub session_recheck: HumanDuration,
    pub max_listeners_per_endpoint: usize,
    pub max_response_bytes: ByteSize,
    pub max_endpoints_per_team: usize,
    pub max_tokens_per_team: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Empty: no span export.
    pub otlp_endpoint: String,
    pub trace_sample_ratio: f64,
    pub service_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where each layer comes from; built by the binary from its flags and environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// Environment variables, usually `std::env::vars()`; only `HOOKMETRY_*` ones are read.
    pub env: Vec<(String, String)>,
    /// `section.key=value` overrides from flags, applied last.
    pub overrides: Vec<(String, String)>,
}

impl Config {
    /// The built-in defaults alone.
    pub fn defaults() -> Config {
        Config::load(&Sources::default()).expect("built-in defaults are valid")
    }

    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        Config::load_with(sources, |_| Ok(()))
    }

    /// [`Config::load`], then `check` on the result. Keys whose rules belong to the crate that
    /// uses them (the replay worker's, the egress policy's) are checked there; through this
    /// they still fail the load naming the key and the layer its value came from.
    pub fn load_with(
        sources: &Sources,
        check: impl FnOnce(&Config) -> Result<(), InvalidKey>,
    ) -> Result<Config, ConfigError> {
        let mut merged = parse_toml(DEFAULTS_TOML, "defaults")?;
        let known = leaf_keys(&merged);
        let mut origins: BTreeMap<String, String> = known.keys().map(|k| (k.clone(), "defaults".to_string())).collect();

        if let Some(path) = &sources.file {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            let origin = format!("file {}", path.display());
            let layer = parse_toml(&text, &origin)?;
            for (key, value) in leaf_keys(&layer) {
                if !known.contains_key(&key) {
                    return Err(ConfigError::UnknownKey { key, origin });
                }
                set_path(&mut merged, &key, value);
                origins.insert(key, origin.clone());
            }
        }

        for (name, raw) in &sources.env {
            let Some(rest) = name.strip_prefix("HOOKMETRY_") else { continue };
            let rest = rest.to_ascii_lowercase();
            // Known keys decide where the section ends, so keys may contain underscores.
            let Some(key) = known.keys().find(|k| k.replacen('.', "_", 1) == rest) else {
                continue;
            };
            let origin = format!("environment variable {name}");
            let value = typed_value(&known[key], raw, key, &origin)?;
            set_path(&mut merged, key, value);
            origins.insert(key.clone(), origin);
        }

        for (key, raw) in &sources.overrides {
            let origin = format!("flag for `{key}`");
            let Some(default) = known.get(key) else {
                return Err(ConfigError::UnknownKey { key: key.clone(), origin });
            };
            let value = typed_value(default, raw, key, &origin)?;
            set_path(&mut merged, key, value);
            origins.insert(key.clone(), origin);
        }

        let origin_of = |key: &str| origins.get(key).cloned().unwrap_or_else(|| "defaults".into());
        let config: Config = serde_path_to_error::deserialize(merged).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Invalid { origin: origin_of(&key), message: e.into_inner().to_string(), key }
        })?;
        config.check().map_err(|(key, message)| ConfigError::Invalid {
            origin: origin_of(key),
            key: key.to_string(),
            message,
        })?;
        check(&config).map_err(|InvalidKey { key, message }| ConfigError::Invalid {
            origin: origin_of(key),
            key: key.to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Checks values and relations between keys; `load` already does this, code that builds a
    /// `Config` by hand calls it before use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(|_| Ok(()))
    }

    /// [`Config::validate`], then `check` (see [`Config::load_with`]).
    pub fn validate_with(&self, check: impl FnOnce(&Config) -> Result<(), InvalidKey>) -> Result<(), ConfigError> {
        let invalid = |key: &str, message| ConfigError::Invalid {
            key: key.to_string(),
            origin: "the configuration".into(),
            message,
        };
        self.check().map_err(|(key, message)| invalid(key, message))?;
        check(self).map_err(|InvalidKey { key, message }| invalid(key, message))
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        let i = &self.ingest;
        if i.max_body_bytes.0 == 0 || i.max_body_bytes.0 > MAX_BODY_LIMIT {
            return Err((
                "ingest.max_body_bytes",
                format!("must be between 1 byte and 512MiB, got {}", i.max_body_bytes),
            ));
        }
        if i.inflight_bytes.0 < i.max_body_bytes.0 {
            return Err((
                "ingest.inflight_bytes",
                format!("must be at least ingest.max_body_bytes ({}), got {}", i.max_body_bytes, i.inflight_bytes),
            ));
        }
        if i.team_inflight_bytes.0 < i.max_body_bytes.0 {
            return Err((
                "ingest.team_inflight_bytes",
                format!("must be at least ingest.max_body_bytes ({}), got {}", i.max_body_bytes, i.team_inflight_bytes),
            ));
        }
        if i.max_hops > 100 {
            return Err(("ingest.max_hops", format!("must be between 0 and 100, got {}", i.max_hops)));
        }
        if i.max_headers == 0 || i.max_headers > 10_000 {
            return Err(("ingest.max_headers", format!("must be between 1 and 10000, got {}", i.max_headers)));
        }
        if i.max_header_bytes.0 < 1024 || i.max_header_bytes.0 > 16 << 20 {
            return Err((
                "ingest.max_header_bytes",
                format!("must be between 1KiB and 16MiB, got {}", i.max_header_bytes),
            ));
        }
        if i.append_timeout.0.is_zero() {
            return Err(("ingest.append_timeout", "must be more than 0s".into()));
        }
        if i.body_timeout.0 < Duration::from_secs(1) {
            return Err(("ingest.body_timeout", format!("must be at least 1s, got {:?}", i.body_timeout.0)));
        }
        if self.store.retention_interval.0 < Duration::from_secs(1) {
            return Err((
                "store.retention_interval",
                format!("must be at least 1s, got {:?}", self.store.retention_interval.0),
            ));
        }
        if self.store.expiry_interval.0 < Duration::from_secs(1) {
            return Err((
                "store.expiry_interval",
                format!("must be at least 1s, got {:?}", self.store.expiry_interval.0),
            ));
        }
        if !(1..=100_000).contains(&self.api.subscriber_buffer) {
            return Err((
                "api.subscriber_buffer",
                format!("must be between 1 and 100000, got {}", self.api.subscriber_buffer),
            ));
        }
        if !(1..=1_000_000).contains(&self.api.max_subscribers) {
            return Err((
                "api.max_subscribers",
                format!("must be between 1 and 1000000, got {}", self.api.max_subscribers),
            ));
        }
        if self.processor.poll_wait.0 < Duration::from_millis(10) {
            return Err((
                "processor.poll_wait",
                format!("must be at least 10ms, got {:?}", self.processor.poll_wait.0),
            ));
        }
        if self.log.max_unconsumed_bytes.0 < 4 * i.max_body_bytes.0 {
            return Err((
                "log.max_unconsumed_bytes",
                format!(
                    "must be at least 4 × ingest.max_body_bytes ({}), got {}",
                    ByteSize(4 * i.max_body_bytes.0),
                    self.log.max_unconsumed_bytes
                ),
            ));
        }
        if self.log.segment_bytes.0 < 1 << 20 {
            return Err(("log.segment_bytes", format!("must be at least 1MiB, got {}", self.log.segment_bytes)));
        }
        if self.processor.batch_linger.0 > Duration::from_secs(1) {
            return Err((
                "processor.batch_linger",
                format!("must be at most 1s, got {:?}", self.processor.batch_linger.0),
            ));
        }
        if self.processor.batch_size == 0 || self.processor.batch_size > 10_000 {
            return Err((
                "processor.batch_size",
                format!("must be between 1 and 10000, got {}", self.processor.batch_size),
            ));
        }
        let a = &self.api;
        if a.max_page_size == 0 || a.max_page_size > 1000 {
            return Err(("api.max_page_size", format!("must be between 1 and 1000, got {}", a.max_page_size)));
        }
        if a.default_page_size == 0 || a.default_page_size > a.max_page_size {
            return Err((
                "api.default_page_size",
                format!("must be between 1 and api.max_page_size ({}), got {}", a.max_page_size, a.default_page_size),
            ));
        }
        for (key, url) in
            [("server.public_url", &self.server.public_url), ("server.capture_base_url", &self.server.capture_base_url)]
        {
            let url = url.trim();
            if url.is_empty() {
                continue;
            }
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => return Err((key, format!("must be an http:// or https:// URL with a host, got `{url}`"))),
            }
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            return Err((
                "server.max_connections",
                format!("must be between 1 and 1000000, got {}", self.server.max_connections),
            ));
        }
        if self.server.idle_timeout.0 < Duration::from_secs(1) {
            return Err(("server.idle_timeout", format!("must be at least 1s, got {:?}", self.server.idle_timeout.0)));
        }
        if !(1..=1_000_000).contains(&a.max_subscribers_per_team) {
            return Err((
                "api.max_subscribers_per_team",
                format!("must be between 1 and 1000000, got {}", a.max_subscribers_per_team),
            ));
        }
        if a.ws_init_timeout.0 < Duration::from_millis(100) || a.ws_init_timeout.0 > Duration::from_secs(300) {
            return Err((
                "api.ws_init_timeout",
                format!("must be between 100ms and 5m, got {:?}", a.ws_init_timeout.0),
            ));
        }
        if a.ws_max_message_bytes.0 < 4096 || a.ws_max_message_bytes.0 > 64 << 20 {
            return Err((
                "api.ws_max_message_bytes",
                format!("must be between 4KiB and 64MiB, got {}", a.ws_max_message_bytes),
            ));
        }
        // The socket's pings (every third of it) are what keep a quiet WebSocket from the
        // server's idle timeout.
        if a.ws_idle_timeout.0 < Duration::from_secs(1) || a.ws_idle_timeout.0 > self.server.idle_timeout.0 {
            return Err((
                "api.ws_idle_timeout",
                format!(
                    "must be between 1s and server.idle_timeout ({:?}), got {:?}",
                    self.server.idle_timeout.0, a.ws_idle_timeout.0
                ),
            ));
        }
        if a.session_recheck.0 < Duration::from_millis(100) || a.session_recheck.0 > Duration::from_secs(10) {
            return Err((
                "api.session_recheck",
                format!("must be between 100ms and 10s, got {:?}", a.session_recheck.0),
            ));
        }
        for (key, value) in [
            ("api.max_endpoints_per_team", a.max_endpoints_per_team),
            ("api.max_tokens_per_team", a.max_tokens_per_team),
        ] {
            if !(1..=1_000_000).contains(&value) {
                return Err((key, format!("must be between 1 and 1000000, got {value}")));
            }
        }
        if !(1..=10_000).contains(&a.max_listeners_per_endpoint) {
            return Err((
                "api.max_listeners_per_endpoint",
                format!("must be between 1 and 10000, got {}", a.max_listeners_per_endpoint),
            ));
        }
        if let Err(e) = self.parse_log_url() {
            return Err(("log.url", e.to_string()));
        }
        if let Err(e) = self.parse_store_url() {
            return Err(("store.url", e.to_string()));
        }
        let l = &self.log;
        if !(1..=10_000).contains(&l.kafka_partitions) {
            return Err(("log.kafka_partitions", format!("must be between 1 and 10000, got {}", l.kafka_partitions)));
        }
        if !(1..=15).contains(&l.kafka_replication_factor) {
            return Err((
                "log.kafka_replication_factor",
                format!("must be between 1 and 15, got {}", l.kafka_replication_factor),
            ));
        }
        const CONSISTENCY: [&str; 7] = ["one", "two", "three", "quorum", "all", "local_quorum", "local_one"];
        if !CONSISTENCY.contains(&self.store.scylla_consistency.as_str()) {
            return Err((
                "store.scylla_consistency",
                format!("must be one of {}, got `{}`", CONSISTENCY.join(", "), self.store.scylla_consistency),
            ));
        }
        if !(1..=15).contains(&self.store.scylla_replication_factor) {
            return Err((
                "store.scylla_replication_factor",
                format!("must be between 1 and 15, got {}", self.store.scylla_replication_factor),
            ));
        }
        let t = &self.telemetry;
        if let Some(message) = otlp_endpoint_problem(t.otlp_endpoint.trim()) {
            return Err(("telemetry.otlp_endpoint", message));
        }
        if !(0.0..=1.0).contains(&t.trace_sample_ratio) {
            return Err((
                "telemetry.trace_sample_ratio",
                format!("must be between 0.0 and 1.0, got {}", t.trace_sample_ratio),
            ));
        }
        let name = t.service_name.trim();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err((
                "telemetry.service_name",
                format!(
                    "must be 1 to 255 characters without control characters, got `{}`",
                    t.service_name.escape_debug()
                ),
            ));
        }
        Ok(())
    }

    /// The OTLP endpoint spans are exported to; `None` when tracing export is off.
    pub fn otlp_endpoint(&self) -> Option<&str> {
        Some(self.telemetry.otlp_endpoint.trim()).filter(|e| !e.is_empty())
    }

    /// Base URL of the inspector and API, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        let url = self.server.public_url.trim().trim_end_matches('/');
        if url.is_empty() { format!("http://{}", self.server.listen) } else { url.to_string() }
    }

    /// Base URL of capture URLs (`<it>/h/<token>`), without a trailing slash.
    pub fn capture_base_url(&self) -> String {
        let url = self.server.capture_base_url.trim().trim_end_matches('/');
        if url.is_empty() { self.public_base_url() } else { url.to_string() }
    }

    /// The two hosts when capture URLs have an origin of their own: `(capture, inspector)`,
    /// each `host[:port]` as a browser sends it in `Host`. `None` when they share one.
    pub fn split_hosts(&self) -> Option<(String, String)> {
        if self.server.capture_base_url.trim().is_empty() || self.server.public_url.trim().is_empty() {
            return None;
        }
        let host = |u: &str| {
            let u = url::Url::parse(u).ok()?;
            let host = u.host_str()?.to_ascii_lowercase();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        };
        let (capture, inspector) = (host(&self.capture_base_url())?, host(&self.public_base_url())?);
        (capture != inspector).then_some((capture, inspector))
    }

    /// The store `store.url` names: empty is the embedded SQLite file in the data dir.
    pub fn store_url(&self) -> Result<StoreUrl, ConfigError> {
        self.parse_store_url().map_err(|e| invalid("store.url", e.to_string()))
    }

    fn parse_store_url(&self) -> Result<StoreUrl, StoreUrlError> {
        match self.store.url.trim() {
            "" => Ok(StoreUrl::Sqlite { path: self.server.data_dir.join("hookmetry.db") }),
            url => url.parse(),
        }
    }

    /// The log `log.url` names: empty is the embedded log in the data dir.
    pub fn log_url(&self) -> Result<LogUrl, ConfigError> {
        self.parse_log_url().map_err(|e| invalid("log.url", e.to_string()))
    }

    fn parse_log_url(&self) -> Result<LogUrl, LogUrlError> {
        match self.log.url.trim() {
            "" => Ok(LogUrl::Embedded { dir: self.server.data_dir.join("log") }),
            url => url.parse(),
        }
    }

    /// librdkafka properties from `log.kafka_properties`, split at the first `=`.
    pub fn kafka_properties(&self) -> Result<Vec<(String, String)>, ConfigError> {
        self.log
            .kafka_properties
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
                _ => Err(invalid("log.kafka_properties", format!("`{kv}` is not KEY=VALUE"))),
            })
            .collect()
    }
}

/// What is wrong with a `telemetry.otlp_endpoint` value, if anything: empty, or
/// `http://HOST:PORT` (OTLP over plain gRPC).
fn otlp_endpoint_problem(endpoint: &str) -> Option<String> {
    if endpoint.is_empty() {
        return None;
    }
    if endpoint.starts_with("https://") {
        return Some(format!(
            "`{endpoint}`: TLS to the collector is not built in; use http:// to a collector next to hookmetry \
             (an agent or sidecar), which can forward over TLS"
        ));
    }
    let Some(authority) = endpoint.strip_prefix("http://") else {
        return Some(format!(
            "`{endpoint}` is not an OTLP/gRPC endpoint: write http://HOST:PORT, e.g. http://otel-collector:4317"
        ));
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => (host, port),
        _ => {
            return Some(format!(
                "`{endpoint}` needs a host and a port and nothing else: write http://HOST:PORT, \
                 e.g. http://otel-collector:4317"
            ));
        }
    };
    let bad_host = host.chars().any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@'));
    if bad_host || port.is_empty() {
        return Some(format!("`{endpoint}` needs a host and a port and nothing else: write http://HOST:PORT"));
    }
    None
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::Invalid { key: key.into(), origin: "the configured value".into(), message }
}

fn parse_toml(text: &str, origin: &str) -> Result<Value, ConfigError> {
    text.parse::<toml::Table>()
        .map(Value::Table)
        .map_err(|e| ConfigError::Syntax { origin: origin.to_string(), message: e.message().to_string() })
}

/// `section.key` → value for every leaf (non-table) value.
fn leaf_keys(v: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Value::Table(sections) = v {
        for (section, inner) in sections {
            match inner {
                Value::Table(keys) => {
                    for (key, value) in keys {
                        out.insert(format!("{section}.{key}"), value.clone());
                    }
                }
                other => {
                    out.insert(section.clone(), other.clone());
                }
            }
        }
    }
    out
}

fn set_path(root: &mut Value, key: &str, value: Value) {
    let (section, leaf) = key.split_once('.').unwrap_or(("", key));
    if let Value::Table(t) = root
        && let Some(Value::Table(s)) = t.get_mut(section)
    {
        s.insert(leaf.to_string(), value);
    }
}

/// Reads a string from the environment or a flag as the type the default has.
fn typed_value(default: &Value, raw: &str, key: &str, origin: &str) -> Result<Value, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { key: key.into(), origin: origin.into(), message };
    Ok(match default {
        Value::Integer(_) => {
            Value::Integer(raw.trim().parse().map_err(|_| invalid(format!("expected a whole number, got `{raw}`")))?)
        }
        Value::Boolean(_) => {
            Value::Boolean(raw.trim().parse().map_err(|_| invalid(format!("expected true or false, got `{raw}`")))?)
        }
        Value::Float(_) => {
            Value::Float(raw.trim().parse().map_err(|_| invalid(format!("expected a number, got `{raw}`")))?)
        }
        Value::Array(_) => Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_string())).collect(),
        ),
        _ => Value::String(raw.to_string()),
    })
}

/// Convenience for tests and tools: defaults with `data_dir` and `listen` replaced.
pub fn for_data_dir(data_dir: &Path, listen: SocketAddr) -> Config {
    let mut c = Config::defaults();
    c.server.data_dir = data_dir.to_path_buf();
    c.server.listen = listen;
    c
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

#[cfg(test)]
mod tests;
