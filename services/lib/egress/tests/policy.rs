//! `check_url`, the policy's decisions and the network list parser, without any I/O.

use std::net::IpAddr;

use hookmetry_egress::Url;
use hookmetry_egress::{AddressClass, EgressError, EgressPolicy, check_url, parse_networks};

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|e| panic!("bad test URL {text}: {e}"))
}

fn refusal(result: Result<(), EgressError>) -> (String, IpAddr, AddressClass, String) {
    match result {
        Err(err @ EgressError::Refused { .. }) => {
            let message = err.to_string();
            let EgressError::Refused { host, addr, class, .. } = err else { unreachable!() };
            (host, addr, class, message)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const LOOPBACK_URLS: &[&str] = &[
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/hook",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.0.1./",
    "http://[::ffff:127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "https://user:secret@127.0.0.1/",
];

const METADATA_URLS: &[&str] = &[
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/latest/meta-data",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",
    "http://100.100.100.200/latest/meta-data/",
];

#[test]
fn url_rewrites_odd_ipv4_spellings_to_dotted_decimal() {
    for (written, host) in [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.0.0.1/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://127.0.0.1./", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
        ("http://2852039166/", "169.254.169.254"),
    ] {
        assert_eq!(url(written).host_str(), Some(host), "{written}");
    }
}

#[test]
fn check_url_refuses_loopback_literals_in_cluster_mode() {
    for text in LOOPBACK_URLS {
        let (_, _, class, message) = refusal(check_url(&url(text), &EgressPolicy::cluster()));
        assert_eq!(class, AddressClass::Loopback, "{text}");
        assert!(message.contains("loopback address"), "{text}: {message}");
        assert!(message.contains("replay.allow_loopback"), "{text}: {message}");
        assert!(message.contains("replay.allowed_networks"), "{text}: {message}");
    }
}

#[test]
fn check_url_allows_loopback_literals_on_a_laptop() {
    for text in LOOPBACK_URLS {
        assert!(check_url(&url(text), &EgressPolicy::laptop()).is_ok(), "{text}");
    }
}

#[test]
fn check_url_refuses_metadata_literals_everywhere() {
    let everything_by_class =
        EgressPolicy { allow_loopback: true, allow_private: true, allow_link_local: true, ..EgressPolicy::cluster() };
    for policy in [EgressPolicy::cluster(), EgressPolicy::laptop(), everything_by_class] {
        for text in METADATA_URLS {
            let (_, _, class, message) = refusal(check_url(&url(text), &policy));
            assert_eq!(class, AddressClass::Metadata, "{text}");
            assert!(message.contains("cloud metadata address"), "{text}: {message}");
            assert!(message.contains("replay.allowed_networks"), "{text}: {message}");
            assert!(!message.contains("replay.allow_link_local"), "{text}: {message}");
        }
    }
}

#[test]
fn check_url_refuses_private_link_local_and_unique_local_literals() {
    for (text, class, key) in [
        ("http://10.0.0.1/", AddressClass::Private, "replay.allow_private"),
        ("http://172.16.0.1/", AddressClass::Private, "replay.allow_private"),
        ("http://192.168.1.1/", AddressClass::Private, "replay.allow_private"),
        ("http://100.64.0.1/", AddressClass::Private, "replay.allow_private"),
        ("http://[fd12::1]/", AddressClass::UniqueLocal, "replay.allow_private"),
        ("http://169.254.1.1/", AddressClass::LinkLocal, "replay.allow_link_local"),
        ("http://[fe80::1]/", AddressClass::LinkLocal, "replay.allow_link_local"),
    ] {
        for policy in [EgressPolicy::cluster(), EgressPolicy::laptop()] {
            let (_, _, got, message) = refusal(check_url(&url(text), &policy));
            assert_eq!(got, class, "{text}");
            assert!(message.contains(class.name()), "{text}: {message}");
            assert!(message.contains(key), "{text}: {message}");
        }
    }
}

#[test]
fn check_url_refuses_addresses_no_toggle_allows() {
    let everything_by_class =
        EgressPolicy { allow_loopback: true, allow_private: true, allow_link_local: true, ..EgressPolicy::cluster() };
    for (text, class) in [
        ("http://0.0.0.0/", AddressClass::Unspecified),
        ("http://0/", AddressClass::Unspecified),
        ("http://[::]/", AddressClass::Unspecified),
        ("http://255.255.255.255/", AddressClass::Broadcast),
        ("http://224.0.0.1/", AddressClass::Multicast),
        ("http://[ff02::1]/", AddressClass::Multicast),
        ("http://192.0.2.1/", AddressClass::Documentation),
        ("http://[2001:db8::1]/", AddressClass::Documentation),
        ("http://240.0.0.1/", AddressClass::Reserved),
    ] {
        let (_, _, got, message) = refusal(check_url(&url(text), &everything_by_class));
        assert_eq!(got, class, "{text}");
        assert!(message.contains("only by listing it in replay.allowed_networks"), "{text}: {message}");
    }
}

#[test]
fn check_url_allows_public_literals_and_names_without_resolving() {
    for text in [
        "http://93.184.216.34/",
        "https://[2606:4700:4700::1111]/hook",
        "https://hooks.example.com/x?y=1",
        // Names are the resolver's business, even this one.
        "http://localhost:8080/",
        "https://user:secret@hooks.example.com/",
    ] {
        assert!(check_url(&url(text), &EgressPolicy::cluster()).is_ok(), "{text}");
    }
}

#[test]
fn check_url_rejects_schemes_other_than_http() {
    for text in ["ftp://example.com/file", "file:///etc/passwd", "gopher://127.0.0.1:70/", "ws://example.com/"] {
        match check_url(&url(text), &EgressPolicy::laptop()) {
            Err(err @ EgressError::BadUrl { .. }) => {
                let scheme = text.split(':').next().unwrap();
                assert!(err.to_string().contains(&format!("not {scheme}")), "{text}: {err}");
                assert!(err.is_refusal());
            }
            other => panic!("{text}: expected BadUrl, got {other:?}"),
        }
    }
}

#[test]
fn refusal_message_names_host_address_class_and_key() {
    let err = check_url(&url("http://[::1]:9000/"), &EgressPolicy::cluster()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused to connect to ::1: it is a loopback address; an operator can allow loopback addresses with \
         replay.allow_loopback = true, or this one by listing it in replay.allowed_networks"
    );
    let err = check_url(&url("http://169.254.169.254/latest/meta-data"), &EgressPolicy::cluster()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused to connect to 169.254.169.254: it is a cloud metadata address; it can hand out this server's cloud \
         credentials, so an operator can allow it only by listing exactly 169.254.169.254/32 in \
         replay.allowed_networks"
    );
    let err = EgressPolicy::cluster().check("internal.example", "10.0.0.7".parse().unwrap()).unwrap_err();
    assert!(
        err.to_string().starts_with("refused to connect to internal.example (10.0.0.7): it is a private address; "),
        "{err}"
    );
}

#[test]
fn allowed_networks_override_the_classes() {
    let policy = EgressPolicy::cluster().allow_networks(["127.0.0.1/32", "10.1.0.0/16", "fd00:1::/32"]).unwrap();
    assert!(check_url(&url("http://127.0.0.1/"), &policy).is_ok());
    assert!(check_url(&url("http://[::ffff:127.0.0.1]/"), &policy).is_ok(), "the mapped form is the same address");
    assert!(check_url(&url("http://10.1.2.3/"), &policy).is_ok());
    assert!(check_url(&url("http://[fd00:1::5]/"), &policy).is_ok());
    assert!(check_url(&url("http://127.0.0.2/"), &policy).is_err());
    assert!(check_url(&url("http://10.2.0.1/"), &policy).is_err());
}

#[test]
fn metadata_needs_its_exact_address_in_allowed_networks() {
    let wide = EgressPolicy::cluster().allow_networks(["169.254.0.0/16", "0.0.0.0/0", "::/0"]).unwrap();
    assert!(wide.allows("169.254.1.1".parse().unwrap()));
    assert!(!wide.allows("169.254.169.254".parse().unwrap()));
    assert!(!wide.allows("fd00:ec2::254".parse().unwrap()));

    let exact = EgressPolicy::cluster().allow_networks(["169.254.169.254", "fd00:ec2::254/128"]).unwrap();
    assert!(exact.allows("169.254.169.254".parse().unwrap()));
    assert!(exact.allows("::ffff:169.254.169.254".parse().unwrap()));
    assert!(exact.allows("fd00:ec2::254".parse().unwrap()));
    assert!(!exact.allows("169.254.170.2".parse().unwrap()));
}

#[test]
fn the_most_specific_network_wins_and_a_tie_denies() {
    let policy = EgressPolicy::cluster()
        .allow_networks(["10.0.0.0/8", "203.0.113.7/32"])
        .unwrap()
        .deny_networks(["10.0.0.0/24", "93.184.216.0/24", "203.0.113.7/32"])
        .unwrap();
    assert!(policy.allows("10.1.0.1".parse().unwrap()));
    assert!(!policy.allows("203.0.113.7".parse().unwrap()), "a tie goes to the denial");
    assert!(!policy.allows("93.184.216.34".parse().unwrap()), "denied networks refuse public addresses too");
    assert!(!policy.allows("::ffff:93.184.216.34".parse().unwrap()));
    let (_, _, class, message) = refusal(policy.check("10.0.0.5", "10.0.0.5".parse().unwrap()));
    assert_eq!(class, AddressClass::Private);
    assert!(message.contains("10.0.0.0/24") && message.contains("replay.denied_networks"), "{message}");

    let narrower_allow = policy.clone().allow_networks(["10.0.0.5/32"]).unwrap();
    assert!(narrower_allow.allows("10.0.0.5".parse().unwrap()));
    assert!(!narrower_allow.allows("10.0.0.6".parse().unwrap()));
}

#[test]
fn parse_networks_accepts_networks_and_single_addresses() {
    let nets = parse_networks("replay.allowed_networks", ["10.0.0.0/8", " 192.168.1.5 ", "fd00::/8", "::1"]).unwrap();
    let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "192.168.1.5/32", "fd00::/8", "::1/128"]);
}

#[test]
fn parse_networks_names_the_bad_entry() {
    for (entry, hint) in [
        ("10.0.0.0/33", "is not an IP network"),
        ("localhost", "is not an IP network"),
        ("10.0.0/8", "is not an IP network"),
        ("", "is empty"),
        ("10.0.0.1/8", "write 10.0.0.0/8 for the whole network or 10.0.0.1/32 for the single address"),
    ] {
        let err = parse_networks("replay.allowed_networks", ["127.0.0.1/32", entry]).unwrap_err();
        assert_eq!(err.entry, entry);
        let message = err.to_string();
        assert!(message.starts_with(&format!("replay.allowed_networks: `{entry}` ")), "{message}");
        assert!(message.contains(hint), "{message}");
    }
    let err = EgressPolicy::cluster().deny_networks(["nope"]).unwrap_err();
    assert_eq!(err.to_string().split(':').next(), Some("replay.denied_networks"));
}

#[test]
fn default_policy_is_the_cluster_policy() {
    assert_eq!(EgressPolicy::default(), EgressPolicy::cluster());
    assert!(!EgressPolicy::cluster().allow_loopback);
    assert!(EgressPolicy::laptop().allow_loopback && !EgressPolicy::laptop().allow_private);
}
