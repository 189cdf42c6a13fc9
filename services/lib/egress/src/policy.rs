use std::net::IpAddr;

use ipnet::IpNet;

use crate::class::{AddressClass, classify, effective};
use crate::error::EgressError;

/// Which addresses replay may connect to.
///
/// Explicit networks are checked first and the most specific entry wins, a tie going to the
/// denial, so an operator can allow `10.0.0.0/8` and still deny `10.0.0.1/32`. An address no
/// entry covers is judged by its [`AddressClass`]: public addresses are allowed, the classes with
/// a toggle follow it, and everything else (metadata, unspecified, multicast, broadcast,
/// documentation, reserved) is refused.
///
/// Metadata addresses are allowed only by an `allowed_networks` entry that names the address
/// itself (`169.254.169.254/32`): they serve the server's cloud credentials, so allowing
/// `169.254.0.0/16` for some link-local service, or `0.0.0.0/0` for everything, must not open
/// them by accident.
///
/// Networks match both the address and, for IPv6 forms that carry an IPv4 address, that IPv4
/// address: allowing `127.0.0.1/32` also allows `::ffff:127.0.0.1`, denying it also denies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    /// `replay.allow_loopback`: the replaying machine itself.
    pub allow_loopback: bool,
    /// `replay.allow_private`: private IPv4, carrier-grade NAT space and IPv6 unique-local.
    pub allow_private: bool,
    /// `replay.allow_link_local`: link-local addresses other than metadata endpoints.
    pub allow_link_local: bool,
    /// `replay.allowed_networks`.
    pub allowed_networks: Vec<IpNet>,
    /// `replay.denied_networks`: for public addresses that are internal all the same, such as a
    /// cluster's own load balancer.
    pub denied_networks: Vec<IpNet>,
}

impl Default for EgressPolicy {
    /// The shared-cluster policy: a server that does not say otherwise is treated as shared.
    fn default() -> Self {
        Self::cluster()
    }
}

impl EgressPolicy {
    /// For a shared cluster: only public addresses.
    pub fn cluster() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            allow_link_local: false,
            allowed_networks: Vec::new(),
            denied_networks: Vec::new(),
        }
    }

    /// For embedded mode on a laptop: public addresses and loopback, where the user's own
    /// receiver under development usually listens.
    pub fn laptop() -> Self {
        Self { allow_loopback: true, ..Self::cluster() }
    }

    /// Adds `replay.allowed_networks` entries; see [`parse_networks`] for the format.
    pub fn allow_networks<I, S>(mut self, entries: I) -> Result<Self, ParseNetworkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_networks.extend(parse_networks("replay.allowed_networks", entries)?);
        Ok(self)
    }

    /// Adds `replay.denied_networks` entries; see [`parse_networks`] for the format.
    pub fn deny_networks<I, S>(mut self, entries: I) -> Result<Self, ParseNetworkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.denied_networks.extend(parse_networks("replay.denied_networks", entries)?);
        Ok(self)
    }

    /// Whether a connection to `addr` is allowed; `host` is only for the error message.
    pub fn check(&self, host: &str, addr: IpAddr) -> Result<(), EgressError> {
        let class = classify(addr);
        let refuse =
            |denied_by: Option<IpNet>| Err(EgressError::Refused { host: host.to_string(), addr, class, denied_by });
        let allowed = most_specific(&self.allowed_networks, addr);
        let denied = most_specific(&self.denied_networks, addr);
        match (allowed, denied) {
            (allowed, Some(denied)) if allowed.is_none_or(|a| specificity(&denied) >= specificity(&a)) => {
                return refuse(Some(denied));
            }
            (Some(allowed), _)
                if class != AddressClass::Metadata || allowed.prefix_len() == allowed.max_prefix_len() =>
            {
                return Ok(());
            }
            _ => {}
        }
        let allowed_by_class = match class {
            AddressClass::Public => true,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Private | AddressClass::UniqueLocal => self.allow_private,
            AddressClass::LinkLocal => self.allow_link_local,
            AddressClass::Metadata
            | AddressClass::Unspecified
            | AddressClass::Multicast
            | AddressClass::Broadcast
            | AddressClass::Documentation
            | AddressClass::Reserved => false,
        };
        if allowed_by_class { Ok(()) } else { refuse(None) }
    }

    /// Whether a connection to `addr` is allowed.
    pub fn allows(&self, addr: IpAddr) -> bool {
        self.check("", addr).is_ok()
    }
}

/// The most specific network in `nets` that covers `addr` or the IPv4 address it carries.
fn most_specific(nets: &[IpNet], addr: IpAddr) -> Option<IpNet> {
    let carried = effective(addr);
    nets.iter().filter(|net| net.contains(&addr) || net.contains(&carried)).max_by_key(|net| specificity(net)).copied()
}

/// Prefix length on one scale for both families, an IPv4 network counting as the IPv4-mapped
/// IPv6 network it stands for, so `127.0.0.1/32` is as specific as a /128.
fn specificity(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(v4) => v4.prefix_len() + 96,
        IpNet::V6(v6) => v6.prefix_len(),
    }
}

/// A network list entry that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: `{entry}` {reason}")]
pub struct ParseNetworkError {
    /// The config key the list came from.
    pub key: &'static str,
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it and what to write instead.
    pub reason: String,
}

/// Parses a network list such as `replay.allowed_networks`.
///
/// An entry is a CIDR network (`10.0.0.0/8`, `fd00::/8`) or a single address (`10.0.0.5`,
/// meaning `/32` or `/128`). A network with host bits set (`10.0.0.1/8`) is refused rather than
/// widened: it is usually a typo for a single address, and reading it as the whole network
/// would allow far more than meant. `key` names the list in errors.
pub fn parse_networks<I, S>(key: &'static str, entries: I) -> Result<Vec<IpNet>, ParseNetworkError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    entries.into_iter().map(|entry| parse_network(key, entry.as_ref())).collect()
}

fn parse_network(key: &'static str, entry: &str) -> Result<IpNet, ParseNetworkError> {
    let error = |reason: String| ParseNetworkError { key, entry: entry.to_string(), reason };
    let text = entry.trim();
    if text.is_empty() {
        return Err(error("is empty; write a network such as 10.0.0.0/8 or an address such as 10.0.0.5".into()));
    }
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(addr) => IpNet::from(addr),
            Err(_) => {
                return Err(error(
                    "is not an IP network; write a network such as 10.0.0.0/8 or an address such as 10.0.0.5".into(),
                ));
            }
        },
    };
    if net.network() != net.addr() {
        return Err(error(format!(
            "has host bits set; write {} for the whole network or {} for the single address",
            net.trunc(),
            IpNet::from(net.addr())
        )));
    }
    Ok(net)
}
