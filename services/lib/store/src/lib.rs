//! The `Store` seam: teams, tokens, endpoints, captures, and deliveries with their attempts.
//!
//! Every capture write is idempotent on the capture id assigned at ingest, so the processor may
//! write the same capture twice after a crash and the store still holds it once.

use async_trait::async_trait;
use hookmetry_core::{
    ApiToken, Attempt, CaptureId, CapturedRequest, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, Endpoint,
    EndpointId, ForwardingRule, Team, TeamId, Timestamp, TokenHash, TokenId, Verdict, Verification,
};

// Test code, compiled only for the tests that enable it (never into the release binary).
#[cfg(feature = "testsuite")]
pub mod conformance;
#[cfg(feature = "scylla")]
pub mod scylla;
pub mod sqlite;

#[cfg(feature = "scylla")]
pub use self::scylla::{ScyllaOptions, ScyllaStore};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{entity} already exists: {detail}")]
    Conflict { entity: &'static str, detail: String },
    /// Another endpoint of the team has the name a create or rename asked for.
    #[error("an endpoint of this team is already named `{name}`; names are unique per team")]
    NameTaken { name: String },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store data corrupt: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A page request for captures of one endpoint, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturePage {
    /// At most this many captures.
    pub limit: u32,
    /// Only captures strictly older than this one (the previous page's last id).
    pub before: Option<CaptureId>,
    pub filter: CaptureFilter,
    /// Every listed item's `body` is empty; the filter still sees the bodies and
    /// `CaptureList::body_sizes` still says how large they are. A listing that shows no body should
    /// set this: a page of large bodies would otherwise be held in memory at once for nothing.
    pub without_bodies: bool,
}

/// Conditions a capture must meet to be listed; every one that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureFilter {
    /// The exact method, compared case-sensitively (`POST` is not `post`: methods are
    /// case-sensitive in HTTP and custom ones are kept as sent).
    pub method: Option<String>,
    /// Received at or after this time.
    pub received_from: Option<Timestamp>,
    /// Received strictly before this time.
    pub received_until: Option<Timestamp>,
    /// The path (after `/h/<token>`, as sent) starts with this, case-sensitively: the same test
    /// as a forwarding rule's `path_prefix`.
    pub path_prefix: Option<String>,
    pub header: Option<HeaderFilter>,
    /// The body contains these bytes.
    pub body_contains: Option<Vec<u8>>,
    /// The stored verification verdict is this one.
    pub verdict: Option<Verdict>,
}

impl CaptureFilter {
    pub fn is_empty(&self) -> bool {
        *self == CaptureFilter::default()
    }
}

/// A header line whose name equals `name` (ASCII case-insensitively, as HTTP compares names) and
/// whose value contains `value_contains` (bytes, case-sensitively; empty matches any value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFilter {
    pub name: String,
    pub value_contains: Vec<u8>,
}

impl HeaderFilter {
    pub fn matches(&self, headers: &[hookmetry_core::Header]) -> bool {
        headers.iter().any(|h| h.name.eq_ignore_ascii_case(&self.name) && contains(&h.value, &self.value_contains))
    }
}

/// A verification result as backends store it: the verdict on its own (captures are filtered by
/// it) and the rest as JSON, one shape for every backend.
pub(crate) mod verification_codec {
    use hookmetry_core::{Timestamp, Verdict, Verification};

    use crate::{Result, StoreError};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Detail {
        provider: Option<String>,
        reason: String,
        secret_label: Option<String>,
        verified_at: i64,
    }

    pub(crate) fn encode(v: &Verification) -> Result<(&'static str, String)> {
        let detail = Detail {
            provider: v.provider.clone(),
            reason: v.reason.clone(),
            secret_label: v.secret_label.clone(),
            verified_at: v.verified_at.micros(),
        };
        serde_json::to_string(&detail)
            .map(|json| (v.verdict.as_str(), json))
            .map_err(|e| StoreError::Backend(format!("encode verification: {e}")))
    }

