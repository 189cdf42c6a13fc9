//! Real requests through `http1::Client` to servers on 127.0.0.0/8 that record the raw bytes
//! they receive and count the connections they accept: a refused target must not even be
//! connected to, and what a receiver gets must be exactly what was asked for.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use hookmetry_egress::http1::{Client, ClientSettings, Exchange, FailureKind, PoolSettings, Request};
use hookmetry_egress::{EgressPolicy, Url, resolve_allowed};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA and certificates for `localhost` and `127.0.0.1` that it signed, made when the tests
/// start and valid from an hour ago to a day from now: no date in the repository that the tests
/// outlive. The CA's key exists only in this process.
struct Tls {
    ca: Vec<u8>,
    /// Valid now.
    current: ServerCert,
    /// Valid for an hour, until yesterday.
    expired: ServerCert,
}

struct ServerCert {
    cert: Vec<u8>,
    key: Vec<u8>,
}

static TLS: LazyLock<Tls> = LazyLock::new(|| {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    use time::{Duration as Span, OffsetDateTime};

    let now = OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "hookmetry test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    (ca.not_before, ca.not_after) = (now - Span::days(2), now + Span::days(1));
    let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
    let issuer = Issuer::new(ca, ca_key);
    let server = |not_before: OffsetDateTime, not_after: OffsetDateTime| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (params.not_before, params.not_after) = (not_before, not_after);
        ServerCert { cert: params.signed_by(&key, &issuer).unwrap().der().to_vec(), key: key.serialize_der() }
    };
    Tls {
        ca: ca_der,
        current: server(now - Span::hours(1), now + Span::days(1)),
        expired: server(now - Span::days(1) - Span::hours(1), now - Span::days(1)),
    }
});

/// A one-response-per-connection HTTP server that counts connections and keeps every request.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    /// `response` gets the server's own address, so a server can redirect to itself.
    async fn start(ip: &str, tls: bool, response: impl FnOnce(SocketAddr) -> String) -> Server {
        Self::start_with(ip, tls.then(|| acceptor(&TLS.current)), response).await
    }

    async fn start_with(
        ip: &str,
        acceptor: Option<TlsAcceptor>,
        response: impl FnOnce(SocketAddr) -> String,
    ) -> Server {
        let listener = TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let response = response(addr);
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (counter, log) = (Arc::clone(&accepted), Arc::clone(&requests));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let (response, log, acceptor) = (response.clone(), Arc::clone(&log), acceptor.clone());
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, &response, &log).await;
                            }
                        }
                        None => serve(stream, &response, &log).await,
                    }
                });
            }
        });
        Server { addr, accepted, requests }
    }

    async fn ok(ip: &str) -> Server {
        Server::start(ip, false, |_| "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()).await
    }

    async fn redirect(ip: &str, status: &str, location: &str) -> Server {
        let (status, location) = (status.to_string(), location.to_string());
        Server::start(ip, false, move |_| redirect_to(&status, &location)).await
    }

    /// Connections accepted so far, after giving a stray one time to land.
    async fn accepted(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.accepted.load(Ordering::SeqCst)
    }

    fn request(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.requests.lock().unwrap()[i]).into_owned()
    }
}

/// Reads the head and `content-length` bytes of body, keeps them, answers `response`.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: &str, log: &Mutex<Vec<Vec<u8>>>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if raw.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    log.lock().unwrap().push(raw);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn acceptor(server: &ServerCert) -> TlsAcceptor {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server.cert.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key.clone())),
        )
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

