//! Real attempts against receivers on 127.0.0.1 that misbehave in the ways targets do: fail a few
//! times, hang, answer 5xx, reset the connection, answer too much, or are not there at all. The
//! receivers are raw TCP servers, so the tests see the exact bytes that went over the wire.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookmetry_core::{AttemptError, CaptureId, CapturedRequest, DeliveryId, EndpointId, Header, TeamId, Timestamp};
use hookmetry_egress::EgressPolicy;
use hookmetry_egress::Url;
use hookmetry_replay::{RetrySchedule, Sender, SenderSettings, outgoing_request};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP server on 127.0.0.1 that hands each connection to `handler` with its 0-based number,
/// after reading one full request from it when `read_request` is set.
struct Receiver {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    async fn start<F, Fut>(read_request: bool, handler: F) -> Receiver
    where
        F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log, handler) = (Arc::clone(&accepted), Arc::clone(&requests), Arc::new(handler));
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
                tokio::spawn(async move {
                    if read_request {
                        let Some(raw) = read_full_request(&mut stream).await else { return };
                        log.lock().unwrap().push(raw);
                    }
                    handler(n, stream).await;
                });
            }
        });
        Receiver { addr, accepted, requests }
    }

    /// Answers `status` with `body` to every request.
    async fn answering(status: &'static str, body: &'static [u8]) -> Receiver {
        Receiver::start(true, move |_, stream| respond(stream, status, body)).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far, after giving a stray one time to land.
    async fn accepted(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.accepted.load(Ordering::SeqCst)
    }

    fn request(&self, i: usize) -> RawRequest {
        RawRequest::parse(&self.requests.lock().unwrap()[i])
    }
}

/// Reads a request head and as much body as its `content-length` says.
async fn read_full_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let length = RawRequest::parse_head(&raw[..end])
                .1
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| std::str::from_utf8(v).unwrap().trim().parse::<usize>().unwrap());
            if raw.len() >= end + 4 + length {
                return Some(raw);
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

async fn respond(mut stream: TcpStream, status: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\nx-receiver: raw\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// Closes with a TCP RST instead of a FIN.
fn reset(stream: TcpStream) {
    stream.set_zero_linger().unwrap();
    drop(stream);
}

/// A request as the receiver got it, header names as sent.
struct RawRequest {
    request_line: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl RawRequest {
    fn parse_head(head: &[u8]) -> (String, Vec<(String, Vec<u8>)>) {
        let mut lines = head.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = String::from_utf8(lines.next().unwrap().to_vec()).unwrap();
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let colon = l.iter().position(|b| *b == b':').unwrap();
                (String::from_utf8(l[..colon].to_vec()).unwrap(), l[colon + 1..].trim_ascii().to_vec())
            })
            .collect();
        (request_line, headers)
    }

    fn parse(raw: &[u8]) -> RawRequest {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let (request_line, headers) = RawRequest::parse_head(&raw[..end]);
        RawRequest { request_line, headers, body: raw[end + 4..].to_vec() }
    }
}

fn settings(policy: EgressPolicy, total_timeout: Duration, max_body: usize) -> SenderSettings {
    SenderSettings { policy, connect_timeout: Duration::from_secs(2), total_timeout, max_response_body_bytes: max_body }
}

fn laptop_sender() -> Sender {
    Sender::new(settings(EgressPolicy::laptop(), Duration::from_secs(10), 64 * 1024)).unwrap()
}

fn capture(method: &str, path: &str, query: Option<&str>, headers: &[(&str, &[u8])], body: &[u8]) -> CapturedRequest {
    CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: EndpointId::new(),
        team_id: TeamId::new(),
        method: method.into(),
        path: path.into(),
        query: query.map(Into::into),
        headers: headers.iter().map(|(n, v)| Header::new(*n, Bytes::copy_from_slice(v))).collect(),
        body: Bytes::copy_from_slice(body),
        body_sha256: Sha256::digest(body).into(),
        remote_addr: "203.0.113.9".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::now(),
        answered: None,
    }
}

fn json_capture() -> CapturedRequest {
    capture("POST", "/", None, &[("Content-Type", b"application/json")], b"{\"id\":1}")
}

fn target(url: &str) -> Url {
    Url::parse(url).unwrap()
}

