use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookmetry_core::Endpoint;
use hookmetry_store::EndpointStore;

use crate::IngestError;

/// Most tokens remembered; past this the cache starts over, so random-token floods cannot grow it.
const MAX_ENTRIES: usize = 50_000;

/// A token's endpoint (or that it has none) and when that was read.
type Entry = (Option<Arc<Endpoint>>, Instant);

/// Endpoint lookups by capture token, cached for a short TTL so ingest does not read the store on
/// every request. Misses are cached too, so unknown tokens do not hammer the store.
pub struct EndpointCache {
    store: Arc<dyn EndpointStore>,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl EndpointCache {
    pub fn new(store: Arc<dyn EndpointStore>, ttl: Duration) -> Self {
        Self { store, ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The store behind the cache, for what must not be cached (scenario counters).
    pub fn store(&self) -> &dyn EndpointStore {
        self.store.as_ref()
    }

    /// Shared, not cloned: every capture reads its endpoint, secrets and custom response included.
    pub async fn get(&self, token: &str) -> Result<Option<Arc<Endpoint>>, IngestError> {
        if !self.ttl.is_zero() {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((hit, at)) = entries.get(token)
                && at.elapsed() < self.ttl
            {
                return Ok(hit.clone());
            }
        }
        let found = self
            .store
            .endpoint_by_token(token)
            .await
            .map_err(|e| IngestError::StoreUnavailable(e.to_string()))?
            .map(Arc::new);
        if !self.ttl.is_zero() {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(token.to_string(), (found.clone(), Instant::now()));
        }
        Ok(found)
    }
}
