//! Runs the commands `export::curl_command` builds with the real bash and curl against a raw TCP
//! listener, and checks that the request on the wire is the captured one: the same request line,
//! header lines (name case, order, value bytes) and body bytes, read the way Hookmetry's ingest
//! reads them.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hookmetry_api::export::curl_command;
use hookmetry_core::{CaptureId, CapturedRequest, EndpointId, Header, TeamId, Timestamp};

const TIMEOUT: Duration = Duration::from_secs(20);

fn capture(method: &str, path: &str, query: Option<&str>, headers: &[(&str, &[u8])], body: &[u8]) -> CapturedRequest {
    CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: EndpointId::new(),
        team_id: TeamId::new(),
        method: method.into(),
        path: path.into(),
        query: query.map(String::from),
        headers: headers.iter().map(|(n, v)| Header::new(*n, v.to_vec())).collect(),
        body: body.to_vec().into(),
        body_sha256: [0; 32],
        remote_addr: "203.0.113.9:41000".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::now(),
        answered: None,
    }
}

/// One request as read off the socket.
#[derive(Debug)]
struct Received {
    request_line: String,
    /// Name as sent; value with the surrounding whitespace an HTTP parser drops.
    headers: Vec<(String, Vec<u8>)>,
    /// De-chunked when sent chunked.
    body: Vec<u8>,
}

/// Buffered reads with the few framing primitives an HTTP/1.1 request needs.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk)? {
            0 => Err(ErrorKind::UnexpectedEof.into()),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    fn line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..end].to_vec();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn read_request(stream: TcpStream) -> std::io::Result<Received> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut conn = Conn { stream, buf: Vec::new() };
    let request_line = String::from_utf8_lossy(&conn.line()?).into_owned();
    let mut headers = Vec::new();
    loop {
        let line = conn.line()?;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').expect("header line has a colon");
        headers.push((String::from_utf8(line[..colon].to_vec()).unwrap(), trim_ows(&line[colon + 1..]).to_vec()));
    }
    let header = |name: &str| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let body = if header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let size_line = String::from_utf8(conn.line()?).unwrap();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                // Trailer section, ended by an empty line.
                while !conn.line()?.is_empty() {}
                break;
            }
            body.extend(conn.exact(size)?);
            assert_eq!(conn.exact(2)?, b"\r\n", "chunk data ends with CRLF");
        }
        body
    } else if let Some(len) = header("content-length") {
        conn.exact(len.trim().parse().unwrap())?
    } else {
        Vec::new()
    };
    conn.stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(Received { request_line, headers, body })
}

/// Runs `curl_command(c)` against a one-shot listener and returns what it sent.
fn replay(c: &CapturedRequest) -> Received {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let result = loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    break stream.set_nonblocking(false).and_then(|()| read_request(stream));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => break Err(e),
            }
        };
        let _ = tx.send(result);
    });

    let query = c.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("http://127.0.0.1:{port}/h/tok{}{query}", c.path);
    let command = curl_command(c, &url);

    let mut bash = Command::new("bash");
    // Linux refuses a single argument over 128 KiB, so a large command goes in through stdin; a
    // terminal paste has no such limit.
    let large = command.len() > 64 * 1024;
    if large {
        bash.arg("-s").stdin(Stdio::piped());
    } else {
        bash.arg("-c").arg(&command).stdin(Stdio::null());
    }
    for var in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        bash.env_remove(var);
    }
    let mut child = bash.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("bash runs");
    if large {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(command.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not finish within {TIMEOUT:?}: {command}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "command failed ({status}): {stderr}\n{command}");

    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(received)) => received,
        Ok(Err(e)) => panic!("reading the request failed: {e}\n{command}"),
        Err(e) => panic!("no request arrived: {e}\n{command}"),
    }
}

fn expected_request_line(c: &CapturedRequest) -> String {
    let query = c.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
    format!("{} /h/tok{}{query} HTTP/1.1", c.method, c.path)
}

fn captured_headers(c: &CapturedRequest) -> Vec<(String, Vec<u8>)> {
    c.headers.iter().map(|h| (h.name.clone(), h.value.to_vec())).collect()
}

/// Header lines as readable text, so a failing comparison shows what differs.
fn shown(headers: &[(String, Vec<u8>)]) -> Vec<String> {
    headers.iter().map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v).escape_debug())).collect()
}

/// Replays `c` and checks every part Hookmetry would record.
fn assert_replayed_exactly(c: &CapturedRequest) {
    let got = replay(c);
    assert_eq!(got.request_line, expected_request_line(c));
    assert_eq!(shown(&got.headers), shown(&captured_headers(c)));
    assert_eq!(got.headers, captured_headers(c), "header value bytes");
    assert!(got.body == c.body, "body differs: sent {} bytes, captured {}", got.body.len(), c.body.len());
}

