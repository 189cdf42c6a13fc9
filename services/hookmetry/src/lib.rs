//! The `hookmetry` binary's library: composes the roles on chosen backends and owns the HTTP
//! server and shutdown. `main.rs` only parses flags and calls [`run`]; tests call the same
//! [`run`] with a listener bound to `127.0.0.1:0`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use hookmetry_config::Config;
use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions, EventLog};
use hookmetry_store::{SqliteStore, Store};
use hookmetry_telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod bootstrap;
mod ops;
pub mod retention;
mod server;

pub use bootstrap::{ADMIN_TOKEN_FILE, Bootstrap};

/// What a started instance tells its caller.
#[derive(Debug, Clone)]
pub struct Started {
    /// Base of capture URLs and the API, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// The admin token when this start created it (first start only).
    pub new_admin_token: Option<String>,
    pub data_dir: PathBuf,
}

/// Runs every role in this process on the embedded backends until `shutdown` is cancelled.
/// `on_started` is called once the server accepts connections.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    on_started: impl FnOnce(&Started) + Send,
) -> anyhow::Result<()> {
    config.validate()?;
    let mut config = config;
    let local = listener.local_addr().context("listener has no local address")?;
    // A port of 0 in the config means "any"; capture URLs must show the one actually bound.
    config.server.listen = local;
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let _lock = bootstrap::lock_data_dir(&data_dir)?;

    let log_dir = config.log_dir()?;
    let log: Arc<dyn EventLog> = EmbeddedLog::open(
        log_dir.clone(),
        EmbeddedLogOptions {
            segment_bytes: config.log.segment_bytes.0,
            max_unconsumed_bytes: config.log.max_unconsumed_bytes.0,
            // The body plus every header and the envelope fits; anything larger was refused by
            // ingest's own limits before it got here.
            max_record_bytes: config.ingest.max_body_bytes.0 + 2 * config.ingest.max_header_bytes.0 + (64 << 10),
            // Capture events only feed live subscribers, which live in this process: after a
            // crash there is nobody to tell, so they are not worth an fsync each.
            volatile_topics: vec![hookmetry_core::TOPIC_EVENTS.to_string()],
            ..EmbeddedLogOptions::default()
        },
    )
    .await
    .with_context(|| format!("cannot open the embedded log in {}", log_dir.display()))?;
    let store_path = config.store_path()?;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&store_path)
            .await
            .with_context(|| format!("cannot open the store {}", store_path.display()))?,
    );

    let boot = Bootstrap::ensure(store.as_ref(), &data_dir).await?;
    let base_url = config.public_base_url();
    let metrics = Metrics::new();

    let ingest = hookmetry_ingest::Ingest::new(
        log.clone(),
        store.clone(),
        hookmetry_ingest::IngestSettings::from_config(&config),
        &metrics,
    )?;
    let processor = hookmetry_processor::Processor::new(
        log.clone(),
        store.clone(),
        hookmetry_processor::ProcessorSettings {
            batch_size: config.processor.batch_size,
            poll_wait: config.processor.poll_wait.0,
            commit_interval: config.processor.commit_interval.0,
            batch_linger: config.processor.batch_linger.0,
            public_base_url: base_url.clone(),
        },
        &metrics,
    )?;
    let hub = hookmetry_api::Hub::new(config.api.subscriber_buffer, config.api.max_subscribers, &metrics)?;
    let api = hookmetry_api::Api::new(
        store.clone(),
        hub.clone(),
        hookmetry_api::ApiSettings {
            default_page_size: config.api.default_page_size,
            max_page_size: config.api.max_page_size,
            public_base_url: base_url.clone(),
        },
    );

    let roles = shutdown.child_token();
    let processor_up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let processor_task = tokio::spawn(supervise_processor(Arc::new(processor), roles.clone(), processor_up.clone()));
    let hub_task = tokio::spawn(hub.run(log.clone(), store.clone(), roles.clone()));
    let retention_task =
        tokio::spawn(retention::run(store.clone(), config.store.retention_interval.0, &metrics, roles.clone())?);

    let app = ingest.router().merge(api.router()).merge(ops::router(ops::Ops {
        log: log.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        processor_up: processor_up.clone(),
    }));

    let started = Started { base_url: base_url.clone(), new_admin_token: boot.new_admin_token.clone(), data_dir };
    tracing::info!(listen = %local, base_url = %base_url, graphql = %format!("{base_url}/graphql"), "hookmetry serving");
    on_started(&started);

    server::serve(listener, app, &config, shutdown.clone()).await;

    roles.cancel();
    if let Err(e) = processor_task.await {
        tracing::error!(error = %e, "processor supervisor failed");
    }
    for (task, name) in [(hub_task, "live fan-out"), (retention_task, "retention")] {
        if let Err(e) = task.await {
            tracing::error!(error = %e, task = name, "background task failed");
        }
    }
    tracing::info!("hookmetry stopped");
    Ok(())
}

/// Keeps the processor running: if it fails or panics, ingest would go on acknowledging captures
/// that nobody stores until the log is full. `/readyz` reports it while it is down.
async fn supervise_processor(
    processor: Arc<hookmetry_processor::Processor>,
    shutdown: CancellationToken,
    up: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    loop {
        let p = processor.clone();
        let token = shutdown.clone();
        let outcome = tokio::spawn(async move { p.run(token).await }).await;
        if shutdown.is_cancelled() {
            return;
        }
        up.store(false, Ordering::Relaxed);
        match outcome {
            Ok(Ok(())) => tracing::error!("processor stopped unexpectedly; restarting"),
            Ok(Err(e)) => tracing::error!(error = %e, "processor failed; restarting"),
            Err(e) => tracing::error!(error = %e, "processor panicked; restarting"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
        up.store(true, Ordering::Relaxed);
    }
}
