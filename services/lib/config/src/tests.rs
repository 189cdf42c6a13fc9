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
    assert_eq!(c.store_url().unwrap(), StoreUrl::Sqlite { path: PathBuf::from("./hookmetry-data/hookmetry.db") });
    assert_eq!(c.log_url().unwrap(), LogUrl::Embedded { dir: PathBuf::from("./hookmetry-data/log") });
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
        ("HOOKMETRY_STORE_EXPIRY_INTERVAL", "store.expiry_interval", "must be at least 1s, got 0ns"),
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
    assert_eq!(c.store_url().unwrap(), "scylla://n1:9042/hm".parse().unwrap());
    assert!(matches!(c.store_url().unwrap(), StoreUrl::Scylla { keyspace, .. } if keyspace == "hm"));
    assert!(
        matches!(c.log_url().unwrap(), LogUrl::Kafka { brokers, .. } if brokers == ["b1:9092", "b2:9092"]),
        "{:?}",
        c.log_url()
    );
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
fn backend_urls_are_parsed_at_load_naming_the_key() {
    let c = Config::load(&env(&[
        ("HOOKMETRY_LOG_URL", " embedded:///var/log/hm "),
        ("HOOKMETRY_STORE_URL", "sqlite:///var/lib/hm.db"),
    ]))
    .unwrap();
    assert_eq!(c.log_url().unwrap(), LogUrl::Embedded { dir: PathBuf::from("/var/log/hm") });
    assert_eq!(c.store_url().unwrap(), StoreUrl::Sqlite { path: PathBuf::from("/var/lib/hm.db") });
    for (var, value, key, message) in [
        ("HOOKMETRY_LOG_URL", "embedded://", "log.url", "`embedded://` is not a log URL"),
        ("HOOKMETRY_LOG_URL", "kafka://b1", "log.url", "log URL `kafka://b1`: broker `b1` is not host:port"),
        ("HOOKMETRY_LOG_URL", "kafka://b1:1?sasl.password=%zz", "log.url", "log URL `kafka://b1:1`: bad percent"),
        ("HOOKMETRY_LOG_URL", "kafka://b1:1?partitions=0", "log.url", "partitions must be at least 1"),
        ("HOOKMETRY_STORE_URL", "postgres://x", "store.url", "`postgres://x` is not a store URL: use sqlite://PATH"),
        ("HOOKMETRY_STORE_URL", "scylla:///ks", "store.url", "scylla store: `scylla:///ks` names no node"),
        ("HOOKMETRY_STORE_URL", "scylla://n1/ks?consistancy=one", "store.url", "unknown option `consistancy`"),
    ] {
        let err = Config::load(&env(&[(var, value)])).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config key `{key}` (from environment variable {var}): "))
                && err.contains(message),
            "{var}={value}: {err}"
        );
    }
    let mut c = Config::defaults();
    c.store.url = "nope".into();
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "config key `store.url` (from the configuration): `nope` is not a store URL: use sqlite://PATH or \
         scylla://HOST:PORT[,…]/KEYSPACE"
    );
}

#[test]
fn checks_from_other_crates_fail_the_load_naming_the_key_and_origin() {
    let check = |c: &Config| match c.replay.max_attempts {
        0 => Err(InvalidKey { key: "replay.max_attempts", message: "must be between 1 and 100".into() }),
        _ => Ok(()),
    };
    let sources = env(&[("HOOKMETRY_REPLAY_MAX_ATTEMPTS", "0")]);
    assert!(Config::load(&sources).is_ok(), "only the check refuses it");
    assert_eq!(
        Config::load_with(&sources, check).unwrap_err().to_string(),
        "config key `replay.max_attempts` (from environment variable HOOKMETRY_REPLAY_MAX_ATTEMPTS): must be between \
         1 and 100"
    );
    let mut c = Config::defaults();
    assert!(c.validate_with(check).is_ok());
    c.replay.max_attempts = 0;
    assert_eq!(
        c.validate_with(check).unwrap_err().to_string(),
        "config key `replay.max_attempts` (from the configuration): must be between 1 and 100"
    );
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
    assert!(c.replay.propagate_trace_context);

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
