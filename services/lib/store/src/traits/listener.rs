use async_trait::async_trait;
use hookmetry_core::{CaptureId, EndpointId, Timestamp, TokenId};

use crate::{LeaseOutcome, ListenerClaim, ListenerCursor, ListenerLease, Result};

/// Named listeners (`hookmetry listen --name`) of an endpoint: cursors, name claims and leases.
#[async_trait]
pub trait ListenerStore: Send + Sync + 'static {
    /// Where the listener `name` of `endpoint` stands; `None` before its first finished capture.
    async fn listener_cursor(&self, endpoint: EndpointId, name: &str) -> Result<Option<ListenerCursor>>;
    /// Moves the listener's cursor to `capture` unless it already stands at a newer (higher id)
    /// capture: capture ids are time-ordered, and a late or repeated report must not move a
    /// listener back. Deleting the endpoint deletes its listeners' cursors.
    async fn advance_listener(&self, endpoint: EndpointId, name: &str, capture: CaptureId, at: Timestamp)
    -> Result<()>;
    /// Claims listener `name` of `endpoint` for token `owner`, unless another token holds it or the
    /// endpoint already has `limit` names. Idempotent for the owner. Deleting the endpoint deletes its claims.
    async fn claim_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        owner: TokenId,
        limit: usize,
        at: Timestamp,
    ) -> Result<ListenerClaim>;

    /// Takes or renews the lease on listener `name` of `endpoint` for `lease.holder`: granted when
    /// nobody holds it, the caller already does, the holder's lease expired before `now`, or
    /// `takeover`. A renewal keeps `acquired_at`. Deleting the endpoint deletes its leases.
    async fn lease_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        lease: &ListenerLease,
        now: Timestamp,
        takeover: bool,
    ) -> Result<LeaseOutcome>;
    /// Ends `holder`'s lease on the listener; nothing when another holder has it now.
    async fn release_listener(&self, endpoint: EndpointId, name: &str, holder: &str) -> Result<()>;
}
