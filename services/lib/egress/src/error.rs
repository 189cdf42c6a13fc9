use std::net::IpAddr;

use ipnet::IpNet;

use crate::class::{AddressClass, effective};

/// Why a replay target may not be, or could not be, connected to.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The policy refuses the address the target is, or resolves to.
    #[error("{}", refused_message(.host, *.addr, *.class, .denied_by.as_ref()))]
    Refused {
        /// The host as the URL named it: a name, or the IP literal itself.
        host: String,
        addr: IpAddr,
        class: AddressClass,
        /// The `replay.denied_networks` entry that refused it, when one did.
        denied_by: Option<IpNet>,
    },
    /// The URL is not one replay sends to; `reason` is a sentence for the user.
    #[error("cannot replay to this URL: {reason}")]
    BadUrl { reason: String },
    #[error("could not resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host} did not resolve to any address")]
    NoAddresses { host: String },
    #[error("stopped after {max} redirects")]
    TooManyRedirects { max: usize },
}

impl EgressError {
    /// Whether the operator's policy said no, as opposed to the network failing: a replay refused
    /// this way fails the same way every time, so retrying is pointless.
    pub fn is_refusal(&self) -> bool {
        matches!(self, EgressError::Refused { .. } | EgressError::BadUrl { .. })
    }

    pub(crate) fn bad_url(reason: impl Into<String>) -> Self {
        EgressError::BadUrl { reason: reason.into() }
    }
}

fn refused_message(host: &str, addr: IpAddr, class: AddressClass, denied_by: Option<&IpNet>) -> String {
    let is_literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok() == Some(addr);
    let target = if is_literal { addr.to_string() } else { format!("{host} ({addr})") };
    if let Some(net) = denied_by {
        return format!(
            "refused to connect to {target}: it is in {net}, which the operator listed in replay.denied_networks"
        );
    }
    let toggle = |what: &str, key: &str| {
        format!("an operator can allow {what} with {key} = true, or this one by listing it in replay.allowed_networks")
    };
    let remedy = match class {
        AddressClass::Loopback => toggle("loopback addresses", "replay.allow_loopback"),
        AddressClass::Private => toggle("private addresses", "replay.allow_private"),
        AddressClass::UniqueLocal => toggle("private and unique-local addresses", "replay.allow_private"),
        AddressClass::LinkLocal => toggle("link-local addresses", "replay.allow_link_local"),
        AddressClass::Metadata => {
            let exact = match effective(addr) {
                IpAddr::V4(v4) => format!("{v4}/32"),
                IpAddr::V6(v6) => format!("{v6}/128"),
            };
            format!(
                "it can hand out this server's cloud credentials, so an operator can allow it only by listing \
                 exactly {exact} in replay.allowed_networks"
            )
        }
        _ => "an operator can allow it only by listing it in replay.allowed_networks".to_string(),
    };
    format!("refused to connect to {target}: it is {}; {remedy}", class.with_article())
}