/// A receiver whose first `failures` requests get a 503 and the rest a 200.
async fn failing_then_ok(failures: usize) -> Receiver {
    Receiver::start(true, move |n, stream| async move {
        if n < failures {
            respond(stream, "503 Service Unavailable", b"try later").await
        } else {
            respond(stream, "200 OK", b"ok").await
        }
    })
    .await
}

#[tokio::test]
async fn a_receiver_failing_three_times_then_answering_200() {
    let receiver = failing_then_ok(3).await;
    let sender = laptop_sender();
    let req = outgoing_request(&json_capture(), &target(&receiver.url("/hook")));
    let delivery = DeliveryId::new();
    for number in 1..=3 {
        let a = sender.attempt(delivery, number, &req).await;
        assert_eq!((a.delivery_id, a.number), (delivery, number));
        assert_eq!(a.error, Some(AttemptError::Status), "{a:?}");
        assert_eq!(a.response_status, Some(503));
        assert_eq!(a.error_message.as_deref(), Some(&*format!("{} answered 503 Service Unavailable", receiver.addr)));
        assert_eq!(&a.response_body[..], b"try later");
        assert!(!a.succeeded());
    }
    let a = sender.attempt(delivery, 4, &req).await;
    assert!(a.succeeded(), "{a:?}");
    assert_eq!((a.response_status, a.error_message.as_deref()), (Some(200), None));
    assert_eq!(&a.response_body[..], b"ok");
    assert!(a.started_at.micros() > 0);
    assert_eq!(receiver.requests.lock().unwrap().len(), 4);
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Succeeded { attempts: u32 },
    DeadLettered { attempts: u32 },
}

/// The worker's loop in miniature: attempt, and on failure wait as long as the schedule says.
async fn deliver(sender: &Sender, url: &str, schedule: &RetrySchedule) -> Outcome {
    let req = outgoing_request(&json_capture(), &target(url));
    let delivery = DeliveryId::new();
    let mut rng = StdRng::seed_from_u64(9);
    let mut made = 0;
    loop {
        let a = sender.attempt(delivery, made + 1, &req).await;
        made += 1;
        if a.succeeded() {
            return Outcome::Succeeded { attempts: made };
        }
        assert!(a.error.unwrap().is_retryable());
        let now = Timestamp::now();
        let Some(due) = schedule.next_attempt_at(now, made, &mut rng) else {
            return Outcome::DeadLettered { attempts: made };
        };
        let wait = Duration::from_micros((due.micros() - now.micros()) as u64);
        assert!(wait <= schedule.bound(made));
        tokio::time::sleep(wait).await;
    }
}

#[tokio::test]
async fn the_schedule_dead_letters_when_the_receiver_fails_every_attempt() {
    let schedule =
        RetrySchedule { initial: Duration::from_millis(10), max_delay: Duration::from_millis(40), max_attempts: 3 };
    schedule.validate().unwrap();
    let sender = laptop_sender();

    let receiver = failing_then_ok(3).await;
    assert_eq!(deliver(&sender, &receiver.url("/"), &schedule).await, Outcome::DeadLettered { attempts: 3 });
    assert_eq!(receiver.requests.lock().unwrap().len(), 3);

    let receiver = failing_then_ok(5).await;
    assert_eq!(deliver(&sender, &receiver.url("/"), &schedule).await, Outcome::DeadLettered { attempts: 3 });
    assert_eq!(receiver.requests.lock().unwrap().len(), 3, "no attempt after the last one");

    let receiver = failing_then_ok(2).await;
    assert_eq!(deliver(&sender, &receiver.url("/"), &schedule).await, Outcome::Succeeded { attempts: 3 });
}

