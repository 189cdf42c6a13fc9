use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// An id string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid id (expected a UUID)")]
pub struct IdParseError {
    pub input: String,
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
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