    pub(crate) fn decode(verdict: &str, json: &str) -> Result<Verification> {
        let verdict =
            Verdict::parse(verdict).ok_or_else(|| StoreError::Corrupt(format!("unknown verdict `{verdict}`")))?;
        let d: Detail =
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("decode verification: {e}")))?;
        Ok(Verification {
            provider: d.provider,
            verdict,
            reason: d.reason,
            secret_label: d.secret_label,
            verified_at: Timestamp::from_micros(d.verified_at),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips_and_names_corruption() {
            let v = Verification {
                provider: Some("stripe".into()),
                verdict: Verdict::TimestampOutOfTolerance,
                reason: "signed 7m12s before receipt; tolerance is 5m".into(),
                secret_label: Some("current".into()),
                verified_at: Timestamp::from_micros(7),
            };
            let (verdict, json) = encode(&v).unwrap();
            assert_eq!(verdict, "TIMESTAMP_OUT_OF_TOLERANCE");
            assert_eq!(
                json,
                r#"{"provider":"stripe","reason":"signed 7m12s before receipt; tolerance is 5m","secret_label":"current","verified_at":7}"#
            );
            assert_eq!(decode(verdict, &json).unwrap(), v);
            assert!(matches!(decode("MAYBE", &json), Err(StoreError::Corrupt(m)) if m.contains("MAYBE")));
            assert!(matches!(decode(verdict, "{"), Err(StoreError::Corrupt(_))));
        }
    }
}

/// Whether `needle` occurs in `haystack`; the empty needle occurs everywhere.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureList {
    pub items: Vec<CapturedRequest>,
    /// Whether older captures exist beyond `items`.
    pub has_more: bool,
    /// The stored body size in bytes of each item, in the order of `items`; filled also when the
    /// page was asked `without_bodies`, which is when it is needed.
    pub body_sizes: Vec<u64>,
}

/// What one attempt changes about its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryProgress {
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

/// How a delivery's origin is stored: `manual`, `rule:<rule id>`, `listener:<name>`, or
/// `listener:<name>:missed` for a capture a listener delivered after being offline (listener
/// names cannot contain `:`).
pub(crate) fn origin_to_str(origin: &DeliveryOrigin) -> String {
    match origin {
        DeliveryOrigin::Manual => "manual".to_owned(),
        DeliveryOrigin::Rule { rule_id } => format!("rule:{rule_id}"),
        DeliveryOrigin::Listener { name, missed: false } => format!("listener:{name}"),
        DeliveryOrigin::Listener { name, missed: true } => format!("listener:{name}:missed"),
    }
}

pub(crate) fn origin_from_str(s: &str) -> Result<DeliveryOrigin> {
    match s.split_once(':') {
        None if s == "manual" => Ok(DeliveryOrigin::Manual),
        Some(("rule", id)) => Ok(DeliveryOrigin::Rule { rule_id: id.to_owned() }),
        Some(("listener", rest)) if !rest.is_empty() => Ok(match rest.strip_suffix(":missed") {
            Some(name) => DeliveryOrigin::Listener { name: name.to_owned(), missed: true },
            None => DeliveryOrigin::Listener { name: rest.to_owned(), missed: false },
        }),
        _ => Err(StoreError::Corrupt(format!("unknown delivery origin `{s}`"))),
    }
}

/// Where a named listener (`hookmetry listen --name`) of an endpoint stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerCursor {
    /// The newest capture the listener has finished with (delivered, or given up on). A
    /// listener coming back delivers the captures newer than this one.
    pub capture_id: CaptureId,
    pub updated_at: Timestamp,
}

/// Which process runs a named listener of an endpoint, until when: one live `hookmetry listen`
/// per name, renewed while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLease {
    /// Made up by the process at start; only it renews or releases the lease.
    pub holder: String,
    /// For people: host and process id, e.g. `laptop.local pid 4711`.
    pub description: String,
    pub acquired_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What asking for a listener's lease got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The caller holds it (newly, or renewed) until `expires_at`.
    Held(ListenerLease),
    /// Another holder's unexpired lease; nothing changed.
    Busy(ListenerLease),
}

/// Who may write under a named listener of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerClaim {
    /// The name is `owner`'s: newly claimed now, or claimed by it before.
    Owned,
    /// Another token claimed the name first.
    Taken { owner: TokenId },
    /// The endpoint already has `limit` listener names.
    Full { limit: usize },
}

pub(crate) fn rules_to_json(rules: &[ForwardingRule]) -> Result<String> {
    serde_json::to_string(rules).map_err(|e| StoreError::Backend(format!("encode forwarding rules: {e}")))
}

pub(crate) fn rules_from_json(json: &str) -> Result<Vec<ForwardingRule>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("forwarding rules: {e}")))
}

pub(crate) fn state_from_str(s: &str) -> Result<DeliveryState> {
    DeliveryState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state `{s}`")))
}

