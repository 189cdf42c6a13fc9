//! What kind of address an IP is, as far as sending a request to it is concerned.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of network an address belongs to; the policy allows or refuses whole classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Anything not listed below: a normal internet address.
    Public,
    /// 127.0.0.0/8 and ::1: the replaying server itself.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and the shared (carrier-grade NAT) space
    /// 100.64.0.0/10. The shared space counts as private because it is never reachable from the
    /// internet, while clouds and overlays use it inside the cluster (Tailscale nodes, Alibaba's
    /// metadata service, some Kubernetes pod networks).
    Private,
    /// 169.254.0.0/16 and fe80::/10: reachable only on the local link, where cloud agents listen.
    LinkLocal,
    /// fc00::/7, the IPv6 counterpart of private addresses.
    UniqueLocal,
    /// Instance metadata and credential endpoints of cloud providers. These hand out the server's
    /// own cloud credentials, so no class toggle allows them (see [`crate::EgressPolicy`]).
    Metadata,
    /// 0.0.0.0/8 and ::. Connecting to 0.0.0.0 reaches the local machine on Linux.
    Unspecified,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 and 3fff::/20: reserved for
    /// examples, never a real host.
    Documentation,
    /// Other special-purpose space that is no place for a webhook receiver: 240.0.0.0/4,
    /// 192.0.0.0/24, 198.18.0.0/15 (benchmarking, also used by proxies for fake DNS answers),
    /// 192.88.99.0/24, and in IPv6 everything outside 2000::/3, 2001::/23 (Teredo and protocol
    /// assignments), 64:ff9b:1::/48, 100::/64, 5f00::/16 and the deprecated site-local fec0::/10.
    Reserved,
}

impl AddressClass {
    /// How the class is named in messages: "loopback address", "cloud metadata address".
    pub fn name(self) -> &'static str {
        match self {
            AddressClass::Public => "public address",
            AddressClass::Loopback => "loopback address",
            AddressClass::Private => "private address",
            AddressClass::LinkLocal => "link-local address",
            AddressClass::UniqueLocal => "unique-local address",
            AddressClass::Metadata => "cloud metadata address",
            AddressClass::Unspecified => "unspecified address",
            AddressClass::Multicast => "multicast address",
            AddressClass::Broadcast => "broadcast address",
            AddressClass::Documentation => "documentation address",
            AddressClass::Reserved => "reserved address",
        }
    }

    /// The name with its article, for sentences ("an unspecified address").
    pub(crate) fn with_article(self) -> String {
        let article = match self {
            AddressClass::Unspecified => "an",
            _ => "a",
        };
        format!("{article} {}", self.name())
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Metadata endpoints listed by address. A request to one of these can return the credentials of
/// the machine or pod running the replay worker, so they win over the link-local, private and
/// public classes they also belong to.
const METADATA_V4: [Ipv4Addr; 7] = [
    // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Hetzner, Linode and most others.
    Ipv4Addr::new(169, 254, 169, 254),
    // AWS ECS task credentials.
    Ipv4Addr::new(169, 254, 170, 2),
    // AWS EKS Pod Identity agent.
    Ipv4Addr::new(169, 254, 170, 23),
    // Scaleway.
    Ipv4Addr::new(169, 254, 42, 42),
    // Alibaba Cloud.
    Ipv4Addr::new(100, 100, 100, 200),
    // Oracle Cloud Classic.
    Ipv4Addr::new(192, 0, 0, 192),
    // Azure WireServer: a public address, but inside Azure it serves VM extension settings and
    // certificates; no webhook receiver lives there.
    Ipv4Addr::new(168, 63, 129, 16),
];

const METADATA_V6: [Ipv6Addr; 5] = [
    // AWS instance metadata.
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    // AWS EKS Pod Identity agent.
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),
    // GCP metadata server for IPv6-only instances.
    Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),
    // Scaleway.
    Ipv6Addr::new(0xfd00, 0x42, 0, 0, 0, 0, 0, 0x42),
    // OpenStack's IPv6 metadata address (169.254.169.254 spelled in fe80::/10).
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe),
];

/// Classifies an address by where a connection to it would really go.
///
/// IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
/// `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16`)
/// are classified by that IPv4 address: the kernel or a translator delivers them there, so
/// `http://[::ffff:127.0.0.1]/` is loopback like `http://127.0.0.1/`.
pub fn classify(addr: IpAddr) -> AddressClass {
    match effective(addr) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// The address a connection to `addr` ends up at: the embedded IPv4 address for the IPv6 forms
/// that carry one, `addr` itself otherwise.
pub(crate) fn effective(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

fn embedded_ipv4(addr: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = addr.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // :: and ::1 are IPv6's own unspecified and loopback addresses, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        // IPv4-compatible (deprecated, but some stacks still route it) and IPv4-mapped.
        [0, 0, 0, 0, 0, 0 | 0xffff, _, _] => Some(low),
        // IPv4-translated (SIIT).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // The well-known NAT64 prefix: the translator connects to the embedded address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 6to4: a relay forwards to the IPv4 address in bits 16..48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

fn in_v4(addr: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(addr) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(addr: Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(addr) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn classify_v4(addr: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    if METADATA_V4.contains(&addr) {
        return Metadata;
    }
    let table: [([u8; 4], u32, AddressClass); 16] = [
        ([0, 0, 0, 0], 8, Unspecified),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([100, 64, 0, 0], 10, Private),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([255, 255, 255, 255], 32, Broadcast),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([192, 0, 0, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
    ];
    table.iter().find(|(net, len, _)| in_v4(addr, *net, *len)).map_or(Public, |(_, _, class)| *class)
}

fn classify_v6(addr: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if METADATA_V6.contains(&addr) {
        return Metadata;
    }
    // First match wins: the special ranges inside 2000::/3 must come before it.
    let table: [([u16; 8], u32, AddressClass); 13] = [
        ([0, 0, 0, 0, 0, 0, 0, 0], 128, Unspecified),
        ([0, 0, 0, 0, 0, 0, 0, 1], 128, Loopback),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Reserved),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, UniqueLocal),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, Reserved),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Reserved),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Reserved),
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, Reserved),
        // Global unicast: everything IANA hands out to networks comes from here.
        ([0x2000, 0, 0, 0, 0, 0, 0, 0], 3, Public),
    ];
    table.iter().find(|(net, len, _)| in_v6(addr, *net, *len)).map_or(Reserved, |(_, _, class)| *class)
}
