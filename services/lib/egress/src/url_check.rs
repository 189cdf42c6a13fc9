use std::net::IpAddr;

use reqwest::Url;

use crate::error::EgressError;
use crate::policy::EgressPolicy;

/// Checks a target URL before anything is sent to it.
///
/// Only `http` and `https` are replayed. A host that is an IP address is checked against the
/// policy here, because reqwest connects to IP literals without asking the resolver; a host name
/// passes, and [`crate::GuardedResolver`] checks what it resolves to at connect time. Call this on
/// the first URL of every request: the resolver and the redirect policy only see the rest.
///
/// The `url` crate has already rewritten other IPv4 spellings (`2130706433`, `0x7f.1`,
/// `0177.0.0.1`, `127.1`, `127.0.0.1.`) to dotted decimal, the same parse reqwest connects with,
/// so they are caught as the address they spell.
///
/// User info (`https://user:secret@host/`) is accepted: some receivers take basic auth that way,
/// and it cannot change where the request goes, since the host checked is the host connected to.
pub fn check_url(url: &Url, policy: &EgressPolicy) -> Result<(), EgressError> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(EgressError::bad_url(format!("only http and https URLs can be replayed, not {other}")));
        }
    }
    let host = match url.host_str() {
        Some(host) if !host.is_empty() => host,
        _ => return Err(EgressError::bad_url("the URL has no host")),
    };
    // IPv6 literals come bracketed from `host_str`.
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(addr) => policy.check(host, addr),
        Err(_) => Ok(()),
    }
}