fn redirect_to(status: &str, location: &str) -> String {
    format!("HTTP/1.1 {status}\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn settings(policy: EgressPolicy) -> ClientSettings {
    ClientSettings {
        policy,
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(10),
        max_response_body_bytes: 1024,
        follow_redirects: true,
        extra_root_certificates: Vec::new(),
        pool: PoolSettings::default(),
    }
}

async fn send(policy: EgressPolicy, method: &str, url: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Exchange {
    send_with(Client::new(settings(policy)).unwrap(), method, url, headers, body).await
}

async fn send_with(client: Client, method: &str, url: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Exchange {
    let url = Url::parse(url).unwrap();
    client.send(&Request { method, url: &url, headers, body }).await
}

fn assert_refused(ex: &Exchange, what: &str) {
    let failure = ex.failure.as_ref().unwrap_or_else(|| panic!("expected a refusal, got {ex:?}"));
    assert_eq!(failure.kind, FailureKind::Refused, "{failure:?}");
    assert!(failure.message.contains(what), "{}", failure.message);
}

#[tokio::test]
async fn the_request_goes_out_exactly_as_given() {
    let server = Server::ok("127.0.0.1").await;
    let headers: &[(&str, &[u8])] = &[
        ("X-A", b"1"),
        ("X-B", b"2"),
        ("x-a", b"3"),
        ("X-GitHub-Event", b"push"),
        ("X-Obs", b"caf\xe9"),
        ("X-E", b""),
    ];
    let ex =
        send(EgressPolicy::laptop(), "POST", &format!("http://{}/p?q=1", server.addr), headers, b"\x00{}\xff").await;
    assert_eq!((ex.status, ex.failure), (Some(200), None));
    assert_eq!(&ex.body[..], b"ok");
    let raw = server.requests.lock().unwrap()[0].clone();
    let expected = [
        format!("POST /p?q=1 HTTP/1.1\r\nHost: {}\r\n", server.addr).into_bytes(),
        b"X-A: 1\r\nX-B: 2\r\nx-a: 3\r\nX-GitHub-Event: push\r\nX-Obs: caf\xe9\r\nX-E:\r\nContent-Length: 4\r\n\r\n\x00{}\xff"
            .to_vec(),
    ]
    .concat();
    assert_eq!(raw, expected, "{}", String::from_utf8_lossy(&raw));
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_in_cluster_mode_without_connecting() {
    let server = Server::ok("127.0.0.1").await;
    let url = format!("http://localhost:{}/hook", server.addr.port());
    let ex = send(EgressPolicy::cluster(), "POST", &url, &[], b"{}").await;
    assert_refused(&ex, "refused to connect to localhost (127.0.0.1): it is a loopback address");
    assert_eq!(server.accepted().await, 0, "the refused target must not be connected to");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_allowed_on_a_laptop() {
    let server = Server::ok("127.0.0.1").await;
    let url = format!("http://localhost:{}/hook", server.addr.port());
    let ex = send(EgressPolicy::laptop(), "POST", &url, &[], b"{}").await;
    assert_eq!((ex.status, &ex.body[..], ex.failure), (Some(200), &b"ok"[..], None));
    assert_eq!(server.accepted().await, 1);
    assert!(server.request(0).contains(&format!("\r\nHost: localhost:{}\r\n", server.addr.port())));
}

#[tokio::test]
async fn resolve_allowed_keeps_only_what_the_policy_allows() {
    let err = resolve_allowed(&EgressPolicy::cluster(), "localhost", 80).await.unwrap_err();
    assert!(err.is_refusal(), "{err}");
    let addrs = resolve_allowed(&EgressPolicy::laptop(), "localhost", 81).await.unwrap();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 81), "{addrs:?}");
}

#[tokio::test]
async fn a_failed_lookup_is_a_connect_failure_not_a_refusal() {
    // `.invalid` never resolves (RFC 2606), with or without network access.
    let ex = send(EgressPolicy::laptop(), "GET", "http://no-such-host.invalid:9/", &[], b"").await;
    let failure = ex.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Connect, "{failure:?}");
    assert!(failure.message.contains("no-such-host.invalid"), "{}", failure.message);
}

/// Allows the first hop's server (127.0.0.1) and nothing else local.
fn first_hop_only() -> EgressPolicy {
    EgressPolicy::cluster().allow_networks(["127.0.0.1/32"]).unwrap()
}

#[tokio::test]
async fn a_redirect_to_another_loopback_address_is_refused_without_connecting() {
    let other = Server::ok("127.0.0.2").await;
    let first = Server::redirect("127.0.0.1", "302 Found", &format!("http://127.0.0.2:{}/", other.addr.port())).await;
    let ex = send(first_hop_only(), "GET", &format!("http://{}/", first.addr), &[], b"").await;
    assert_refused(&ex, &format!("127.0.0.1:{} redirected here: refused to connect to 127.0.0.2", first.addr.port()));
    assert_eq!(ex.status, Some(302), "the redirect that was refused is what came back");
    assert_eq!(first.accepted().await, 1);
    assert_eq!(other.accepted().await, 0, "the redirect target must not be connected to");
}

#[tokio::test]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let first =
        Server::redirect("127.0.0.1", "307 Temporary Redirect", "http://169.254.169.254/latest/meta-data/").await;
    let ex = send(first_hop_only(), "GET", &format!("http://{}/", first.addr), &[], b"").await;
    assert_refused(&ex, "cloud metadata address");
}

#[tokio::test]
async fn a_redirect_to_a_name_resolving_to_loopback_is_refused_at_connect_time() {
    // The first hop, 127.0.0.2, is allowed; localhost (127.0.0.1) is not. The URL check passes
    // any name, so it is the lookup at connect time that must refuse this one.
    let other = Server::ok("127.0.0.1").await;
    let first = Server::redirect("127.0.0.2", "302 Found", &format!("http://localhost:{}/", other.addr.port())).await;
    let policy = EgressPolicy::cluster().allow_networks(["127.0.0.2/32"]).unwrap();
    let ex = send(policy, "GET", &format!("http://{}/", first.addr), &[], b"").await;
    assert_refused(&ex, "refused to connect to localhost (127.0.0.1)");
    assert_eq!(first.accepted().await, 1);
    assert_eq!(other.accepted().await, 0);
}

#[tokio::test]
async fn a_redirect_to_another_scheme_is_refused() {
    for location in ["file:///etc/passwd", "ftp://files.example.com/hook"] {
        let first = Server::redirect("127.0.0.1", "302 Found", location).await;
        let ex = send(first_hop_only(), "GET", &format!("http://{}/", first.addr), &[], b"").await;
        let scheme = location.split(':').next().unwrap();
        assert_refused(&ex, &format!("only http and https URLs can be replayed, not {scheme}"));
    }
}

#[tokio::test]
async fn redirects_keep_or_drop_the_body_as_browsers_do() {
    // 307 and 308 resend the same request; 303 (and 301/302 after a POST) turn it into a GET
    // without the body and what described it. Credentials stay on the same origin only.
    let cases = [
        ("307 Temporary Redirect", "POST", true),
        ("308 Permanent Redirect", "PUT", true),
        ("303 See Other", "PUT", false),
        ("302 Found", "POST", false),
        ("301 Moved Permanently", "POST", false),
    ];
    for (status, method, keeps_body) in cases {
        let target = Server::ok("127.0.0.1").await;
        let first =
            Server::redirect("127.0.0.1", status, &format!("http://127.0.0.1:{}/moved", target.addr.port())).await;
        let headers: &[(&str, &[u8])] =
            &[("Content-Type", b"application/json"), ("Authorization", b"Bearer t"), ("X-Keep", b"1")];
        let ex = send(first_hop_only(), method, &format!("http://{}/", first.addr), headers, b"{\"a\":1}").await;
        assert_eq!((ex.status, ex.failure), (Some(200), None), "{status}");
        let got = target.request(0);
        let line = got.lines().next().unwrap();
        if keeps_body {
            assert_eq!(line, format!("{method} /moved HTTP/1.1"));
            assert!(got.ends_with("\r\n\r\n{\"a\":1}") && got.contains("Content-Type: application/json"), "{got}");
        } else {
            assert_eq!(line, "GET /moved HTTP/1.1", "{status}");
            assert!(got.ends_with("X-Keep: 1\r\n\r\n") && !got.contains("Content-"), "{status}: {got}");
        }
        // Another port is another origin.
        assert!(!got.contains("Authorization"), "{status}: {got}");
    }
}

#[tokio::test]
async fn redirects_are_answers_when_not_followed() {
    let first = Server::redirect("127.0.0.1", "302 Found", "http://127.0.0.1:1/").await;
    let client = Client::new(ClientSettings { follow_redirects: false, ..settings(first_hop_only()) }).unwrap();
    let ex = send_with(client, "GET", &format!("http://{}/", first.addr), &[], b"").await;
    assert_eq!((ex.status, ex.failure), (Some(302), None));
}

#[tokio::test]
async fn redirects_beyond_the_limit_fail() {
    let looping =
        Server::start("127.0.0.1", false, |addr| redirect_to("302 Found", &format!("http://{addr}/again"))).await;
    let ex = send(first_hop_only(), "GET", &format!("http://{}/", looping.addr), &[], b"").await;
    let failure = ex.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::TooManyRedirects);
    assert_eq!(failure.message, format!("stopped after 5 redirects; the last was from {}", looping.addr));
    assert_eq!(looping.accepted().await, 6, "the first request and five redirects");
}

