use async_trait::async_trait;
use hookmetry_core::{Endpoint, EndpointId, ForwardingRule, TeamId, Timestamp};

use crate::Result;

/// Endpoints and their forwarding rules.
#[async_trait]
pub trait EndpointStore: Send + Sync + 'static {
    /// Fails with `Conflict` when the id or the capture token is taken, and with `NameTaken` when
    /// another endpoint of the team has the name.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    /// Replaces name and response of an existing endpoint; `NotFound` otherwise. A new name
    /// another endpoint of the team has fails with `NameTaken`; keeping a name, even one that
    /// data from before names were unique shares, is allowed.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    /// Deletes the endpoint and all its captures; `NotFound` when it does not exist.
    async fn delete_endpoint(&self, id: EndpointId) -> Result<()>;
    async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>>;
    async fn endpoint_by_token(&self, token: &str) -> Result<Option<Endpoint>>;
    /// Endpoints of a team, oldest first.
    async fn endpoints(&self, team: TeamId) -> Result<Vec<Endpoint>>;

    /// Replaces an endpoint's forwarding rules (an empty list removes them); `NotFound` when the
    /// endpoint does not exist. Deleting the endpoint deletes them.
    async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()>;
    /// An endpoint's forwarding rules in the order set; empty for an unknown endpoint.
    async fn forwarding_rules(&self, endpoint: EndpointId) -> Result<Vec<ForwardingRule>>;

    /// Adds one to the endpoint's counter `key` and returns the new value (1 the first time).
    /// Atomic for every caller of the same store, ingest nodes of a cluster included: no two
    /// callers get the same value. `NotFound` when the endpoint does not exist.
    async fn bump_counter(&self, endpoint: EndpointId, key: &str) -> Result<u64>;
    /// The endpoint's counters that are above zero, by key.
    async fn counters(&self, endpoint: EndpointId) -> Result<Vec<(String, u64)>>;
    /// Sets the endpoint's counters whose key starts with `prefix` (`""`: all) back to zero.
    async fn reset_counters(&self, endpoint: EndpointId, prefix: &str) -> Result<()>;
    /// Endpoints whose expiry is at or before `now`, soonest first, at most `limit`.
    async fn expired_endpoints(&self, now: Timestamp, limit: usize) -> Result<Vec<Endpoint>>;
}
