//! Named listeners: cursors, name claims and leases.

use ::scylla::value::CqlValue;
use async_trait::async_trait;
use hookmetry_core::{CaptureId, EndpointId, Timestamp, TokenId};
use uuid::Uuid;

use super::ScyllaStore;
use crate::{EndpointStore, ListenerStore, Result, StoreError};

#[async_trait]
impl ListenerStore for ScyllaStore {
    async fn listener_cursor(&self, endpoint: EndpointId, name: &str) -> Result<Option<crate::ListenerCursor>> {
        let s = &*self.inner;
        let row: Option<(Uuid, i64)> =
            s.one(&s.st.select_listener_cursor, (endpoint.0, name), "read listener cursor").await?;
        Ok(row.map(|(id, at)| crate::ListenerCursor {
            capture_id: CaptureId(id),
            updated_at: Timestamp::from_micros(at),
        }))
    }

    /// Insert, then drop the older rows (see `cql::MIGRATIONS`, version 4): the first row of the
    /// listener is always the newest capture reported, whatever order reports arrive in.
    async fn advance_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        capture: CaptureId,
        at: Timestamp,
    ) -> Result<()> {
        let s = &*self.inner;
        let what = "advance listener cursor";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        s.exec(&s.st.insert_listener_cursor, (endpoint.0, name, capture.0, at.micros()), what).await?;
        s.exec(&s.st.delete_listener_cursors_before, (endpoint.0, name, capture.0), what).await.map(drop)
    }

    /// A plain read of the name first: most claims are a listener reporting again under its own
    /// name, answered without Paxos. A new name is counted against the limit, then inserted with
    /// a lightweight transaction, so of two tokens racing for one name exactly one owns it. The
    /// count and the insert are not one transaction: claims of different new names racing each
    /// other may together exceed `limit`, by at most the number of racing writers.
    async fn claim_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        owner: TokenId,
        limit: usize,
        at: Timestamp,
    ) -> Result<crate::ListenerClaim> {
        use crate::ListenerClaim;
        let s = &*self.inner;
        let what = "claim listener";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        let held_by = |held: Uuid| {
            if held == owner.0 { ListenerClaim::Owned } else { ListenerClaim::Taken { owner: TokenId(held) } }
        };
        let read_owner = || async {
            let row: Option<(Option<Uuid>,)> = s.one(&s.st.select_listener_owner, (endpoint.0, name), what).await?;
            Ok::<_, StoreError>(row.and_then(|(held,)| held))
        };
        if let Some(held) = read_owner().await? {
            return Ok(held_by(held));
        }
        let names: Option<(i64,)> = s.one(&s.st.count_listeners, (endpoint.0,), what).await?;
        let names = names.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0));
        if names >= u64::try_from(limit).unwrap_or(u64::MAX) {
            return Ok(ListenerClaim::Full { limit });
        }
        match s.insert_if_absent(&s.st.insert_listener, (endpoint.0, name, owner.0, at.micros()), "owner", what).await?
        {
            None => Ok(ListenerClaim::Owned),
            Some(Some(CqlValue::Uuid(held))) => Ok(held_by(held)),
            // Lost the race, and the result did not say to whom: the winner's row is committed.
            Some(_) => match read_owner().await? {
                Some(held) => Ok(held_by(held)),
                None => Err(StoreError::Backend(format!("{what}: `{name}` is claimed, but its owner cannot be read"))),
            },
        }
    }

    /// Read, then a lightweight transaction that applies only if the holder read is still the
    /// holder (or, for a new name, nobody is): a racing start makes it fail, and the lease is
    /// read again to say who won.
    async fn lease_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        lease: &crate::ListenerLease,
        now: Timestamp,
        takeover: bool,
    ) -> Result<crate::LeaseOutcome> {
        use crate::{LeaseOutcome, ListenerLease};
        let s = &*self.inner;
        let what = "lease listener";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        type LeaseRow = (Option<String>, Option<String>, Option<i64>, Option<i64>);
        let read = || async {
            let row: Option<LeaseRow> = s.one(&s.st.select_lease, (endpoint.0, name), what).await?;
            Ok::<_, StoreError>(row.map(|(holder, description, acquired, expires)| ListenerLease {
                holder: holder.unwrap_or_default(),
                description: description.unwrap_or_default(),
                acquired_at: Timestamp::from_micros(acquired.unwrap_or(0)),
                expires_at: Timestamp::from_micros(expires.unwrap_or(0)),
            }))
        };
        let mut lease = lease.clone();
        let current = read().await?;
        let applied = match &current {
            None => s
                .insert_if_absent(
                    &s.st.insert_lease,
                    (
                        endpoint.0,
                        name,
                        &lease.holder,
                        &lease.description,
                        lease.acquired_at.micros(),
                        lease.expires_at.micros(),
                    ),
                    "holder",
                    what,
                )
                .await?
                .is_none(),
            Some(c) => {
                if c.holder == lease.holder {
                    lease.acquired_at = c.acquired_at;
                } else if c.expires_at > now && !takeover {
                    return Ok(LeaseOutcome::Busy(c.clone()));
                }
                let values = (
                    &lease.holder,
                    &lease.description,
                    lease.acquired_at.micros(),
                    lease.expires_at.micros(),
                    endpoint.0,
                    name,
                    &c.holder,
                );
                s.insert_if_absent(&s.st.replace_lease, values, "holder", what).await?.is_none()
            }
        };
        if applied {
            return Ok(LeaseOutcome::Held(lease));
        }
        match read().await? {
            Some(winner) => Ok(LeaseOutcome::Busy(winner)),
            None => Err(StoreError::Backend(format!("{what}: `{name}` changed hands, but its lease cannot be read"))),
        }
    }

    async fn release_listener(&self, endpoint: EndpointId, name: &str, holder: &str) -> Result<()> {
        let s = &*self.inner;
        s.lwt(&s.st.release_lease, (endpoint.0, name, holder), "release listener").await?;
        Ok(())
    }
}
