//! The one place [`Config`] becomes the settings of each role and backend: the library crates
//! take plain settings structs and know nothing of the configuration file.

use anyhow::Context as _;
use hookmetry_config::{Config, ConfigError, InvalidKey, RunMode, Sources};
use hookmetry_core::{TOPIC_CAPTURES, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES, TOPIC_EVENTS};
use hookmetry_egress::EgressPolicy;
use hookmetry_log::{EmbeddedLogOptions, KafkaSettings, LogOptions, LogUrl};
use hookmetry_store::{ScyllaSettings, StoreOptions};

/// Loads the configuration, with the keys whose rules live in the role crates checked too, so
/// a bad replay or egress value stops the start naming the key and where it came from.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    Config::load_with(sources, check)
}

/// The checks of the role crates' own rules (see [`load`]).
pub fn check(config: &Config) -> Result<(), InvalidKey> {
    // The mode changes only the loopback default, never whether a value is valid.
    replay_checked(config, RunMode::Run).map(drop)
}

/// The replay worker's settings: its HTTP client (with the address policy of `mode` where
/// `replay.allow_loopback` is `"auto"`), its retry schedule and its limits.
pub fn replay(config: &Config, mode: RunMode) -> Result<hookmetry_replay::ReplaySettings, ConfigError> {
    replay_checked(config, mode).map_err(|InvalidKey { key, message }| ConfigError::Invalid {
        key: key.into(),
        origin: "the configured value".into(),
        message,
    })
}

fn replay_checked(config: &Config, mode: RunMode) -> Result<hookmetry_replay::ReplaySettings, InvalidKey> {
    let r = &config.replay;
    // "auto" trusts loopback only on a personal instance: `serve` that nobody else can
    // reach. Listening on another address makes the instance shared, and replay to its own
    // host an open proxy into that host's services.
    let base = match mode {
        RunMode::Serve if config.server.listen.ip().is_loopback() => EgressPolicy::laptop(),
        RunMode::Serve | RunMode::Run => EgressPolicy::cluster(),
    };
    let policy = EgressPolicy {
        allow_loopback: r.allow_loopback.unwrap_or(base.allow_loopback),
        allow_private: r.allow_private,
        allow_link_local: r.allow_link_local,
        ..base
    }
    .allow_networks(&r.allowed_networks)
    .and_then(|p| p.deny_networks(&r.denied_networks))
    .map_err(|e| InvalidKey { key: e.key, message: format!("`{}` {}", e.entry, e.reason) })?;
    let max_response_body_bytes = usize::try_from(r.max_response_body_bytes.0).map_err(|_| InvalidKey {
        key: "replay.max_response_body_bytes",
        message: format!("is {}; it can be at most 64MiB", r.max_response_body_bytes),
    })?;
    let settings = hookmetry_replay::ReplaySettings {
        sender: hookmetry_replay::SenderSettings {
            policy,
            connect_timeout: r.connect_timeout.0,
            total_timeout: r.total_timeout.0,
            max_response_body_bytes,
        },
        schedule: hookmetry_replay::RetrySchedule {
            initial: r.retry_initial.0,
            max_delay: r.retry_max_delay.0,
            max_attempts: r.max_attempts,
        },
        worker: hookmetry_replay::WorkerSettings {
            per_target_concurrency: r.per_target_concurrency,
            scan_interval: r.scan_interval.0,
            // Attempts in flight may finish while the server drains its requests.
            shutdown_grace: config.server.shutdown_grace.0,
            propagate_trace_context: r.propagate_trace_context,
            ..hookmetry_replay::WorkerSettings::default()
        },
    };
    settings.validate().map_err(|e| InvalidKey { key: e.key, message: e.reason })?;
    Ok(settings)
}

pub fn ingest(config: &Config) -> hookmetry_ingest::IngestSettings {
    let i = &config.ingest;
    hookmetry_ingest::IngestSettings {
        max_body_bytes: i.max_body_bytes.0,
        max_headers: i.max_headers,
        max_header_bytes: i.max_header_bytes.0,
        inflight_bytes: i.inflight_bytes.0,
        team_inflight_bytes: i.team_inflight_bytes.0.min(i.inflight_bytes.0),
        max_hops: i.max_hops,
        separate_capture_origin: config.split_hosts().is_some(),
        trusted_proxies: i.trusted_proxies.clone(),
        append_timeout: i.append_timeout.0,
        body_timeout: i.body_timeout.0,
        endpoint_cache_ttl: i.endpoint_cache_ttl.0,
    }
}

pub fn processor(config: &Config) -> hookmetry_processor::ProcessorSettings {
    let p = &config.processor;
    hookmetry_processor::ProcessorSettings {
        batch_size: p.batch_size,
        poll_wait: p.poll_wait.0,
        commit_interval: p.commit_interval.0,
        batch_linger: p.batch_linger.0,
        public_base_url: config.capture_base_url(),
        schema_drift: p.schema_drift,
    }
}

