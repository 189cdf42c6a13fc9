use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use uuid::{ContextV7, Uuid};

/// An id string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid id (expected a UUID)")]
pub struct IdParseError {
    pub input: String,
}

/// A UUIDv7 stamped with the product's clock, so that the time in an id agrees with the
/// `received_at` or `created_at` stored beside it even when tests move that clock. One context for
/// all ids keeps them increasing within a millisecond, as `Uuid::now_v7` does.
fn new_v7() -> Uuid {
    static CONTEXT: Mutex<ContextV7> = Mutex::new(ContextV7::new());
    let micros = u64::try_from(crate::Timestamp::now().micros()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(&CONTEXT, micros / 1_000_000, (micros % 1_000_000) as u32 * 1_000);
    Uuid::new_v7(ts)
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered (UUIDv7) id, stamped by [`crate::Timestamp::now`].
            pub fn new() -> Self {
                Self(new_v7())
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| IdParseError { input: s.chars().take(64).collect() })
            }
        }
    };
}

id_type!(
    /// Id of one captured request; assigned at ingest, time-ordered, and the idempotency key of
    /// every later write about that capture.
    CaptureId
);
id_type!(EndpointId);
id_type!(TeamId);
id_type!(TokenId);
id_type!(
    /// Id of one delivery (a capture sent to a target, with its attempts); time-ordered.
    DeliveryId
);

impl CaptureId {
    /// The lowest id of a capture received at `at` or later: a UUIDv7 with `at`'s milliseconds
    /// and no random bits, so every capture id made at or after `at` sorts above it.
    pub fn floor_at(at: crate::Timestamp) -> Self {
        let millis = u64::try_from(at.micros().div_euclid(1_000)).unwrap_or(0);
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        // Version 7, RFC 4122 variant.
        bytes[6] = 0x70;
        bytes[8] = 0x80;
        Self(Uuid::from_bytes(bytes))
    }

    /// Milliseconds since the Unix epoch embedded in the UUIDv7.
    pub fn unix_millis(&self) -> Option<u64> {
        self.0.get_timestamp().map(|ts| {
            let (secs, nanos) = ts.to_unix();
            secs * 1000 + u64::from(nanos) / 1_000_000
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_sorts_below_every_later_id_and_above_earlier_ones() {
        let before = CaptureId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let floor = CaptureId::floor_at(crate::Timestamp::now());
        let after = CaptureId::new();
        assert!(before < floor && floor <= after, "{before} < {floor} <= {after}");
        assert_eq!(floor.0.get_version_num(), 7);
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = CaptureId::new();
        let b = CaptureId::new();
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn parse_rejects_garbage_and_names_it() {
        let err = "not-an-id".parse::<EndpointId>().unwrap_err();
        assert_eq!(err.to_string(), "`not-an-id` is not a valid id (expected a UUID)");
    }

    #[test]
    fn display_round_trips() {
        let id = TeamId::new();
        assert_eq!(id.to_string().parse::<TeamId>().unwrap(), id);
    }
}