#[tokio::test]
async fn a_receiver_hanging_past_the_total_timeout_is_a_timeout() {
    let receiver = Receiver::start(true, |_, stream| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(stream);
    })
    .await;
    let timeout = Duration::from_millis(500);
    let sender = Sender::new(settings(EgressPolicy::laptop(), timeout, 1024)).unwrap();
    let req = outgoing_request(&json_capture(), &target(&receiver.url("/")));
    let start = Instant::now();
    let a = sender.attempt(DeliveryId::new(), 1, &req).await;
    let elapsed = start.elapsed();
    assert_eq!(a.error, Some(AttemptError::Timeout), "{a:?}");
    assert_eq!(
        a.error_message.as_deref(),
        Some(&*format!("{} did not answer within the 500ms total timeout", receiver.addr))
    );
    assert_eq!(a.response_status, None);
    assert!(elapsed >= timeout && elapsed < timeout + Duration::from_millis(1500), "took {elapsed:?}");
    assert!(a.latency_ms >= 500 && a.latency_ms < 2000, "{}", a.latency_ms);
    // The request did arrive: a timeout says nothing about whether the receiver processed it.
    assert_eq!(receiver.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_body_stalling_past_the_total_timeout_is_a_timeout_with_its_status() {
    let receiver = Receiver::start(true, |_, mut stream| async move {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst ten.").await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let sender = Sender::new(settings(EgressPolicy::laptop(), Duration::from_millis(500), 1024)).unwrap();
    let a = sender.attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/")))).await;
    assert_eq!(a.error, Some(AttemptError::Timeout), "{a:?}");
    assert_eq!(a.response_status, Some(200));
    assert_eq!(&a.response_body[..], b"first ten.");
    assert!(a.error_message.unwrap().contains("did not finish its answer within the 500ms total timeout"));
}

#[tokio::test]
async fn a_500_answer_is_a_status_failure_with_its_headers_and_body() {
    let receiver = Receiver::answering("500 Internal Server Error", b"boom: database is down").await;
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/"))))
        .await;
    assert_eq!(a.error, Some(AttemptError::Status));
    assert_eq!(a.response_status, Some(500));
    assert_eq!(a.error_message.as_deref(), Some(&*format!("{} answered 500 Internal Server Error", receiver.addr)));
    assert_eq!(&a.response_body[..], b"boom: database is down");
    assert!(!a.response_truncated);
    let headers: Vec<(&str, &[u8])> = a.response_headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
    assert_eq!(
        headers,
        [
            ("content-type", &b"text/plain"[..]),
            ("x-receiver", b"raw"),
            ("content-length", b"22"),
            ("connection", b"close")
        ]
    );
}

#[tokio::test]
async fn an_unknown_status_is_named_by_its_code() {
    let receiver = Receiver::answering("599 Whatever", b"").await;
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/"))))
        .await;
    assert_eq!(a.error, Some(AttemptError::Status));
    assert_eq!(a.error_message.as_deref(), Some(&*format!("{} answered 599", receiver.addr)));
}

#[tokio::test]
async fn a_connection_reset_after_the_request_is_a_reset() {
    let receiver = Receiver::start(true, |_, stream| async move { reset(stream) }).await;
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/"))))
        .await;
    assert_eq!(a.error, Some(AttemptError::Reset), "{a:?}");
    let message = a.error_message.unwrap();
    assert!(message.starts_with(&format!("the connection to {} broke before it answered: ", receiver.addr)));
    assert!(message.contains("reset"), "{message}");
    assert_eq!(a.response_status, None);
}

#[tokio::test]
async fn a_connection_reset_on_accept_is_a_reset() {
    // The kernel completes the TCP handshake before `accept`, so the client is connected when
    // the RST comes, whether it arrives before or after the request is written: never Connect.
    let receiver = Receiver::start(false, |_, stream| async move { reset(stream) }).await;
    let sender = laptop_sender();
    let req = outgoing_request(&json_capture(), &target(&receiver.url("/")));
    for number in 1..=5 {
        let a = sender.attempt(DeliveryId::new(), number, &req).await;
        assert_eq!(a.error, Some(AttemptError::Reset), "{a:?}");
    }
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_a_reset() {
    let receiver = Receiver::start(true, |_, stream| async move { drop(stream) }).await;
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/"))))
        .await;
    assert_eq!(a.error, Some(AttemptError::Reset), "{a:?}");
    assert_eq!(
        a.error_message.as_deref(),
        Some(&*format!("the connection to {} broke before it answered: it closed without an answer", receiver.addr))
    );
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_a_reset_with_its_status() {
    let receiver = Receiver::start(true, |_, mut stream| async move {
        stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial").await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        reset(stream);
    })
    .await;
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/"))))
        .await;
    assert_eq!(a.error, Some(AttemptError::Reset), "{a:?}");
    assert_eq!(a.response_status, Some(200));
    assert_eq!(&a.response_body[..], b"partial");
    assert!(a.error_message.unwrap().contains("broke while it was answering"));
}

#[tokio::test]
async fn nothing_listening_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&format!("http://{addr}/"))))
        .await;
    assert_eq!(a.error, Some(AttemptError::Connect), "{a:?}");
    let message = a.error_message.unwrap();
    assert!(message.starts_with(&format!("could not connect to {addr}: ")), "{message}");
    assert!(message.to_lowercase().contains("connection refused"), "{message}");
    assert!(a.latency_ms < 2000);
}

#[tokio::test]
async fn the_cluster_policy_refuses_loopback_without_connecting() {
    let receiver = Receiver::answering("200 OK", b"ok").await;
    let sender = Sender::new(settings(EgressPolicy::cluster(), Duration::from_secs(5), 1024)).unwrap();
    // An IP literal is caught by check_url, a name by the guarded resolver.
    for url in [receiver.url("/"), format!("http://localhost:{}/", receiver.addr.port())] {
        let a = sender.attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&url))).await;
        assert_eq!(a.error, Some(AttemptError::Refused), "{url}: {a:?}");
        assert!(!a.error.unwrap().is_retryable());
        let message = a.error_message.unwrap();
        assert!(message.starts_with("refused to connect to "), "{message}");
        assert!(message.contains("loopback address") && message.contains("replay.allow_loopback"), "{message}");
    }
    assert_eq!(receiver.accepted().await, 0);
}

