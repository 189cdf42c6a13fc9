use std::net::SocketAddr;

use tracing::debug;

use crate::error::EgressError;
use crate::policy::EgressPolicy;

/// The addresses `host` resolves to that the policy allows, with `port`.
///
/// Call it when connecting and connect only to what it returns: a check made on an earlier,
/// separate lookup would not hold, since a name can answer a public address to the check and a
/// private one to the connection (DNS rebinding).
pub async fn resolve_allowed(policy: &EgressPolicy, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
    let resolved = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| EgressError::Resolve { host: host.to_string(), source })?;
    screen(policy, host, resolved)
}

/// Keeps the allowed addresses, or fails with the first refusal when none is allowed.
///
/// A name with some allowed addresses still works, without the others: a public name that also
/// publishes a private address is more often a misconfiguration than an attack, and connecting
/// only to the allowed ones is safe either way.
pub(crate) fn screen(
    policy: &EgressPolicy,
    host: &str,
    resolved: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, EgressError> {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for addr in resolved {
        match policy.check(host, addr.ip()) {
            Ok(()) => allowed.push(addr),
            Err(err) => refused.push((addr.ip(), err)),
        }
    }
    if !refused.is_empty() {
        let dropped: Vec<_> = refused.iter().map(|(ip, _)| *ip).collect();
        debug!(host, ?dropped, kept = allowed.len(), "dropped resolved addresses refused by egress policy");
    }
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    match refused.into_iter().next() {
        Some((_, err)) => Err(err),
        None => Err(EgressError::NoAddresses { host: host.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AddressClass;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| SocketAddr::new(a.parse().unwrap(), 0)).collect()
    }

    #[test]
    fn screen_keeps_only_allowed_addresses_of_a_mixed_answer() {
        let kept =
            screen(&EgressPolicy::cluster(), "mixed.example", addrs(&["127.0.0.1", "93.184.216.34", "10.1.2.3"]))
                .unwrap();
        assert_eq!(kept, addrs(&["93.184.216.34"]));
    }

    #[test]
    fn screen_fails_with_the_first_refusal_when_nothing_is_left() {
        let err = screen(&EgressPolicy::cluster(), "internal.example", addrs(&["10.1.2.3", "127.0.0.1"])).unwrap_err();
        match err {
            EgressError::Refused { host, addr, class, denied_by: None } => {
                assert_eq!(host, "internal.example");
                assert_eq!(addr, "10.1.2.3".parse::<std::net::IpAddr>().unwrap());
                assert_eq!(class, AddressClass::Private);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn screen_of_an_empty_answer_is_no_addresses() {
        let err = screen(&EgressPolicy::cluster(), "empty.example", Vec::new()).unwrap_err();
        assert!(matches!(err, EgressError::NoAddresses { ref host } if host == "empty.example"), "{err:?}");
    }
}
