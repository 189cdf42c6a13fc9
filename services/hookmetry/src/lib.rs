//! The `hookmetry` binary's library: composes the roles on chosen backends and owns the HTTP
//! server and shutdown. `main.rs` only parses flags and calls [`run`]; tests call the same
//! [`run`] with a listener bound to `127.0.0.1:0`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use hookmetry_config::{Config, LogFormat, RunMode};
use hookmetry_telemetry::{Metrics, Telemetry, TelemetryError, TraceExport};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod backends;
mod bootstrap;
mod hosts;
mod ops;
mod probe;
pub mod retention;
mod roles;
mod server;
pub mod settings;

pub use bootstrap::{ADMIN_TOKEN_FILE, Bootstrap};
pub use roles::Roles;

/// What a started instance tells its caller.
#[derive(Debug, Clone)]
pub struct Started {
    /// Base of the API and the inspector, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Base of capture URLs: `server.capture_base_url`, or `base_url` when that is not set.
    pub capture_base_url: String,
    /// The admin token when this start created it (first start only).
    pub new_admin_token: Option<String>,
    pub data_dir: PathBuf,
}

/// Runs every role in this process (`hookmetry serve`) until `shutdown` is cancelled, creating
/// the instance admin token on a new store. `on_started` is called once the server accepts
/// connections.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    on_started: impl FnOnce(&Started) + Send,
) -> anyhow::Result<()> {
    run_roles(config, Roles::ALL, RunMode::Serve, listener, shutdown, on_started).await
}

/// Runs `roles` in this process on the backends the config names. With [`RunMode::Serve`], a
/// store without tokens gets the instance admin token and replay may reach loopback unless
/// configured otherwise; with [`RunMode::Run`] (`hookmetry run --roles …`, a cluster node), such
/// a store is an error that points at `hookmetry migrate`, and replay keeps to the cluster
/// policy.
pub async fn run_roles(
    config: Config,
    roles: Roles,
    mode: RunMode,
    listener: TcpListener,
    shutdown: CancellationToken,
    on_started: impl FnOnce(&Started) + Send,
) -> anyhow::Result<()> {
    config.validate_with(settings::check)?;
    let mut config = config;
    let local = listener.local_addr().context("listener has no local address")?;
    // A port of 0 in the config means "any"; capture URLs must show the one actually bound.
    config.server.listen = local;
    let data_dir = config.server.data_dir.clone();
    let metrics = Metrics::new();
    let backends = backends::open(&config).await?;
    let (log, store) = (backends.log.clone(), backends.store.clone());

    let new_admin_token = if mode == RunMode::Serve {
        Bootstrap::ensure(store.as_ref(), &data_dir).await?.new_admin_token
    } else {
        if !store.has_tokens().await.context("cannot read the store")? {
            anyhow::bail!("the store has not been prepared: run `hookmetry migrate --store <url>` first");
        }
        None
    };
    let base_url = config.public_base_url();
    let capture_base_url = config.capture_base_url();

    let tasks = shutdown.child_token();
    let processor_up = Arc::new(AtomicBool::new(true));
    let replay_up = Arc::new(AtomicBool::new(true));
    let mut background = Vec::new();
    // The data dir's disk matters only where the embedded log or SQLite store writes into it.
    let embedded = backends.log_url.is_embedded() || backends.store_url.is_sqlite();
    let probe_metrics = probe::ProbeMetrics::new(&metrics, embedded.then_some(data_dir.as_path()))?;
    background.push(("probe", tokio::spawn(probe::run(log.clone(), store.clone(), probe_metrics, tasks.clone()))));
    let mut app = axum::Router::new();
    if roles.ingest {
        let ingest = hookmetry_ingest::Ingest::new(log.clone(), store.clone(), settings::ingest(&config), &metrics)?;
        app = app.merge(ingest.router());
    }
    if roles.processor {
        let processor =
            hookmetry_processor::Processor::new(log.clone(), store.clone(), settings::processor(&config), &metrics)?
                .with_forward_max_attempts(config.replay.max_attempts);
        let processor = Arc::new(processor);
        background.push((
            "processor",
            tokio::spawn(supervise("processor", tasks.clone(), processor_up.clone(), move |token| {
                let p = processor.clone();
                async move { p.run(token).await }
            })),
        ));
        // Retention runs with the processors: every cluster has them, and expiring is idempotent,
        // so several processors doing it at once only repeat each other.
        background.push((
            "retention",
            tokio::spawn(retention::run(store.clone(), config.store.retention_interval.0, &metrics, tasks.clone())?),
        ));
        background.push((
            "endpoint expiry",
            tokio::spawn(retention::run_endpoint_expiry(
                store.clone(),
                config.store.expiry_interval.0,
                &metrics,
                tasks.clone(),
            )?),
        ));
    }
    if roles.replay {
        let worker = hookmetry_replay::ReplayWorker::new(
            log.clone(),
            store.clone(),
            settings::replay(&config, mode)?,
            &metrics,
        )?;
        let worker = Arc::new(worker);
        background.push((
            "replay",
            tokio::spawn(supervise("replay", tasks.clone(), replay_up.clone(), move |token| {
                let w = worker.clone();
                async move { w.run(token).await }
            })),
        ));
    }
    if roles.api {
        let hub = hookmetry_api::Hub::new(config.api.subscriber_buffer, config.api.max_subscribers, &metrics)?;
        // The API checks replay targets against the same policy the workers enforce, so a refused
        // IP literal is refused when asked for, naming the key that would allow it.
        let replay = settings::replay(&config, mode)?;
        let subscriptions = hookmetry_api::Subscriptions::new(
            config.api.max_subscribers,
            config.api.max_subscribers_per_team,
            &metrics,
        )?;
        let api = hookmetry_api::Api::with_replay(
            store.clone(),
            hub.clone(),
            subscriptions,
            settings::api(&config),
            hookmetry_api::ReplaySettings {
                log: log.clone(),
                policy: replay.sender.policy.clone(),
                max_attempts: replay.schedule.max_attempts,
            },
        );
        background.push(("live fan-out", tokio::spawn(hub.run(log.clone(), store.clone(), tasks.clone()))));
        app = app.merge(api.router());
    }
    let mut app = app.merge(ops::router(ops::Ops {
        log: log.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        processor_up: processor_up.clone(),
        replay_up: replay_up.clone(),
    }));

    if let Some((capture, inspector)) = config.split_hosts() {
        let hosts = hosts::Hosts {
            capture,
            inspector,
            capture_base_url: capture_base_url.clone(),
            inspector_base_url: base_url.clone(),
        };
        app = app.layer(axum::middleware::from_fn(move |req, next| hosts::split(hosts.clone(), req, next)));
    }

    let started =
        Started { base_url: base_url.clone(), capture_base_url: capture_base_url.clone(), new_admin_token, data_dir };
    tracing::info!(listen = %local, base_url = %base_url, roles = %roles, log = backends.log_url.kind(), store = backends.store_url.kind(), "hookmetry serving");
    on_started(&started);

    server::serve(listener, app, &config, server::ServerMetrics::register(&metrics)?, shutdown.clone()).await;

    tasks.cancel();
    for (name, task) in background {
        if let Err(e) = task.await {
            tracing::error!(error = %e, task = name, "background task failed");
        }
    }
    drop(backends);
    tracing::info!("hookmetry stopped");
    Ok(())
}