#[tokio::test]
async fn forwarding_is_byte_exact() {
    let body: &[u8] = b"\x00\x01binary \xff\xfe\xfd not utf-8 \r\n\r\n trailing";
    let c = capture(
        "PURGE",
        "/orders/7",
        Some("b=%20x&a=1"),
        &[
            ("Host", b"abc.hooks.example"),
            ("User-Agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
            ("Connection", b"keep-alive, X-Hop"),
            ("Content-Type", b"application/octet-stream"),
            ("X-Hop", b"per-connection"),
            ("Stripe-Signature", b"t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
            ("Transfer-Encoding", b"identity"),
            ("Keep-Alive", b"timeout=5"),
            ("X-Obs-Text", b"caf\xe9 \xc3\xa9"),
            ("Content-Length", b"999"),
            ("Upgrade", b"websocket"),
            ("X-Empty", b""),
            ("Accept", b"application/json"),
        ],
        body,
    );
    let receiver = Receiver::answering("204 No Content", b"").await;
    let req = outgoing_request(&c, &target(&receiver.url("/hook?k=v")));
    assert_eq!(req.body_sha256, c.body_sha256);
    let a = laptop_sender().attempt(DeliveryId::new(), 1, &req).await;
    assert!(a.succeeded(), "{a:?}");
    assert_eq!(a.response_status, Some(204));

    let got = receiver.request(0);
    assert_eq!(got.request_line, "PURGE /hook/orders/7?k=v&b=%20x&a=1 HTTP/1.1");
    assert_eq!(got.body, body);
    let received_sha: [u8; 32] = Sha256::digest(&got.body).into();
    assert_eq!(received_sha, c.body_sha256);
    let host = receiver.addr.to_string();
    let length = body.len().to_string();
    let expected: Vec<(&str, &[u8])> = vec![
        // Set by the client for this target.
        ("Host", host.as_bytes()),
        ("User-Agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        ("Content-Type", b"application/octet-stream"),
        ("Stripe-Signature", b"t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
        ("X-Obs-Text", b"caf\xe9 \xc3\xa9"),
        ("X-Empty", b""),
        ("Accept", b"application/json"),
        // Counts this forward, so a loop through any service ends (docs/security.md).
        ("Hookmetry-Hops", b"1"),
        // Set by the client for this body.
        ("Content-Length", length.as_bytes()),
    ];
    let got_headers: Vec<(&str, &[u8])> = got.headers.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
    assert_eq!(got_headers, expected);
}

#[tokio::test]
async fn on_the_wire_headers_keep_their_order_case_and_repeats_and_only_the_hop_count_is_added() {
    let c = capture(
        "POST",
        "/",
        None,
        &[("X-A", b"1"), ("X-GitHub-Event", b"push"), ("x-a", b"3"), ("X-C", b"4"), ("X-GitHub-Event", b"5")],
        b"{}",
    );
    let receiver = Receiver::answering("200 OK", b"").await;
    let a = laptop_sender().attempt(DeliveryId::new(), 1, &outgoing_request(&c, &target(&receiver.url("/")))).await;
    assert!(a.succeeded(), "{a:?}");
    let raw = receiver.requests.lock().unwrap()[0].clone();
    let expected = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nX-A: 1\r\nX-GitHub-Event: push\r\nx-a: 3\r\nX-C: 4\r\nX-GitHub-Event: 5\r\n\
         Hookmetry-Hops: 1\r\nContent-Length: 2\r\n\r\n{{}}",
        receiver.addr
    );
    assert_eq!(String::from_utf8_lossy(&raw), expected);
}

#[tokio::test]
async fn the_answer_is_recorded_with_its_header_case_order_and_repeats() {
    let receiver = Receiver::start(true, |_, mut stream| async move {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Request-Id: r\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok")
            .await;
        let _ = stream.shutdown().await;
    })
    .await;
    let a = laptop_sender()
        .attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/"))))
        .await;
    assert!(a.succeeded(), "{a:?}");
    let headers: Vec<(&str, &[u8])> = a.response_headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
    assert_eq!(
        headers,
        [("Set-Cookie", &b"a=1"[..]), ("X-Request-Id", b"r"), ("set-cookie", b"b=2"), ("Content-Length", b"2")]
    );
}

#[tokio::test]
async fn a_large_answer_is_cut_at_the_limit() {
    static BIG: std::sync::LazyLock<Vec<u8>> =
        std::sync::LazyLock::new(|| (0..1024 * 1024).map(|i| (i % 251) as u8).collect());
    let receiver = Receiver::start(true, |_, stream| respond(stream, "200 OK", &BIG)).await;
    let sender = Sender::new(settings(EgressPolicy::laptop(), Duration::from_secs(10), 1024)).unwrap();
    let req = outgoing_request(&json_capture(), &target(&receiver.url("/")));
    let a = sender.attempt(DeliveryId::new(), 1, &req).await;
    assert!(a.succeeded(), "{a:?}");
    assert_eq!(a.response_body.len(), 1024);
    assert_eq!(&a.response_body[..], &BIG[..1024]);
    assert!(a.response_truncated);

    // Exactly the limit is not truncated.
    let receiver = Receiver::start(true, |_, stream| respond(stream, "200 OK", &BIG[..1024])).await;
    let a = sender.attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&receiver.url("/")))).await;
    assert_eq!((a.response_body.len(), a.response_truncated), (1024, false));
}

