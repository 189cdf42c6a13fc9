//! Per-endpoint counters (a sequence's position, a `gone after` count, the captures counted
//! against `maxCaptures`), shared by every ingest node.
//!
//! Each bump is a compare-and-set by lightweight transaction: read the value at the serial level,
//! then `UPDATE … SET n = v + 1 IF n = v` (or `INSERT … IF NOT EXISTS` for the first). Paxos
//! orders the bumps of one counter, so no two callers get the same value, whichever node they run
//! on. A caller that loses a race learns the current value from the failed transaction's result
//! and tries again, a bounded number of times. A ScyllaDB `counter` column would be cheaper but
//! cannot say which value an increment produced, and a retried increment counts twice.
//!
//! The cost, per request that a counting rule or a cap answers: the serial read (a Paxos round,
//! ~2 round trips to a quorum) and the transaction (~4), each contended bump once more. Resets
//! delete keys by lightweight transaction too: a plain delete's timestamp is not ordered against
//! the bumps' Paxos ballots.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use ::scylla::value::CqlValue;
use uuid::Uuid;

use super::Inner;
use crate::{Result, StoreError};

/// Transactions one bump may lose before it gives up. Each lost one means another caller's
/// bump of the same counter committed, so this many concurrent requests on one rule still all
/// get a value.
const BUMP_TRIES: u32 = 64;
/// The longest pause between two tries; pauses are random up to a bound that doubles from 1 ms,
/// so callers that lost together do not collide again.
const MAX_BACKOFF_MS: u64 = 64;

impl Inner {
    /// Adds one to the counter and returns the new value. The endpoint's existence is the
    /// caller's to check.
    pub(super) async fn bump_counter(&self, endpoint: Uuid, key: &str) -> Result<u64> {
        let what = "bump endpoint counter";
        let mut current = self.read_counter(endpoint, key, what).await?;
        for attempt in 0..BUMP_TRIES {
            let next = match current {
                None => 1,
                Some(n) if (0..i64::MAX).contains(&n) => n + 1,
                Some(n) => {
                    return Err(StoreError::Corrupt(format!(
                        "{what}: counter `{key}` of endpoint {endpoint} holds {n}"
                    )));
                }
            };
            let lost = match current {
                None => self.insert_if_absent(&self.st.insert_counter, (endpoint, key, next), "n", what).await?,
                Some(n) => self.insert_if_absent(&self.st.bump_counter, (next, endpoint, key, n), "n", what).await?,
            };
            current = match lost {
                // `next` is at least 1.
                None => return Ok(next.unsigned_abs()),
                Some(Some(CqlValue::BigInt(n))) => Some(n),
                Some(Some(other)) => {
                    return Err(StoreError::Corrupt(format!(
                        "{what}: counter `{key}` of endpoint {endpoint} holds {other:?}"
                    )));
                }
                // The result did not carry the value (a reset removed the row, or the server
                // leaves it out): read it again.
                Some(None) => self.read_counter(endpoint, key, what).await?,
            };
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable(format!(
            "{what}: counter `{key}` of endpoint {endpoint} lost {BUMP_TRIES} transactions in a row to concurrent \
             requests; try again"
        )))
    }

    async fn read_counter(&self, endpoint: Uuid, key: &str, what: &str) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> = self.one(&self.st.select_counter, (endpoint, key), what).await?;
        Ok(row.and_then(|(n,)| n))
    }

    /// The counters above zero, by key (the partition's clustering order).
    pub(super) async fn counters(&self, endpoint: Uuid) -> Result<Vec<(String, u64)>> {
        let rows: Vec<(String, Option<i64>)> =
            self.all(&self.st.select_counters, &(endpoint,), "read endpoint counters").await?;
        Ok(rows.into_iter().filter_map(|(key, n)| Some((key, u64::try_from(n?).ok().filter(|&n| n > 0)?))).collect())
    }

    /// Deletes the counters whose key starts with `prefix`, compared here: CQL has no prefix
    /// match on a clustering key, and `LIKE` would read `_` and `%` in rule ids as wildcards.
    pub(super) async fn reset_counters(&self, endpoint: Uuid, prefix: &str) -> Result<()> {
        let what = "reset endpoint counters";
        let rows: Vec<(String, Option<i64>)> = self.all(&self.st.select_counters, &(endpoint,), what).await?;
        for (key, _) in rows.into_iter().filter(|(key, _)| key.starts_with(prefix)) {
            // Not applied: the row is gone already (another reset, or the endpoint's delete).
            self.lwt(&self.st.reset_counter, (endpoint, key.as_str()), what).await?;
        }
        Ok(())
    }
}

/// A random pause below a bound that doubles with each lost try, up to [`MAX_BACKOFF_MS`].
fn backoff(attempt: u32) -> Duration {
    let bound = (1u64 << attempt.min(6)).min(MAX_BACKOFF_MS);
    // A fresh `RandomState` is randomly keyed: enough jitter without a random-number crate.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    Duration::from_micros(hasher.finish() % (bound * 1000 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_a_doubling_bound() {
        for attempt in 0..BUMP_TRIES {
            let bound = Duration::from_millis((1u64 << attempt.min(6)).min(MAX_BACKOFF_MS));
            for _ in 0..20 {
                assert!(backoff(attempt) <= bound, "attempt {attempt}");
            }
        }
        assert!(Duration::from_millis(MAX_BACKOFF_MS) * BUMP_TRIES < Duration::from_secs(5), "a bump gives up in time");
    }
}