pub(crate) fn attempt_error_from_str(s: &str) -> Result<hookmetry_core::AttemptError> {
    hookmetry_core::AttemptError::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown attempt error `{s}`")))
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_team(&self, team: &Team) -> Result<()>;
    async fn team(&self, id: TeamId) -> Result<Option<Team>>;
    async fn teams(&self) -> Result<Vec<Team>>;
    /// How many days a team's captures are kept; `NotFound` when the team does not exist.
    async fn set_retention(&self, team: TeamId, days: u32) -> Result<()>;

    async fn create_token(&self, token: &ApiToken) -> Result<()>;
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>>;
    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>>;
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()>;
    async fn token(&self, id: TokenId) -> Result<Option<ApiToken>>;
    async fn revoke_token(&self, id: TokenId) -> Result<()>;
    /// Whether any token exists; `false` means the instance has not been bootstrapped yet.
    async fn has_tokens(&self) -> Result<bool>;

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

    /// Stores captures, skipping ids already stored (byte-for-byte as first written). Returns how
    /// many were new.
    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize>;
    async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>>;
    /// Captures of one endpoint that pass `page.filter`, newest (highest id) first.
    async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList>;
    /// Records the verification result of stored captures, replacing an earlier one (captures are
    /// verified again after their endpoint's secrets change). Ids not stored are skipped.
    async fn put_verifications(&self, results: &[(CaptureId, Verification)]) -> Result<()>;
    /// The latest verification result of a capture; `None` when it has none or does not exist.
    async fn verification(&self, id: CaptureId) -> Result<Option<Verification>>;
    /// The latest verification results of many captures, for comparing before and after a
    /// re-verification; captures with none, or not stored, are left out. Backends override the
    /// one-by-one default with a batch read.
    async fn verifications(&self, ids: &[CaptureId]) -> Result<std::collections::HashMap<CaptureId, Verification>> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(v) = self.verification(id).await? {
                found.insert(id, v);
            }
        }
        Ok(found)
    }
    /// `NotFound` when it does not exist.
    async fn delete_capture(&self, id: CaptureId) -> Result<()>;
    /// Deletes every capture received before `now` minus its team's retention. Returns how many
    /// were deleted. Backends with native expiry (Scylla TTLs) may find nothing to do.
    async fn expire_captures(&self, now: Timestamp) -> Result<u64>;

    /// Replaces an endpoint's forwarding rules (an empty list removes them); `NotFound` when the
    /// endpoint does not exist. Deleting the endpoint deletes them.
    async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()>;
    /// An endpoint's forwarding rules in the order set; empty for an unknown endpoint.
    async fn forwarding_rules(&self, endpoint: EndpointId) -> Result<Vec<ForwardingRule>>;

    /// Stores a new delivery; an id already stored is left as it is (the first write wins), so a
    /// redelivered request to replay creates one delivery.
    async fn put_delivery(&self, delivery: &Delivery) -> Result<()>;
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    /// Deliveries of one capture: at most `limit`, newest first. A capture can have many (bulk
    /// replays, listeners), each holding its request body, so readers ask only for what they show.
    async fn deliveries_for_capture(&self, capture: CaptureId, limit: usize) -> Result<Vec<Delivery>>;
    /// Keeps an attempt (once per delivery and number: the first write wins) and applies
    /// `progress` to its delivery. The answer is `false`, and the delivery is not changed, when
    /// the delivery is no longer pending (cancelled meanwhile; the attempt is still kept) or an
    /// attempt of that number was already recorded. `NotFound` for an unknown delivery.
    async fn record_attempt(&self, attempt: &Attempt, progress: &DeliveryProgress) -> Result<bool>;
    /// Takes a due delivery for one attempt: only when it is still pending, has had exactly
    /// `attempts` attempts, and is due at `now` does it become due again only at `until` (the
    /// lease), and the answer is `true`. Several replay workers scanning one store thus attempt a
    /// retry once; a worker that dies during the attempt leaves it due again at `until`.
    async fn claim_delivery(&self, id: DeliveryId, attempts: u32, now: Timestamp, until: Timestamp) -> Result<bool>;
    /// Attempts of a delivery, first first.
    async fn attempts(&self, delivery: DeliveryId) -> Result<Vec<Attempt>>;
    /// Pending deliveries whose next attempt is due at `now`, earliest first, at most `limit`.
    /// This is how a scheduled retry survives a restart of the replay worker.
    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>>;
    /// Cancels a pending delivery; `false` when it had already finished. `NotFound` for an
    /// unknown one.
    async fn cancel_delivery(&self, id: DeliveryId, at: Timestamp) -> Result<bool>;

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

    /// `Ok` when reads and writes can be expected to succeed.
    async fn health(&self) -> Result<()>;
}
