use reqwest::redirect::Policy;
use tracing::debug;

use crate::error::EgressError;
use crate::policy::EgressPolicy;
use crate::url_check::check_url;

/// A redirect policy that follows at most `max_redirects` redirects, each to a URL that passes
/// [`check_url`].
///
/// Redirect targets with a host name are also checked by [`crate::GuardedResolver`] when reqwest
/// connects; targets that are IP literals never reach a resolver, so this is their only check.
/// Going over the limit is an error ([`EgressError::TooManyRedirects`]), as with reqwest's own
/// limited policy.
pub fn redirect_policy(policy: &EgressPolicy, max_redirects: usize) -> Policy {
    let policy = policy.clone();
    Policy::custom(move |attempt| {
        // `previous` starts with the original URL, so it holds one URL per redirect followed so
        // far plus one.
        if attempt.previous().len() > max_redirects {
            return attempt.error(EgressError::TooManyRedirects { max: max_redirects });
        }
        match check_url(attempt.url(), &policy) {
            Ok(()) => attempt.follow(),
            Err(err) => {
                // The host only: paths and queries of webhook URLs often carry tokens.
                debug!(host = attempt.url().host_str(), error = %err, "refused redirect");
                attempt.error(err)
            }
        }
    })
}
