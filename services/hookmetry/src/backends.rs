//! The log and store a process runs on, chosen by URL: embedded (the default), Kafka and
//! ScyllaDB when built with their features.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use hookmetry_config::Config;
use hookmetry_log::{EventLog, LogUrl};
use hookmetry_store::{Store, StoreUrl};

use crate::settings;

pub struct Backends {
    pub log: Arc<dyn EventLog>,
    pub store: Arc<dyn Store>,
    pub log_url: LogUrl,
    pub store_url: StoreUrl,
    /// Held for the life of the process when the embedded log is used.
    _lock: Option<File>,
}

pub async fn open(config: &Config) -> anyhow::Result<Backends> {
    let log_url = config.log_url()?;
    let lock = if log_url.is_embedded() {
        let data_dir = &config.server.data_dir;
        crate::bootstrap::private_data_dir(data_dir)?;
        // Two processes appending to one embedded log would interleave its segments.
        Some(crate::bootstrap::lock_data_dir(data_dir)?)
    } else {
        None
    };
    let log = hookmetry_log::open(&log_url, settings::log(config, &log_url)?).await?;
    let store_url = config.store_url()?;
    let store = open_store_at(config, &store_url, false).await?;
    Ok(Backends { log, store, log_url, store_url, _lock: lock })
}

/// The store `store.url` names. With `migrate`, its schema is created or upgraded first (what
/// `hookmetry migrate` does); nodes open it as it is. SQLite always migrates on open: it is one
/// file owned by one host.
pub async fn open_store(config: &Config, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    open_store_at(config, &config.store_url()?, migrate).await
}

async fn open_store_at(config: &Config, url: &StoreUrl, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    if let StoreUrl::Sqlite { path } = url {
        create_private(path)?;
    }
    Ok(hookmetry_store::open(url, &settings::store(config, migrate)?).await?)
}

/// Made 0600 before SQLite opens it: SQLite gives its WAL and shared-memory files the database
/// file's permissions. (Several processes on one host may share this file, WAL mode and a busy
/// timeout, which is how a cluster is tried on one machine without ScyllaDB.)
fn create_private(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        crate::bootstrap::private_data_dir(dir)?;
    }
    crate::bootstrap::private_file()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot create the store {}", path.display()))?;
    Ok(())
}
