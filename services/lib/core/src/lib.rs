//! Domain types shared by every role: ids, captures, endpoints, teams and tokens.
//!
//! Nothing here does I/O. Backends and roles convert to and from these types at their edges.

pub mod answer;
mod capture;
mod delivery;
mod event;
pub mod external;
mod form;
mod ids;
pub mod scenario;
mod secret;
mod team;
mod time;
mod verification;

pub use capture::{Answered, CaptureSummary, CapturedRequest, CustomResponse, Endpoint, Header, MAX_RESPONSE_DELAY_MS};
pub use delivery::{
    Attempt, AttemptError, Delivery, DeliveryOrigin, DeliveryState, ForwardingRule, HeaderMatch, OutgoingRequest,
    RetryLike, forwarded_headers, has_dot_segment, path_climbs,
};
pub use event::{
    CaptureEvent, EventFields, EventGroup, EventShape, GroupMember, LATE_ANSWER_MS, MAX_EVENT_FIELD, OutOfOrder,
    Redelivery, RedeliveryKind, classify, event_type_matches, out_of_order,
};
pub use form::form_decode;
pub use ids::{CaptureId, DeliveryId, EndpointId, IdParseError, TeamId, TokenId};
pub use secret::{TokenHash, capture_token, hash_token, new_api_token};
pub use team::{ApiToken, Role, Team};
pub use time::{Timestamp, clock, format_rfc3339};
pub use verification::{GenericHmac, SigningSecret, Verdict, Verification, VerificationSettings};

/// Log topic that carries every accepted request from ingest to the processor.
pub const TOPIC_CAPTURES: &str = "captures";
/// Log topic where the processor sets aside captures-log records it cannot decode, with the
/// error and their original position, instead of letting one block its partition.
pub const TOPIC_DEAD_LETTERS: &str = "captures-undecodable";
/// Log topic of deliveries to attempt, keyed by target host so one target's deliveries stay on
/// one replay worker, which enforces its concurrency limit.
pub const TOPIC_DELIVERIES: &str = "deliveries";
/// Log topic that carries notifications (capture stored, …) to live subscribers.
pub const TOPIC_EVENTS: &str = "events";
