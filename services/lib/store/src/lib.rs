//! The `Store` seam: teams, tokens, endpoints, captures, and deliveries with their attempts.
//!
//! Every capture write is idempotent on the capture id assigned at ingest, so the processor may
//! write the same capture twice after a crash and the store still holds it once.

use hookmetry_core::{
    CaptureId, CapturedRequest, DeliveryOrigin, DeliveryState, ForwardingRule, Timestamp, TokenId, Verdict,
};

// Test code, compiled only for the tests that enable it (never into the release binary).
#[cfg(feature = "testsuite")]
pub mod conformance;
mod open;
#[cfg(feature = "scylla")]
pub mod scylla;
pub mod sqlite;
mod traits;
mod url;

#[cfg(feature = "scylla")]
pub use self::scylla::{ScyllaOptions, ScyllaStore};
pub use open::{OpenError, ScyllaSettings, StoreOptions, open};
pub use sqlite::SqliteStore;
pub use traits::{
    CaptureStore, DeliveryStore, EndpointStore, ListenerStore, ShapeStore, Store, StoreHealth, TeamStore,
};
pub use url::{Consistency, Replication, ScyllaUrlOptions, StoreUrl, StoreUrlError};

#[derive(Debug, Clone, thiserror::Error)]
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
    /// The event type matches this pattern (`charge.*`; see `hookmetry_core::event_type_matches`).
    pub event_type: Option<String>,
    /// The provider's event id is exactly this one.
    pub event_id: Option<String>,
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
    use hookmetry_core::{CaptureEvent, Timestamp, Verdict, Verification};

    use crate::{Result, StoreError};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Detail {
        provider: Option<String>,
        reason: String,
        secret_label: Option<String>,
        verified_at: i64,
        /// Absent in results stored before event identity, and when the request names nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<Event>,
    }

    #[derive(serde::Serialize, serde::Deserialize, Default)]
    struct Event {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource: Option<String>,
    }

    /// Only the event's type and id, for filtering rows of a backend that filters after reading.
    #[cfg(feature = "scylla")]
    #[derive(serde::Deserialize)]
    struct Keys {
        #[serde(default)]
        event: Option<KeyFields>,
    }

    #[cfg(feature = "scylla")]
    #[derive(serde::Deserialize)]
    struct KeyFields {
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        id: Option<String>,
    }

    /// The event type and id of an encoded result; nothing for one that cannot be read.
    #[cfg(feature = "scylla")]
    pub(crate) fn event_keys(json: &str) -> (Option<String>, Option<String>) {
        serde_json::from_str::<Keys>(json).ok().and_then(|k| k.event).map(|e| (e.kind, e.id)).unwrap_or_default()
    }

    pub(crate) fn encode(v: &Verification) -> Result<(&'static str, String)> {
        let detail = Detail {
            provider: v.provider.clone(),
            reason: v.reason.clone(),
            secret_label: v.secret_label.clone(),
            verified_at: v.verified_at.micros(),
            event: (!v.event.is_empty()).then(|| Event {
                id: v.event.id.clone(),
                kind: v.event.kind.clone(),
                created_at: v.event.created_at.map(|t| t.micros()),
                attempt: v.event.attempt,
                retry_reason: v.event.retry_reason.clone(),
                resource: v.event.resource.clone(),
            }),
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
            event: d
                .event
                .map(|e| CaptureEvent {
                    id: e.id,
                    kind: e.kind,
                    created_at: e.created_at.map(Timestamp::from_micros),
                    attempt: e.attempt,
                    retry_reason: e.retry_reason,
                    resource: e.resource,
                })
                .unwrap_or_default(),
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
                event: Default::default(),
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
