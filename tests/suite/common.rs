//! Helpers shared by the black-box suites (`crate::common`).
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hookmetry_testkit::TestEndpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes on a new connection and returns the whole response (the request should say
/// `Connection: close`). Raw sockets pin down exactly what went over the wire.
pub async fn raw_http(base_url: &str, request: &[u8]) -> String {
    let addr = base_url.trim_start_matches("http://");
    let s = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    // Written concurrently and write errors ignored: a server may answer (413, 431) and close
    // before it has read everything, which is exactly what some tests check.
    let request = request.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut out)).await.expect("response in time").ok();
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

/// Status code of a raw HTTP/1.1 response.
pub fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {response:?}"))
}

/// Body of a raw HTTP/1.1 response (non-chunked).
pub fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// The capture id from ingest's default JSON answer.
pub fn id_from_body(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    v["id"].as_str().expect("id in answer").to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).expect("base64")
}

pub use hookmetry_testkit::read_request;

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

/// The CLI with only what the arguments say: no HOOKMETRY_* from the environment, profiles in a
/// file of `cwd`'s own (never the user's), and a working directory without a
/// `hookmetry-data/admin-token` to fall back to.
pub fn command(args: &[&str], cwd: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env_remove("HOOKMETRY_URL")
        .env_remove("HOOKMETRY_TOKEN")
        .env_remove("HOOKMETRY_PROFILE")
        .env("HOOKMETRY_PROFILES", cwd.join("profiles.toml"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// One request as a fake receiver read it off the socket.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST /path?query HTTP/1.1`
    pub request_line: String,
    /// Names as sent on the wire, values as bytes, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub at: i64,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// Reads one request whole, head parsed; `None` when the stream ends before the head does.
pub async fn read_received(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let mut headers = Vec::new();
    for line in buf[..head_end].split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|b| *b == b':')?;
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((String::from_utf8_lossy(&line[..colon]).into_owned(), value.to_vec()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    Some(Received { request_line, headers, body, at })
}

/// Sends a capture to `ep` and returns its id.
pub async fn capture(ep: &TestEndpoint, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> String {
    let mut req = reqwest::Client::new().post(format!("{}{path}", ep.url)).body(body.to_vec());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    id_from_body(&resp.text().await.unwrap())
}
