use super::*;

fn env(pairs: &[(&str, &str)]) -> Sources {
    Sources { env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
}

#[test]
fn defaults_load_and_match_documented_values() {
    let c = Config::defaults();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.data_dir, PathBuf::from("./hookmetry-data"));
    assert_eq!(c.ingest.max_body_bytes, ByteSize(10 << 20));
    assert_eq!(c.ingest.append_timeout.0, Duration::from_secs(10));
    assert_eq!(c.public_base_url(), "http://127.0.0.1:8080");
    assert_eq!(c.store_backend().unwrap(), StoreBackend::Sqlite(PathBuf::from("./hookmetry-data/hookmetry.db")));
    assert_eq!(c.log_backend().unwrap(), LogBackend::Embedded(PathBuf::from("./hookmetry-data/log")));
}

#[test]
fn env_overrides_defaults_with_types_from_defaults() {
    let c = Config::load(&env(&[
        ("HOOKMETRY_INGEST_MAX_BODY_BYTES", "100MiB"),
        ("HOOKMETRY_INGEST_MAX_HEADERS", "50"),
        ("HOOKMETRY_INGEST_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32"),
        ("HOOKMETRY_SERVER_PUBLIC_URL", "https://hooks.example.com/"),
        ("HOOKMETRY_UNRELATED", "ignored"),
        ("PATH", "/bin"),
    ]))
    .unwrap();
    assert_eq!(c.ingest.max_body_bytes, ByteSize(100 << 20));
    assert_eq!(c.ingest.max_headers, 50);
    assert_eq!(c.ingest.trusted_proxies.len(), 2);
    assert_eq!(c.public_base_url(), "https://hooks.example.com");
}