pub fn api(config: &Config) -> hookmetry_api::ApiSettings {
    let a = &config.api;
    hookmetry_api::ApiSettings {
        default_page_size: a.default_page_size,
        max_page_size: a.max_page_size,
        public_base_url: config.capture_base_url(),
        separate_capture_origin: config.split_hosts().is_some(),
        own_base_urls: own_base_urls(config),
        max_listeners_per_endpoint: a.max_listeners_per_endpoint,
        max_endpoints_per_team: a.max_endpoints_per_team,
        max_tokens_per_team: a.max_tokens_per_team,
        // A single capture view must always fit.
        max_response_bytes: a.max_response_bytes.0.max(2 * config.ingest.max_body_bytes.0),
        max_body_bytes: config.ingest.max_body_bytes.0,
        ws: hookmetry_api::WsSettings {
            init_timeout: a.ws_init_timeout.0,
            max_message_bytes: usize::try_from(a.ws_max_message_bytes.0).unwrap_or(usize::MAX),
            idle_timeout: a.ws_idle_timeout.0,
            session_recheck: a.session_recheck.0,
        },
    }
}

/// Every base URL under which this instance's own capture URLs can be reached: the
/// configured ones and the listen address (with `localhost` and the loopback addresses when
/// it listens on loopback or on every address). Forwarding and replay refuse these.
pub fn own_base_urls(config: &Config) -> Vec<String> {
    let bases = [config.capture_base_url(), config.public_base_url(), format!("http://{}", config.server.listen)];
    hookmetry_egress::with_local_aliases(&bases)
}

/// How to open the log at `url`.
pub fn log(config: &Config, url: &LogUrl) -> Result<LogOptions, ConfigError> {
    // The body plus every header and the envelope fits; anything larger was refused by
    // ingest's own limits before it got here.
    let max_record_bytes = config.ingest.max_body_bytes.0 + 2 * config.ingest.max_header_bytes.0 + (64 << 10);
    let l = &config.log;
    Ok(LogOptions {
        embedded: EmbeddedLogOptions {
            segment_bytes: l.segment_bytes.0,
            max_unconsumed_bytes: l.max_unconsumed_bytes.0,
            max_record_bytes,
            // Capture events only feed live subscribers, which live in this process: after a
            // crash there is nobody to tell, so they are not worth an fsync each.
            volatile_topics: vec![TOPIC_EVENTS.to_string()],
            ..EmbeddedLogOptions::default()
        },
        kafka: KafkaSettings {
            partitions: l.kafka_partitions as i32,
            replication_factor: l.kafka_replication_factor as i32,
            create_topics: l.kafka_create_topics,
            session_timeout: l.kafka_session_timeout.0,
            // The producer gives a message up when ingest stops waiting for it, so a capture
            // answered with 503 is never delivered later behind the sender's back.
            append_timeout: config.ingest.append_timeout.0,
            max_record_bytes,
            // Read only for Kafka, so a bad entry never stops an embedded start.
            properties: if url.is_embedded() { Vec::new() } else { config.kafka_properties()? },
            topics: [TOPIC_CAPTURES, TOPIC_EVENTS, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES].map(String::from).to_vec(),
        },
    })
}

