//! Where server-side replay may connect, and the HTTP/1.1 client that connects there.
//!
//! Replay sends captured webhooks to URLs users type in, from inside the cluster. Without a
//! guard, a user could point it at the cluster's own services, the machine's loopback or the
//! cloud metadata endpoint and read credentials out of the response (SSRF). This crate decides
//! which addresses are allowed ([`EgressPolicy`], [`classify`]) and enforces it on the
//! addresses really connected to:
//!
//! - [`check_url`] on the target before sending, and on every redirect target: scheme, and the
//!   address when the host is an IP literal;
//! - [`resolve_allowed`] for host names, at connect time, which is what defeats DNS rebinding.
//!
//! [`http1::Client`] does both for every connection it opens. It exists because forwarding must
//! put the captured header section on the wire as captured (order, repeats, case), which
//! clients built on `http::HeaderMap` cannot do; see its docs.

mod class;
mod error;
pub mod http1;
mod policy;
mod reach;
mod resolve;
mod url_check;

use std::time::Duration;

pub use class::{AddressClass, classify};
pub use error::EgressError;
pub use policy::{EgressPolicy, ParseNetworkError, parse_networks};
pub use reach::{reachability_advice, unreachable_reason};
pub use resolve::resolve_allowed;
/// The URL type every function here takes.
pub use url::Url;
pub use url_check::{check_url, own_capture_base, with_local_aliases};

/// Redirects [`http1::Client`] follows. Webhook receivers rarely redirect at all; a few hops
/// cover a moved endpoint without letting a target bounce a replay around.
pub const MAX_REDIRECTS: usize = 5;

/// A duration as a person writes it in config: `250ms`, `5s`, `2m`, `1h`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 && !d.is_zero() {
        return format!("{}us", d.as_micros());
    }
    match ms {
        0 => "0s".to_string(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}