#[tokio::test]
async fn https_to_a_server_without_tls_is_a_tls_failure() {
    let receiver = Receiver::start(false, |_, mut stream| async move {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let url = format!("https://{}/", receiver.addr);
    let a = laptop_sender().attempt(DeliveryId::new(), 1, &outgoing_request(&json_capture(), &target(&url))).await;
    assert_eq!(a.error, Some(AttemptError::Tls), "{a:?}");
    let message = a.error_message.unwrap();
    assert!(message.starts_with(&format!("the TLS handshake with {} failed: ", receiver.addr)), "{message}");
}

#[tokio::test]
async fn an_invalid_header_is_reported_and_nothing_is_sent() {
    let receiver = Receiver::answering("200 OK", b"ok").await;
    let c = capture("POST", "/", None, &[("X-Split", b"a\r\nInjected: 1")], b"");
    let a = laptop_sender().attempt(DeliveryId::new(), 1, &outgoing_request(&c, &target(&receiver.url("/")))).await;
    assert_eq!(a.error, Some(AttemptError::Other));
    assert_eq!(
        a.error_message.as_deref(),
        Some(
            "the value of header `X-Split` contains a line break or another control character, so the request was \
             not sent"
        )
    );
    assert_eq!(receiver.accepted().await, 0);
}

#[test]
fn settings_are_validated_with_the_key_to_fix() {
    let mut s = settings(EgressPolicy::laptop(), Duration::from_secs(30), 1024);
    s.connect_timeout = Duration::ZERO;
    assert_eq!(
        Sender::new(s.clone()).unwrap_err().to_string(),
        "replay.connect_timeout: must be more than 0s, such as 5s"
    );
    s.connect_timeout = Duration::from_secs(5);
    s.total_timeout = Duration::ZERO;
    assert!(Sender::new(s.clone()).unwrap_err().to_string().starts_with("replay.total_timeout: "));
}