/// Starts log output and, when `telemetry.otlp_endpoint` is set and `roles` is given, span
/// export for a process running `roles` (docs/tracing.md). Call it inside the tokio runtime the
/// roles will run on, keep the returned guard while they run, and shut it down (which sends the
/// last spans) before that runtime stops.
pub fn init_telemetry(config: &Config, roles: Option<Roles>) -> Result<Telemetry, TelemetryError> {
    let format = match config.telemetry.log_format {
        LogFormat::Json => hookmetry_telemetry::LogFormat::Json,
        LogFormat::Text => hookmetry_telemetry::LogFormat::Text,
    };
    let export = config.otlp_endpoint().zip(roles).map(|(endpoint, roles)| TraceExport {
        endpoint: endpoint.to_string(),
        sample_ratio: config.telemetry.trace_sample_ratio,
        service_name: config.telemetry.service_name.trim().to_string(),
        service_version: env!("CARGO_PKG_VERSION").to_string(),
        roles: roles.to_string(),
    });
    hookmetry_telemetry::init(format, &config.telemetry.log_filter, export.as_ref())
}

/// `hookmetry migrate`: prepares the store (schema, and on a new store the default team and the
/// instance admin token, returned once and written to `data_dir/admin-token` when given).
pub async fn migrate(
    config: &Config,
    data_dir: Option<&std::path::Path>,
    admin_token: Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(t) = &admin_token
        && (t.len() < 32 || t.len() > 256 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
    {
        anyhow::bail!("the given admin token must be 32 to 256 letters, digits, `-`, `_` or `.`");
    }
    let store = backends::open_store(config, true).await?;
    let dir = data_dir.map(std::path::Path::to_path_buf);
    Ok(Bootstrap::ensure_with_token(store.as_ref(), dir.as_deref(), admin_token).await?.new_admin_token)
}

/// Mints a new instance-admin token and revokes every other one, for an operator who can reach
/// the store (and the data dir, where the new token is written as `admin-token`, mode 0600)
/// but has lost the token or suspects it leaked. A running server honours the revocation at
/// once: tokens are checked on every request and every WebSocket operation.
pub async fn rotate_admin_token(config: &Config, data_dir: Option<&std::path::Path>) -> anyhow::Result<RotatedToken> {
    let store = backends::open_store(config, false).await?;
    bootstrap::rotate_admin_token(store.as_ref(), data_dir).await
}

pub use bootstrap::RotatedToken;

/// Keeps a background role running: if the processor fails or panics, ingest would go on
/// acknowledging captures that nobody stores until the log is full; if the replay worker does,
/// deliveries silently stop. `/readyz` reports the role through `up` while it is down.
async fn supervise<F, Fut, E>(name: &'static str, shutdown: CancellationToken, up: Arc<AtomicBool>, run: F)
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    loop {
        let outcome = tokio::spawn(run(shutdown.clone())).await;
        if shutdown.is_cancelled() {
            return;
        }
        up.store(false, Ordering::Relaxed);
        match outcome {
            Ok(Ok(())) => tracing::error!(role = name, "role stopped unexpectedly; restarting"),
            Ok(Err(e)) => tracing::error!(role = name, error = %e, "role failed; restarting"),
            Err(e) => tracing::error!(role = name, error = %e, "role panicked; restarting"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
        up.store(true, Ordering::Relaxed);
    }
}
