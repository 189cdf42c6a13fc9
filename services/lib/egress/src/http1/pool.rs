//! Kept-alive connections waiting for the next request to the same target.
//!
//! A connection is pooled under the scheme, host and port of the URL it was opened for, and it
//! stays connected to the address that was resolved and checked against the policy when it was
//! opened: reusing it for the same host reaches that checked address again, never another one,
//! so a pooled connection cannot be used to get around the policy (or DNS rebinding). TLS
//! connections were verified for that host name, which is part of the key.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use url::Url;

use super::connect::Conn;
use super::read::Reader;

/// How a [`super::Client`] keeps connections alive between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Idle connections kept per target; 0 turns reuse off (one connection per request).
    pub max_idle_per_target: usize,
    /// An idle connection older than this is closed rather than reused. Shorter than the idle
    /// timeout of common servers (Node's is 5 s), so a request rarely meets a connection the
    /// server is closing just then.
    pub idle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_idle_per_target: 32, idle_timeout: Duration::from_secs(4) }
    }
}

/// Idle connections held in all, whatever their targets: bounds sockets and buffers.
const MAX_IDLE_TOTAL: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    scheme: String,
    host: String,
    port: u16,
}

impl Key {
    pub(crate) fn of(url: &Url) -> Self {
        Self {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: url.port_or_known_default().unwrap_or(0),
        }
    }
}

struct Idle {
    reader: Reader<Conn>,
    since: Instant,
}

pub(crate) struct Pool {
    settings: PoolSettings,
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
}

impl Pool {
    pub(crate) fn new(settings: PoolSettings) -> Self {
        Self { settings, idle: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection to `key`, if one is young enough.
    pub(crate) fn take(&self, key: &Key) -> Option<Reader<Conn>> {
        let mut idle = self.lock();
        let list = idle.get_mut(key)?;
        let found = match list.pop() {
            Some(c) if c.since.elapsed() < self.settings.idle_timeout => Some(c.reader),
            // The ones below it are older still: all of them are closed.
            Some(_) => {
                list.clear();
                None
            }
            None => None,
        };
        if list.is_empty() {
            idle.remove(key);
        }
        found
    }

    /// Keeps `reader` for the next request to `key`; the caller has checked that its last
    /// answer was read to the end and did not ask to close.
    pub(crate) fn put(&self, key: Key, reader: Reader<Conn>) {
        if self.settings.max_idle_per_target == 0 {
            return;
        }
        let mut idle = self.lock();
        let total: usize = idle.values().map(Vec::len).sum();
        if total >= MAX_IDLE_TOTAL {
            let timeout = self.settings.idle_timeout;
            idle.retain(|_, list| {
                list.retain(|c| c.since.elapsed() < timeout);
                !list.is_empty()
            });
            if idle.values().map(Vec::len).sum::<usize>() >= MAX_IDLE_TOTAL {
                return;
            }
        }
        let list = idle.entry(key).or_default();
        if list.len() >= self.settings.max_idle_per_target {
            list.remove(0);
        }
        list.push(Idle { reader, since: Instant::now() });
    }
}