/// How to open the store; with `migrate`, its schema is created or upgraded first.
pub fn store(config: &Config, migrate: bool) -> anyhow::Result<StoreOptions> {
    Ok(StoreOptions {
        migrate,
        scylla: ScyllaSettings {
            consistency: config.store.scylla_consistency.parse().context("store.scylla_consistency")?,
            replication_factor: config.store.scylla_replication_factor,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources { env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    #[test]
    fn replay_defaults_and_the_loopback_default_of_each_mode() {
        let c = Config::defaults();
        let serve = replay(&c, RunMode::Serve).unwrap();
        let run = replay(&c, RunMode::Run).unwrap();
        assert_eq!(serve.sender.connect_timeout, Duration::from_secs(5));
        assert_eq!(serve.sender.total_timeout, Duration::from_secs(30));
        assert_eq!(serve.sender.max_response_body_bytes, 65_536);
        assert_eq!(serve.schedule.initial, Duration::from_secs(1));
        assert_eq!(serve.schedule.max_delay, Duration::from_secs(3600));
        assert_eq!(serve.schedule.max_attempts, 8);
        assert_eq!(serve.worker.per_target_concurrency, 8);
        assert_eq!(serve.worker.scan_interval, Duration::from_secs(1));
        assert_eq!(serve.worker.shutdown_grace, c.server.shutdown_grace.0);
        // "auto": a laptop replays to its own localhost, a cluster node does not.
        assert_eq!(serve.sender.policy, EgressPolicy::laptop());
        assert_eq!(run.sender.policy, EgressPolicy::cluster());
    }

    #[test]
    fn replay_keys_from_env_flags_and_files() {
        let c = load(&Sources {
            env: vec![
                ("HOOKMETRY_REPLAY_ALLOW_LOOPBACK".into(), "false".into()),
                ("HOOKMETRY_REPLAY_ALLOWED_NETWORKS".into(), "10.1.0.0/16, 192.168.1.5".into()),
                ("HOOKMETRY_REPLAY_RETRY_INITIAL".into(), "20ms".into()),
            ],
            overrides: vec![
                ("replay.max_attempts".into(), "3".into()),
                ("replay.allow_private".into(), "true".into()),
                ("replay.denied_networks".into(), "10.1.2.3".into()),
            ],
            ..Default::default()
        })
        .unwrap();
        let s = replay(&c, RunMode::Serve).unwrap();
        assert!(!s.sender.policy.allow_loopback, "an explicit false beats the serve default");
        assert!(s.sender.policy.allow_private);
        assert_eq!(s.sender.policy.allowed_networks.len(), 2);
        assert_eq!(s.sender.policy.denied_networks[0].to_string(), "10.1.2.3/32");
        assert_eq!(s.schedule.initial, Duration::from_millis(20));
        assert_eq!(s.schedule.max_attempts, 3);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[replay]\nallow_loopback = true\nmax_response_body_bytes = 1024\n").unwrap();
        let c = load(&Sources { file: Some(file), ..Default::default() }).unwrap();
        let s = replay(&c, RunMode::Run).unwrap();
        assert!(s.sender.policy.allow_loopback, "a file's boolean is taken as written");
        assert_eq!(s.sender.max_response_body_bytes, 1024);
    }

    #[test]
    fn bad_replay_values_fail_the_load_naming_the_key() {
        for (var, value, key, message) in [
            ("HOOKMETRY_REPLAY_CONNECT_TIMEOUT", "0s", "replay.connect_timeout", "must be more than 0s, such as 5s"),
            ("HOOKMETRY_REPLAY_TOTAL_TIMEOUT", "11m", "replay.total_timeout", "is 11m; it can be at most 10m"),
            ("HOOKMETRY_REPLAY_MAX_RESPONSE_BODY_BYTES", "65MiB", "replay.max_response_body_bytes", "at most 67108864"),
            ("HOOKMETRY_REPLAY_RETRY_INITIAL", "0ms", "replay.retry_initial", "must be more than 0s, such as 1s"),
            ("HOOKMETRY_REPLAY_RETRY_MAX_DELAY", "500ms", "replay.retry_max_delay", "less than replay.retry_initial"),
            ("HOOKMETRY_REPLAY_MAX_ATTEMPTS", "0", "replay.max_attempts", "must be between 1 and 100"),
            ("HOOKMETRY_REPLAY_PER_TARGET_CONCURRENCY", "0", "replay.per_target_concurrency", "between 1 and 256"),
            ("HOOKMETRY_REPLAY_SCAN_INTERVAL", "1ms", "replay.scan_interval", "between 10ms and 10m"),
            ("HOOKMETRY_REPLAY_ALLOW_LOOPBACK", "sometimes", "replay.allow_loopback", "true, false or \"auto\""),
            ("HOOKMETRY_REPLAY_ALLOWED_NETWORKS", "10.0.0.1/8", "replay.allowed_networks", "has host bits set"),
            (
                "HOOKMETRY_REPLAY_DENIED_NETWORKS",
                "intranet",
                "replay.denied_networks",
                "`intranet` is not an IP network",
            ),
        ] {
            let err = load(&env(&[(var, value)])).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("config key `{key}` (from environment variable {var})"))
                    && err.contains(message),
                "{var}={value}: {err}"
            );
        }
    }

    #[test]
    fn trace_context_propagation_reaches_the_worker() {
        assert!(!replay(&Config::defaults(), RunMode::Serve).unwrap().worker.propagate_trace_context);
        let c = load(&Sources {
            overrides: vec![("replay.propagate_trace_context".into(), "true".into())],
            ..Default::default()
        })
        .unwrap();
        assert!(replay(&c, RunMode::Run).unwrap().worker.propagate_trace_context);
    }

    #[test]
    fn kafka_properties_are_read_only_for_a_kafka_log() {
        let mut c = Config::defaults();
        c.log.kafka_properties = vec!["no-equals-sign".into()];
        let embedded = c.log_url().unwrap();
        assert!(log(&c, &embedded).unwrap().kafka.properties.is_empty());
        let kafka: LogUrl = "kafka://b:9092".parse().unwrap();
        let err = log(&c, &kafka).err().unwrap().to_string();
        assert!(err.contains("log.kafka_properties") && err.contains("`no-equals-sign` is not KEY=VALUE"), "{err}");
        c.log.kafka_properties = vec!["security.protocol=SSL".into()];
        let options = log(&c, &kafka).unwrap();
        assert_eq!(options.kafka.properties, [("security.protocol".to_string(), "SSL".to_string())]);
        assert_eq!(options.kafka.topics.len(), 4);
    }
}