#[tokio::test]
async fn https_with_a_trusted_certificate_works_and_an_unknown_one_is_a_tls_failure() {
    let server =
        Server::start("127.0.0.1", true, |_| "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure".into()).await;
    let trusting = Client::new(ClientSettings {
        extra_root_certificates: vec![TLS.ca.clone()],
        ..settings(EgressPolicy::laptop())
    })
    .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/tls", server.addr.port());
        let ex = send_with(trusting.clone(), "POST", &url, &[("X-Case", b"Kept")], b"{}").await;
        assert_eq!((ex.status, &ex.body[..], ex.failure), (Some(200), &b"secure"[..], None), "{host}");
    }
    assert!(server.request(0).starts_with("POST /tls HTTP/1.1\r\nHost: 127.0.0.1:"), "{}", server.request(0));
    assert!(server.request(0).contains("\r\nX-Case: Kept\r\n"));

    let ex =
        send(EgressPolicy::laptop(), "POST", &format!("https://localhost:{}/", server.addr.port()), &[], b"").await;
    let failure = ex.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Tls, "{failure:?}");
    assert!(
        failure.message.starts_with(&format!("the TLS handshake with localhost:{} failed: ", server.addr.port())),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("UnknownIssuer"), "{}", failure.message);
}

#[tokio::test]
async fn an_expired_certificate_from_a_trusted_ca_is_a_tls_failure() {
    let response = |_| "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned();
    let server = Server::start_with("127.0.0.1", Some(acceptor(&TLS.expired)), response).await;
    let trusting = Client::new(ClientSettings {
        extra_root_certificates: vec![TLS.ca.clone()],
        ..settings(EgressPolicy::laptop())
    })
    .unwrap();
    let ex = send_with(trusting, "POST", &format!("https://localhost:{}/", server.addr.port()), &[], b"{}").await;
    let failure = ex.failure.expect("an expired certificate is refused");
    assert_eq!((failure.kind, ex.status), (FailureKind::Tls, None), "{failure:?}");
    assert!(failure.message.to_lowercase().contains("expired"), "{}", failure.message);
    assert_eq!(server.requests.lock().unwrap().len(), 0, "nothing was sent over the refused connection");
}

