//! Real requests through `client_builder` to servers on 127.0.0.0/8, counting the connections
//! each server accepts: a refused target must not even be connected to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hookmetry_egress::{
    AddressClass, EgressError, EgressPolicy, GuardedResolver, client_builder, egress_error, refused_by_policy,
};
use reqwest::dns::Resolve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-response-per-connection HTTP server that counts the connections it accepts.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    /// `response` gets the server's own address, so a server can redirect to itself.
    async fn start(ip: &str, response: impl FnOnce(SocketAddr) -> String) -> Server {
        let listener = TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let response = response(addr);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server { addr, accepted }
    }

    async fn ok(ip: &str) -> Server {
        Server::start(ip, |_| "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()).await
    }

    async fn redirect(ip: &str, location: &str) -> Server {
        let location = location.to_string();
        Server::start(ip, move |_| found(&location)).await
    }

    /// Connections accepted so far, after giving a stray one time to land.
    async fn accepted(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.accepted.load(Ordering::SeqCst)
    }
}

fn found(location: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn client(policy: &EgressPolicy) -> reqwest::Client {
    client_builder(policy).timeout(Duration::from_secs(10)).build().unwrap()
}

fn refused_class(err: &reqwest::Error) -> AddressClass {
    match refused_by_policy(err) {
        Some(EgressError::Refused { class, .. }) => *class,
        other => panic!("expected a policy refusal in {err:?}, found {other:?}"),
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_in_cluster_mode_without_connecting() {
    let server = Server::ok("127.0.0.1").await;
    let url = format!("http://localhost:{}/hook", server.addr.port());

    let err = client(&EgressPolicy::cluster()).post(&url).body("{}").send().await.unwrap_err();

    assert_eq!(refused_class(&err), AddressClass::Loopback);
    match refused_by_policy(&err) {
        Some(EgressError::Refused { host, .. }) => assert_eq!(host, "localhost"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.accepted().await, 0, "the refused target must not be connected to");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_allowed_on_a_laptop() {
    let server = Server::ok("127.0.0.1").await;
    let url = format!("http://localhost:{}/hook", server.addr.port());

    let response = client(&EgressPolicy::laptop()).post(&url).body("{}").send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(server.accepted().await, 1);
}

#[tokio::test]
async fn the_resolver_refuses_a_name_when_every_address_is_refused() {
    let resolver = GuardedResolver::new(EgressPolicy::cluster());
    let err = match resolver.resolve("localhost".parse().unwrap()).await {
        Ok(addrs) => panic!("expected a refusal, got {:?}", addrs.collect::<Vec<_>>()),
        Err(err) => err,
    };
    match egress_error(err.as_ref()) {
        Some(EgressError::Refused { host, class: AddressClass::Loopback, .. }) => assert_eq!(host, "localhost"),
        other => panic!("expected a loopback refusal, got {other:?} from {err}"),
    }

    let addrs: Vec<SocketAddr> =
        GuardedResolver::new(EgressPolicy::laptop()).resolve("localhost".parse().unwrap()).await.unwrap().collect();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
}

#[tokio::test]
async fn a_failed_lookup_is_not_a_refusal() {
    let server = Server::ok("127.0.0.1").await;
    // `.invalid` never resolves (RFC 2606), with or without network access.
    let url = format!("http://no-such-host.invalid:{}/", server.addr.port());

    let err = client(&EgressPolicy::laptop()).get(&url).send().await.unwrap_err();

    assert!(refused_by_policy(&err).is_none(), "{err:?}");
    assert!(
        matches!(egress_error(&err), Some(EgressError::Resolve { .. } | EgressError::NoAddresses { .. })),
        "{err:?}"
    );
}

/// Allows the first hop's server (127.0.0.1) and nothing else local.
fn first_hop_only() -> EgressPolicy {
    EgressPolicy::cluster().allow_networks(["127.0.0.1/32"]).unwrap()
}

#[tokio::test]
async fn a_redirect_to_another_loopback_address_is_refused_without_connecting() {
    let other = Server::ok("127.0.0.2").await;
    let first = Server::redirect("127.0.0.1", &format!("http://127.0.0.2:{}/", other.addr.port())).await;

    let err = client(&first_hop_only()).get(format!("http://{}/", first.addr)).send().await.unwrap_err();

    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(refused_class(&err), AddressClass::Loopback);
    assert_eq!(first.accepted().await, 1);
    assert_eq!(other.accepted().await, 0, "the redirect target must not be connected to");
}

#[tokio::test]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let first = Server::redirect("127.0.0.1", "http://169.254.169.254/latest/meta-data/").await;

    let err = client(&first_hop_only()).get(format!("http://{}/", first.addr)).send().await.unwrap_err();

    assert_eq!(refused_class(&err), AddressClass::Metadata);
    let message = refused_by_policy(&err).unwrap().to_string();
    assert!(message.contains("cloud metadata address"), "{message}");
}

#[tokio::test]
async fn a_redirect_to_a_name_resolving_to_loopback_is_refused_by_the_resolver() {
    // The first hop, 127.0.0.2, is allowed; localhost (127.0.0.1) is not. The redirect check
    // passes any name, so it is the resolver that must refuse this one.
    let other = Server::ok("127.0.0.1").await;
    let first = Server::redirect("127.0.0.2", &format!("http://localhost:{}/", other.addr.port())).await;
    let policy = EgressPolicy::cluster().allow_networks(["127.0.0.2/32"]).unwrap();

    let err = client(&policy).get(format!("http://{}/", first.addr)).send().await.unwrap_err();

    assert_eq!(refused_class(&err), AddressClass::Loopback);
    assert_eq!(first.accepted().await, 1);
    assert_eq!(other.accepted().await, 0);
}

#[tokio::test]
async fn a_redirect_to_a_non_http_scheme_is_not_followed() {
    // reqwest does not even offer such a location to the redirect policy: the 3xx is the answer.
    let first = Server::redirect("127.0.0.1", "file:///etc/passwd").await;

    let response = client(&first_hop_only()).get(format!("http://{}/", first.addr)).send().await.unwrap();

    assert_eq!(response.status(), 302);
    assert_eq!(response.url().port(), Some(first.addr.port()));
}

#[tokio::test]
async fn a_redirect_to_another_scheme_reqwest_would_try_is_refused() {
    let first = Server::redirect("127.0.0.1", "ftp://files.example.com/hook").await;

    let err = client(&first_hop_only()).get(format!("http://{}/", first.addr)).send().await.unwrap_err();

    match refused_by_policy(&err) {
        Some(found @ EgressError::BadUrl { .. }) => assert!(found.to_string().contains("not ftp"), "{found}"),
        other => panic!("expected BadUrl, got {other:?} from {err:?}"),
    }
}

#[tokio::test]
async fn a_redirect_to_an_allowed_target_is_followed() {
    let other = Server::ok("127.0.0.1").await;
    let first = Server::redirect("127.0.0.1", &format!("http://127.0.0.1:{}/moved", other.addr.port())).await;

    let response = client(&first_hop_only()).get(format!("http://{}/", first.addr)).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.url().port(), Some(other.addr.port()));
    assert_eq!(other.accepted().await, 1);
}

#[tokio::test]
async fn redirects_beyond_the_limit_fail() {
    let looping = Server::start("127.0.0.1", |addr| found(&format!("http://{addr}/again"))).await;

    let err = client(&first_hop_only()).get(format!("http://{}/", looping.addr)).send().await.unwrap_err();

    assert!(matches!(egress_error(&err), Some(EgressError::TooManyRedirects { max: 5 })), "{err:?}");
    assert!(refused_by_policy(&err).is_none());
    assert_eq!(looping.accepted().await, 6, "the first request and five redirects");
}
