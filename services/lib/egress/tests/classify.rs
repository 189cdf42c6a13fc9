//! One row per address class and per edge of each range, IPv4 and IPv6.

use std::net::IpAddr;

use hookmetry_egress::{AddressClass, classify};

use AddressClass::*;

const TABLE: &[(&str, AddressClass)] = &[
    // Public, including the addresses just outside each special range.
    ("8.8.8.8", Public),
    ("1.1.1.1", Public),
    ("9.255.255.255", Public),
    ("11.0.0.0", Public),
    ("126.255.255.255", Public),
    ("128.0.0.0", Public),
    ("172.15.255.255", Public),
    ("172.32.0.0", Public),
    ("192.167.255.255", Public),
    ("192.169.0.0", Public),
    ("100.63.255.255", Public),
    ("100.128.0.0", Public),
    ("169.253.255.255", Public),
    ("169.255.0.0", Public),
    ("198.17.255.255", Public),
    ("198.20.0.0", Public),
    ("223.255.255.255", Public),
    ("2606:4700:4700::1111", Public),
    ("2001:4860:4860::8888", Public),
    ("2001:200::1", Public),
    ("2001:db7:ffff::1", Public),
    ("2002:808:808::1", Public),
    ("64:ff9b::808:808", Public),
    ("::ffff:8.8.8.8", Public),
    // Loopback.
    ("127.0.0.1", Loopback),
    ("127.0.0.0", Loopback),
    ("127.255.255.255", Loopback),
    ("127.0.0.2", Loopback),
    ("::1", Loopback),
    ("::ffff:127.0.0.1", Loopback),
    ("::ffff:0:127.0.0.1", Loopback),
    ("::127.0.0.1", Loopback),
    ("64:ff9b::7f00:1", Loopback),
    ("2002:7f00:1::", Loopback),
    // Private, with carrier-grade NAT space.
    ("10.0.0.0", Private),
    ("10.255.255.255", Private),
    ("172.16.0.0", Private),
    ("172.31.255.255", Private),
    ("192.168.0.0", Private),
    ("192.168.255.255", Private),
    ("100.64.0.0", Private),
    ("100.127.255.255", Private),
    ("64:ff9b::a00:1", Private),
    ("::ffff:10.0.0.1", Private),
    ("::ffff:192.168.1.1", Private),
    ("2002:c0a8:101::1", Private),
    // Link-local.
    ("169.254.0.0", LinkLocal),
    ("169.254.255.255", LinkLocal),
    ("169.254.169.253", LinkLocal),
    ("fe80::1", LinkLocal),
    ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal),
    ("::ffff:169.254.1.1", LinkLocal),
    // Unique-local.
    ("fc00::", UniqueLocal),
    ("fd12:3456:789a::1", UniqueLocal),
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", UniqueLocal),
    ("fd00:ec2::253", UniqueLocal),
    // Cloud metadata, winning over link-local, private, unique-local and public.
    ("169.254.169.254", Metadata),
    ("169.254.170.2", Metadata),
    ("169.254.170.23", Metadata),
    ("169.254.42.42", Metadata),
    ("100.100.100.200", Metadata),
    ("192.0.0.192", Metadata),
    ("168.63.129.16", Metadata),
    ("fd00:ec2::254", Metadata),
    ("fd00:ec2::23", Metadata),
    ("fd20:ce::254", Metadata),
    ("fd00:42::42", Metadata),
    ("fe80::a9fe:a9fe", Metadata),
    ("::ffff:169.254.169.254", Metadata),
    ("::ffff:0:169.254.169.254", Metadata),
    ("::169.254.169.254", Metadata),
    ("64:ff9b::a9fe:a9fe", Metadata),
    ("2002:a9fe:a9fe::1", Metadata),
    ("::ffff:100.100.100.200", Metadata),
    // Unspecified, with the rest of "this network".
    ("0.0.0.0", Unspecified),
    ("0.255.255.255", Unspecified),
    ("::", Unspecified),
    ("::ffff:0.0.0.0", Unspecified),
    // Multicast.
    ("224.0.0.1", Multicast),
    ("239.255.255.255", Multicast),
    ("ff02::1", Multicast),
    ("ff0e::1", Multicast),
    ("::ffff:224.0.0.1", Multicast),
    // Broadcast.
    ("255.255.255.255", Broadcast),
    ("::ffff:255.255.255.255", Broadcast),
    // Documentation.
    ("192.0.2.1", Documentation),
    ("198.51.100.7", Documentation),
    ("203.0.113.255", Documentation),
    ("2001:db8::1", Documentation),
    ("2001:db8:ffff::1", Documentation),
    ("3fff::1", Documentation),
    ("::ffff:192.0.2.1", Documentation),
    // Reserved.
    ("240.0.0.1", Reserved),
    ("255.255.255.254", Reserved),
    ("192.0.0.8", Reserved),
    ("198.18.0.1", Reserved),
    ("198.19.255.255", Reserved),
    ("192.88.99.1", Reserved),
    ("2001::1", Reserved),
    ("2001:1ff:ffff::1", Reserved),
    ("64:ff9b:1::a00:1", Reserved),
    ("100::1", Reserved),
    ("5f00::1", Reserved),
    ("fec0::1", Reserved),
    ("4000::1", Reserved),
    ("1::1", Reserved),
    ("::ffff:240.0.0.1", Reserved),
];

#[test]
fn classify_puts_every_address_in_its_class() {
    let mut wrong = Vec::new();
    for (text, expected) in TABLE {
        let addr: IpAddr = text.parse().unwrap_or_else(|e| panic!("bad test address {text}: {e}"));
        let got = classify(addr);
        if got != *expected {
            wrong.push(format!("{text}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn classify_table_covers_every_class() {
    let all = [
        Public,
        Loopback,
        Private,
        LinkLocal,
        UniqueLocal,
        Metadata,
        Unspecified,
        Multicast,
        Broadcast,
        Documentation,
        Reserved,
    ];
    for class in all {
        let v4 = TABLE.iter().any(|(a, c)| *c == class && a.parse::<std::net::Ipv4Addr>().is_ok());
        let v6 = TABLE.iter().any(|(a, c)| *c == class && a.parse::<std::net::Ipv6Addr>().is_ok());
        // Unique-local space exists only in IPv6.
        let v4 = v4 || class == UniqueLocal;
        assert!(v4 && v6, "{class:?} needs an IPv4 and an IPv6 row (v4: {v4}, v6: {v6})");
    }
}

#[test]
fn class_names_read_as_words() {
    assert_eq!(Loopback.to_string(), "loopback address");
    assert_eq!(Private.name(), "private address");
    assert_eq!(Metadata.name(), "cloud metadata address");
    assert_eq!(LinkLocal.name(), "link-local address");
}