#[tokio::test]
async fn a_chunked_answer_is_decoded_and_cut_at_the_limit() {
    let body = "x".repeat(3000);
    let chunked =
        format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let server = Server::start("127.0.0.1", false, move |_| chunked).await;
    let ex = send(EgressPolicy::laptop(), "GET", &format!("http://{}/", server.addr), &[], b"").await;
    assert_eq!((ex.status, ex.body.len(), ex.truncated, ex.failure), (Some(200), 1024, true, None));
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_a_protocol_failure() {
    let server = Server::start("127.0.0.1", false, |_| "SSH-2.0-OpenSSH_9.2\r\n\r\n".into()).await;
    let ex = send(EgressPolicy::laptop(), "GET", &format!("http://{}/", server.addr), &[], b"").await;
    let failure = ex.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Protocol);
    assert!(
        failure
            .message
            .starts_with(&format!("{} did not answer in HTTP/1.1: it sent an invalid response head", server.addr)),
        "{}",
        failure.message
    );
}

/// A keep-alive server: answers every request on a connection with `answer(n)` (`n` counting all
/// requests it got), closes a connection whose answer says `connection: close`, and closes an
/// idle one after `idle`.
struct KeepAlive {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl KeepAlive {
    async fn start(idle: Duration, answer: impl Fn(usize) -> String + Send + Sync + 'static) -> KeepAlive {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (counter, log, answer) = (Arc::clone(&accepted), Arc::clone(&requests), Arc::new(answer));
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match tokio::time::timeout(idle, stream.read(&mut buf)).await {
                                Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
                                _ => return,
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if raw.len() < end + 4 + length {
                            match stream.read(&mut buf).await {
                                Ok(n) if n > 0 => raw.extend_from_slice(&buf[..n]),
                                _ => return,
                            }
                            continue;
                        }
                        let request: Vec<u8> = raw.drain(..end + 4 + length).collect();
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(request);
                            log.len() - 1
                        };
                        let response = answer(n);
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                        if response.to_ascii_lowercase().contains("connection: close") {
                            let _ = stream.shutdown().await;
                            return;
                        }
                    }
                });
            }
        });
        KeepAlive { addr, accepted, requests }
    }

    fn request(&self, i: usize) -> Vec<u8> {
        self.requests.lock().unwrap()[i].clone()
    }
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test]
async fn sequential_requests_share_one_connection_and_go_out_byte_exact_on_it() {
    let server = KeepAlive::start(Duration::from_secs(30), |_| OK.to_string()).await;
    let client = Client::new(settings(EgressPolicy::laptop())).unwrap();
    let headers: &[(&str, &[u8])] = &[("X-A", b"1"), ("x-B", b"2"), ("X-a", b"3"), ("X-Obs", b"caf\xe9")];
    let url = format!("http://{}/p?q=1", server.addr);
    for i in 0..5 {
        let ex = send_with(client.clone(), "POST", &url, headers, format!("body {i}").as_bytes()).await;
        assert_eq!((ex.status, &ex.body[..], ex.failure), (Some(200), &b"ok"[..], None), "request {i}");
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1, "one connection for five sequential requests");
    for i in 0..5 {
        let expected = [
            format!("POST /p?q=1 HTTP/1.1\r\nHost: {}\r\n", server.addr).into_bytes(),
            b"X-A: 1\r\nx-B: 2\r\nX-a: 3\r\nX-Obs: caf".to_vec(),
            b"\xe9\r\nContent-Length: 6\r\n\r\n".to_vec(),
            format!("body {i}").into_bytes(),
        ]
        .concat();
        let raw = server.request(i);
        assert_eq!(raw, expected, "request {i} on the kept connection: {}", String::from_utf8_lossy(&raw));
    }
}

