//! One way in: the store a [`StoreUrl`] names, with the settings the URL does not carry.

use std::path::PathBuf;
use std::sync::Arc;

use crate::url::{ScyllaUrlOptions, StoreUrl};
use crate::{Consistency, SqliteStore, Store, StoreError};

/// What opening a store needs besides its URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Create or upgrade the schema first (ScyllaDB: and create the keyspace), which is what
    /// `hookmetry migrate` does; nodes open the store as it is. SQLite always migrates on open:
    /// it is one file owned by one host.
    pub migrate: bool,
    pub scylla: ScyllaSettings,
}

/// ScyllaDB settings of the deployment (the `store.scylla_*` configuration keys).
#[derive(Debug, Clone)]
pub struct ScyllaSettings {
    /// Of every read and write; takes precedence over the URL's `consistency`.
    pub consistency: Consistency,
    /// Of a keyspace `migrate` creates, when the URL gives no replication.
    pub replication_factor: u32,
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the store {}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("cannot open the ScyllaDB store {url}")]
    Scylla {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error("store.url names ScyllaDB, but this build has no ScyllaDB support: build with `--features scylla`")]
    ScyllaNotBuilt,
}

/// Opens the store `url` names: the SQLite file, or ScyllaDB (with the `scylla` feature;
/// without it, [`OpenError::ScyllaNotBuilt`]).
pub async fn open(url: &StoreUrl, options: &StoreOptions) -> Result<Arc<dyn Store>, OpenError> {
    match url {
        StoreUrl::Sqlite { path } => match SqliteStore::open(path).await {
            Ok(store) => Ok(Arc::new(store)),
            Err(source) => Err(OpenError::Sqlite { path: path.clone(), source }),
        },
        StoreUrl::Scylla { nodes, keyspace, options: query } => open_scylla(url, nodes, keyspace, query, options).await,
    }
}

#[cfg(feature = "scylla")]
async fn open_scylla(
    url: &StoreUrl,
    nodes: &[String],
    keyspace: &str,
    query: &ScyllaUrlOptions,
    settings: &StoreOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    use crate::scylla::{Replication, ScyllaOptions, ScyllaStore};
    let mut options = ScyllaOptions::from_url_options(nodes, keyspace, query);
    options.consistency = settings.scylla.consistency.into();
    if query.replication.is_none() {
        options.replication = Replication::Factor(settings.scylla.replication_factor);
    }
    options.migrate = settings.migrate;
    options.create_keyspace = settings.migrate;
    match ScyllaStore::open(options).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(source) => Err(OpenError::Scylla { url: url.to_string(), source }),
    }
}

#[cfg(not(feature = "scylla"))]
async fn open_scylla(
    _url: &StoreUrl,
    _nodes: &[String],
    _keyspace: &str,
    _query: &ScyllaUrlOptions,
    _settings: &StoreOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    Err(OpenError::ScyllaNotBuilt)
}