#[test]
fn stripe_like_json_post_is_replayed_exactly() {
    let body = concat!(
        "{\n",
        "  \"id\": \"evt_1QxYz\",\n",
        "  \"object\": \"event\",\n",
        "  \"type\": \"payment_intent.succeeded\",\n",
        "  \"data\": {\"object\": {\"description\": \"O'Brien's order — 100% paid!\", \"note\": \"tab\\there\"}}\n",
        "}\n"
    );
    let length = body.len().to_string();
    let c = capture(
        "POST",
        "/stripe/events",
        None,
        &[
            ("Host", b"hooks.example.com"),
            ("User-Agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
            ("Content-Length", length.as_bytes()),
            ("Accept", b"*/*; q=0.5, application/xml"),
            ("Content-Type", b"application/json; charset=utf-8"),
            ("Stripe-Signature", b"t=1795762508,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
        ],
        body.as_bytes(),
    );
    assert_replayed_exactly(&c);
}

#[test]
fn binary_body_with_every_byte_value_is_replayed_exactly() {
    let body: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let c = capture(
        "POST",
        "/upload",
        Some("kind=raw"),
        &[("Host", b"hooks.example.com"), ("Content-Type", b"application/octet-stream"), ("Content-Length", b"512")],
        &body,
    );
    assert_replayed_exactly(&c);
}

#[test]
fn quoted_and_non_ascii_header_values_are_replayed_exactly() {
    let body = "it's 100% \"text\" with $HOME, `id`, $(id), \\n and !! — ünïcødé\r\n";
    let length = body.len().to_string();
    let c = capture(
        "PUT",
        "/notes",
        None,
        &[
            ("Host", b"hooks.example.com"),
            ("X-Note", "it's \"quoted\" — café ☕ naïve".as_bytes()),
            ("X-Latin1", b"caf\xe9 \xff"),
            ("X-Tab", b"a\tb"),
            ("X-Shell", b"$HOME `id` $(id) \\ !! %s"),
            ("X-Empty", b""),
            ("Content-Type", b"text/plain; charset=utf-8"),
            ("Content-Length", length.as_bytes()),
        ],
        body.as_bytes(),
    );
    assert_replayed_exactly(&c);
}

#[test]
fn get_without_body_or_accept_is_replayed_exactly() {
    let c = capture(
        "GET",
        "/a/../b/./%2e%2E//c",
        Some("ids[]=1&ids[]=2&next=%2Fx%2F&q={y}&&flag"),
        &[("Host", b"hooks.example.com"), ("User-Agent", b"health-checker/2.1")],
        b"",
    );
    assert_replayed_exactly(&c);
}

#[test]
fn head_and_methods_without_or_with_unusual_bodies_are_replayed_exactly() {
    assert_replayed_exactly(&capture("HEAD", "/ping", None, &[("Host", b"h"), ("User-Agent", b"probe")], b""));
    assert_replayed_exactly(&capture("PURGE", "/", Some(""), &[("Host", b"h")], b""));
    assert_replayed_exactly(&capture("POST", "/", None, &[("Host", b"h"), ("Content-Length", b"0")], b""));
    assert_replayed_exactly(&capture("GET", "/", None, &[("Host", b"h"), ("Content-Length", b"2")], b"{}"));
}

#[test]
fn host_after_other_headers_in_lower_case_is_replayed_exactly() {
    let c = capture(
        "POST",
        "/",
        None,
        &[
            ("User-Agent", b"odd-client"),
            ("host", b"hooks.example.com"),
            ("X-Dup", b"1"),
            ("x-dup", b"2"),
            ("X-Dup", b"3"),
            ("Content-Length", b"2"),
        ],
        b"ok",
    );
    assert_replayed_exactly(&c);
}

#[test]
fn chunked_captures_are_replayed_chunked() {
    let headers: &[(&str, &[u8])] =
        &[("Host", b"h"), ("Transfer-Encoding", b"chunked"), ("Content-Type", b"text/plain")];
    assert_replayed_exactly(&capture("POST", "/", None, headers, b"hello\nchunked\0world"));
    assert_replayed_exactly(&capture("POST", "/", None, headers, b""));
}

#[test]
fn body_over_one_mebibyte_is_sent_without_expect() {
    let body: String = (0..40_000).map(|i| format!("{{\"n\":{i:08},\"pad\":\"abc\"}}\n")).collect();
    assert!(body.len() > 1 << 20);
    let length = body.len().to_string();
    let c = capture(
        "POST",
        "/bulk",
        None,
        &[("Host", b"h"), ("Content-Type", b"application/x-ndjson"), ("Content-Length", length.as_bytes())],
        body.as_bytes(),
    );
    assert_replayed_exactly(&c);
}

/// The documented HTTP/2 exception: no `host` line is sent either, and curl appends the
/// `Content-Length` an HTTP/1.1 body needs.
#[test]
fn http2_capture_without_host_or_length_gains_only_content_length() {
    let mut c = capture(
        "POST",
        "/",
        None,
        &[("content-type", b"application/json"), ("user-agent", b"Go-http-client/2.0"), ("accept-encoding", b"gzip")],
        b"{\"a\":1}",
    );
    c.http_version = "HTTP/2.0".into();
    let got = replay(&c);
    assert_eq!(got.request_line, expected_request_line(&c));
    let mut expected = captured_headers(&c);
    expected.push(("Content-Length".into(), b"7".to_vec()));
    assert_eq!(shown(&got.headers), shown(&expected));
    assert_eq!(got.headers, expected);
    assert_eq!(got.body, c.body);
}