#[test]
fn file_then_env_then_flags() {
    let dir = std::env::temp_dir().join(format!("hm-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, "[ingest]\nmax_headers = 10\nmax_body_bytes = 2048\n[api]\nmax_page_size = 50\n").unwrap();
    let c = Config::load(&Sources {
        file: Some(file.clone()),
        env: vec![("HOOKMETRY_INGEST_MAX_HEADERS".into(), "20".into())],
        overrides: vec![("api.max_page_size".into(), "70".into())],
    })
    .unwrap();
    assert_eq!(c.ingest.max_body_bytes, ByteSize(2048), "file sets a plain byte count");
    assert_eq!(c.ingest.max_headers, 20, "env beats file");
    assert_eq!(c.api.max_page_size, 70, "flag beats file");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn errors_name_the_key_and_origin() {
    let err = Config::load(&env(&[("HOOKMETRY_INGEST_MAX_HEADERS", "many")])).unwrap_err().to_string();
    assert_eq!(
        err,
        "config key `ingest.max_headers` (from environment variable HOOKMETRY_INGEST_MAX_HEADERS): expected a whole number, got `many`"
    );

    let err = Config::load(&env(&[("HOOKMETRY_INGEST_MAX_BODY_BYTES", "1GiB")])).unwrap_err().to_string();
    assert!(err.starts_with("config key `ingest.max_body_bytes` (from environment variable"), "{err}");
    assert!(err.contains("between 1 byte and 512MiB, got 1GiB"), "{err}");
    let err = Config::load(&env(&[("HOOKMETRY_PROCESSOR_POLL_WAIT", "0ms")])).unwrap_err().to_string();
    assert!(err.starts_with("config key `processor.poll_wait`"), "{err}");
    let err = Config::load(&env(&[("HOOKMETRY_LOG_MAX_UNCONSUMED_BYTES", "1MiB")])).unwrap_err().to_string();
    assert!(err.contains("must be at least 4 × ingest.max_body_bytes (40MiB), got 1MiB"), "{err}");

    for (var, key, message) in [
        ("HOOKMETRY_API_SUBSCRIBER_BUFFER", "api.subscriber_buffer", "must be between 1 and 100000, got 0"),
        ("HOOKMETRY_API_MAX_SUBSCRIBERS", "api.max_subscribers", "must be between 1 and 1000000, got 0"),
        ("HOOKMETRY_STORE_RETENTION_INTERVAL", "store.retention_interval", "must be at least 1s, got 0ns"),
    ] {
        let value = if var.ends_with("INTERVAL") { "0ms" } else { "0" };
        let err = Config::load(&env(&[(var, value)])).unwrap_err().to_string();
        assert!(err.starts_with(&format!("config key `{key}`")) && err.ends_with(message), "{err}");
    }

    let err = Config::load(&env(&[("HOOKMETRY_PROCESSOR_POLL_WAIT", "soon")])).unwrap_err().to_string();
    assert!(err.starts_with("config key `processor.poll_wait`"), "{err}");

    let err = Config::load(&env(&[("HOOKMETRY_INGEST_MAX_BODY_BYTES", "10 parsecs")])).unwrap_err().to_string();
    assert!(err.contains("unknown size unit `parsecs`"), "{err}");

    let err = Config::load(&Sources { overrides: vec![("ingest.nope".into(), "1".into())], ..Default::default() })
        .unwrap_err()
        .to_string();
    assert_eq!(err, "unknown config key `ingest.nope` (from flag for `ingest.nope`)");
}

#[test]
fn unknown_key_in_file_is_named() {
    let dir = std::env::temp_dir().join(format!("hm-config-unknown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, "[ingest]\nmax_bodybytes = 10\n").unwrap();
    let err = Config::load(&Sources { file: Some(file.clone()), ..Default::default() }).unwrap_err().to_string();
    assert!(err.starts_with("unknown config key `ingest.max_bodybytes` (from file"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn cross_key_validation() {
    let err = Config::load(&env(&[
        ("HOOKMETRY_INGEST_MAX_BODY_BYTES", "100MiB"),
        ("HOOKMETRY_INGEST_INFLIGHT_BYTES", "50MiB"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("config key `ingest.inflight_bytes`"), "{err}");
    let c = Config::load(&env(&[
        ("HOOKMETRY_STORE_URL", "scylla://n1:9042/hm"),
        ("HOOKMETRY_LOG_URL", "kafka://b1:9092,b2:9092"),
        ("HOOKMETRY_LOG_KAFKA_PROPERTIES", "security.protocol=SASL_SSL,sasl.mechanism=PLAIN"),
    ]))
    .unwrap();
    assert_eq!(c.store_backend().unwrap(), StoreBackend::Scylla("scylla://n1:9042/hm".into()));
    assert_eq!(c.log_backend().unwrap(), LogBackend::Kafka("b1:9092,b2:9092".into()));
    assert_eq!(c.kafka_properties().unwrap()[1], ("sasl.mechanism".to_string(), "PLAIN".to_string()));
    // Checked at load, naming the key and where the value came from.
    let err = Config::load(&env(&[("HOOKMETRY_LOG_URL", "nats://x")])).unwrap_err().to_string();
    assert!(
        err.starts_with("config key `log.url`") && err.contains("HOOKMETRY_LOG_URL") && err.contains("kafka://"),
        "{err}"
    );
    let err = Config::load(&env(&[("HOOKMETRY_STORE_SCYLLA_CONSISTENCY", "most")])).unwrap_err().to_string();
    assert!(err.starts_with("config key `store.scylla_consistency`"), "{err}");
}

#[test]
fn units() {
    assert_eq!(parse_size("64KiB").unwrap(), 65_536);
    assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
    assert!(parse_duration("5").unwrap_err().contains("needs a unit"));
    assert_eq!(ByteSize(10 << 20).to_string(), "10MiB");
}

#[test]
fn replay_defaults_and_the_loopback_default_of_each_mode() {
    let c = Config::defaults();
    let serve = c.replay_settings(RunMode::Serve).unwrap();
    let run = c.replay_settings(RunMode::Run).unwrap();
    assert_eq!(serve.sender.connect_timeout, Duration::from_secs(5));
    assert_eq!(serve.sender.total_timeout, Duration::from_secs(30));
    assert_eq!(serve.sender.max_response_body_bytes, 65_536);
    assert_eq!(serve.schedule.initial, Duration::from_secs(1));
    assert_eq!(serve.schedule.max_delay, Duration::from_secs(3600));
    assert_eq!(serve.schedule.max_attempts, 8);
    assert_eq!(serve.worker.per_target_concurrency, 4);
    assert_eq!(serve.worker.scan_interval, Duration::from_secs(1));
    assert_eq!(serve.worker.shutdown_grace, c.server.shutdown_grace.0);
    // "auto": a laptop replays to its own localhost, a cluster node does not.
    assert_eq!(serve.sender.policy, hookmetry_egress::EgressPolicy::laptop());
    assert_eq!(run.sender.policy, hookmetry_egress::EgressPolicy::cluster());
}

#[test]
fn replay_keys_from_env_flags_and_files() {
    let c = Config::load(&Sources {
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
    let s = c.replay_settings(RunMode::Serve).unwrap();
    assert!(!s.sender.policy.allow_loopback, "an explicit false beats the serve default");
    assert!(s.sender.policy.allow_private);
    assert_eq!(s.sender.policy.allowed_networks.len(), 2);
    assert_eq!(s.sender.policy.denied_networks[0].to_string(), "10.1.2.3/32");
    assert_eq!(s.schedule.initial, Duration::from_millis(20));
    assert_eq!(s.schedule.max_attempts, 3);

    let dir = tempfile_dir("replay");
    let file = dir.join("c.toml");
    std::fs::write(&file, "[replay]\nallow_loopback = true\nmax_response_body_bytes = 1024\n").unwrap();
    let c = Config::load(&Sources { file: Some(file), ..Default::default() }).unwrap();
    let s = c.replay_settings(RunMode::Run).unwrap();
    assert!(s.sender.policy.allow_loopback, "a file's boolean is taken as written");
    assert_eq!(s.sender.max_response_body_bytes, 1024);
    std::fs::remove_dir_all(dir).ok();
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
        ("HOOKMETRY_REPLAY_DENIED_NETWORKS", "intranet", "replay.denied_networks", "`intranet` is not an IP network"),
    ] {
        let err = Config::load(&env(&[(var, value)])).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config key `{key}` (from environment variable {var})")) && err.contains(message),
            "{var}={value}: {err}"
        );
    }
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hm-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn telemetry_trace_keys_default_to_no_export_and_load_from_every_layer() {
    let c = Config::defaults();
    assert_eq!(c.otlp_endpoint(), None, "tracing export is off by default");
    assert_eq!(c.telemetry.trace_sample_ratio, 1.0);
    assert_eq!(c.telemetry.service_name, "hookmetry");
    assert!(!c.replay.propagate_trace_context, "forwarding stays byte-exact by default");
    assert!(!c.replay_settings(RunMode::Serve).unwrap().worker.propagate_trace_context);

    let c = Config::load(&Sources {
        env: vec![
            ("HOOKMETRY_TELEMETRY_OTLP_ENDPOINT".into(), "http://otel-collector:4317".into()),
            ("HOOKMETRY_TELEMETRY_TRACE_SAMPLE_RATIO".into(), "0.25".into()),
        ],
        overrides: vec![
            ("telemetry.service_name".into(), "hookmetry-eu".into()),
            ("replay.propagate_trace_context".into(), "true".into()),
        ],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.otlp_endpoint(), Some("http://otel-collector:4317"));
    assert_eq!(c.telemetry.trace_sample_ratio, 0.25);
    assert_eq!(c.telemetry.service_name, "hookmetry-eu");
    assert!(c.replay_settings(RunMode::Run).unwrap().worker.propagate_trace_context);

    let dir = tempfile_dir("telemetry");
    let file = dir.join("c.toml");
    // A whole number is a ratio too.
    std::fs::write(&file, "[telemetry]\ntrace_sample_ratio = 0\notlp_endpoint = \"http://[::1]:4317/\"\n").unwrap();
    let c = Config::load(&Sources { file: Some(file), ..Default::default() }).unwrap();
    assert_eq!(c.telemetry.trace_sample_ratio, 0.0);
    assert_eq!(c.otlp_endpoint(), Some("http://[::1]:4317/"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_telemetry_values_fail_the_load_naming_the_key() {
    for (var, value, key, message) in [
        (
            "HOOKMETRY_TELEMETRY_TRACE_SAMPLE_RATIO",
            "1.5",
            "telemetry.trace_sample_ratio",
            "between 0.0 and 1.0, got 1.5",
        ),
        ("HOOKMETRY_TELEMETRY_TRACE_SAMPLE_RATIO", "-0.1", "telemetry.trace_sample_ratio", "between 0.0 and 1.0"),
        ("HOOKMETRY_TELEMETRY_TRACE_SAMPLE_RATIO", "NaN", "telemetry.trace_sample_ratio", "between 0.0 and 1.0"),
        ("HOOKMETRY_TELEMETRY_TRACE_SAMPLE_RATIO", "half", "telemetry.trace_sample_ratio", "expected a number"),
        (
            "HOOKMETRY_TELEMETRY_OTLP_ENDPOINT",
            "otel-collector:4317",
            "telemetry.otlp_endpoint",
            "write http://HOST:PORT",
        ),
        ("HOOKMETRY_TELEMETRY_OTLP_ENDPOINT", "https://otel.example:4317", "telemetry.otlp_endpoint", "TLS"),
        ("HOOKMETRY_TELEMETRY_OTLP_ENDPOINT", "http://otel-collector", "telemetry.otlp_endpoint", "a host and a port"),
        ("HOOKMETRY_TELEMETRY_OTLP_ENDPOINT", "http://:4317", "telemetry.otlp_endpoint", "a host and a port"),
        (
            "HOOKMETRY_TELEMETRY_OTLP_ENDPOINT",
            "http://c:4317/v1/traces",
            "telemetry.otlp_endpoint",
            "a host and a port",
        ),
        ("HOOKMETRY_TELEMETRY_OTLP_ENDPOINT", "http://user@c:4317", "telemetry.otlp_endpoint", "a host and a port"),
        ("HOOKMETRY_TELEMETRY_SERVICE_NAME", " ", "telemetry.service_name", "must be 1 to 255 characters"),
        ("HOOKMETRY_REPLAY_PROPAGATE_TRACE_CONTEXT", "yes", "replay.propagate_trace_context", "expected true or false"),
    ] {
        let err = Config::load(&env(&[(var, value)])).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config key `{key}` (from environment variable {var})")) && err.contains(message),
            "{var}={value}: {err}"
        );
    }
}
