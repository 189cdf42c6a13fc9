//! Where server-side replay may connect.
//!
//! Replay sends captured webhooks to URLs users type in, from inside the cluster. Without a
//! guard, a user could point it at the cluster's own services, the machine's loopback or the
//! cloud metadata endpoint and read credentials out of the response (SSRF). This crate decides
//! which addresses are allowed ([`EgressPolicy`], [`classify`]) and makes reqwest enforce it on
//! the addresses it really connects to:
//!
//! - [`check_url`] on the target before sending: scheme, and the address when the host is an IP
//!   literal (reqwest connects to those without resolving them);
//! - [`GuardedResolver`] for host names, at connect time, which is what defeats DNS rebinding;
//! - [`redirect_policy`] for every redirect target.
//!
//! [`client_builder`] installs the last two. A refusal surfaces as a `reqwest::Error` whose
//! source chain holds an [`EgressError`]; [`refused_by_policy`] finds it.
//!
//! Everything here is pure except the DNS lookup in the resolver.

mod class;
mod error;
mod policy;
mod redirect;
mod resolve;
mod url_check;

use std::sync::Arc;

pub use class::{AddressClass, classify};
pub use error::EgressError;
pub use policy::{EgressPolicy, ParseNetworkError, parse_networks};
pub use redirect::redirect_policy;
/// The URL type every function here takes (reqwest's, which is the `url` crate's).
pub use reqwest::Url;
pub use resolve::GuardedResolver;
pub use url_check::check_url;

/// Redirects [`client_builder`] follows. Webhook receivers rarely redirect at all; a few hops
/// cover a moved endpoint without letting a target bounce a replay around.
pub const MAX_REDIRECTS: usize = 5;

/// A reqwest client builder that refuses what `policy` refuses.
///
/// Callers add timeouts and the like. They must not replace the resolver or redirect policy,
/// nor add `resolve`/`resolve_to_addrs` overrides (those skip the resolver), and must call
/// [`check_url`] on each request's URL first.
pub fn client_builder(policy: &EgressPolicy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(policy.clone())))
        .redirect(redirect_policy(policy, MAX_REDIRECTS))
        // Through a proxy, the resolver would see only the proxy's name while the proxy resolves
        // and connects to the target, out of the policy's reach. An HTTP_PROXY in the
        // environment is meant for the server's own traffic, not for user-chosen targets.
        .no_proxy()
}

/// The [`EgressError`] anywhere in `err`'s source chain, whatever wraps it.
pub fn egress_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a EgressError> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<EgressError>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The refusal behind a failed request, when the policy refused its target or a redirect
/// (see [`EgressError::is_refusal`]); `None` for network failures, including failed lookups.
pub fn refused_by_policy(err: &reqwest::Error) -> Option<&EgressError> {
    egress_error(err).filter(|found| found.is_refusal())
}