#[tokio::test]
async fn connections_that_cannot_carry_another_answer_are_not_reused() {
    // `connection: close`, an answer read until the connection ends, and one cut at the body
    // limit (1 KiB in these settings): each leaves a connection that cannot be reused.
    let big = "x".repeat(2048);
    for answer in [
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string(),
        "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok".to_string(),
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{big}", big.len()),
    ] {
        let server = KeepAlive::start(Duration::from_secs(30), move |_| answer.clone()).await;
        let client = Client::new(settings(EgressPolicy::laptop())).unwrap();
        let url = format!("http://{}/", server.addr);
        for _ in 0..3 {
            let ex = send_with(client.clone(), "POST", &url, &[], b"{}").await;
            assert_eq!((ex.status, ex.failure), (Some(200), None));
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 3, "{:?}", String::from_utf8_lossy(&server.request(0)));
    }
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced_without_a_failure() {
    // The server closes idle connections after 50 ms; the client still holds its end.
    let server = KeepAlive::start(Duration::from_millis(50), |_| OK.to_string()).await;
    let client = Client::new(settings(EgressPolicy::laptop())).unwrap();
    let url = format!("http://{}/", server.addr);
    let ex = send_with(client.clone(), "POST", &url, &[], b"{}").await;
    assert_eq!((ex.status, ex.failure), (Some(200), None));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ex = send_with(client.clone(), "POST", &url, &[], b"{}").await;
    assert_eq!((ex.status, ex.failure), (Some(200), None));
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(server.requests.lock().unwrap().len(), 2, "the request went out once on the new connection");
}

#[tokio::test]
async fn reuse_can_be_turned_off() {
    let server = KeepAlive::start(Duration::from_secs(30), |_| OK.to_string()).await;
    let off = PoolSettings { max_idle_per_target: 0, ..PoolSettings::default() };
    let client = Client::new(ClientSettings { pool: off, ..settings(EgressPolicy::laptop()) }).unwrap();
    let url = format!("http://{}/", server.addr);
    for _ in 0..3 {
        assert_eq!(send_with(client.clone(), "POST", &url, &[], b"{}").await.failure, None);
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
}
