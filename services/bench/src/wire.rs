//! A lean HTTP/1.1 load client: one keep-alive TCP connection, a request prepared once as bytes,
//! and only the status line and `Content-Length` of each answer read. It costs the load
//! generator little CPU, as `wrk` does, so that on a small machine the servers being compared,
//! not the client, decide the numbers (a general-purpose client took about as much CPU per
//! request as the bare handler it was measuring).

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Most header lines read from an answer.
const MAX_HEADERS: usize = 64;

/// One connection that sends the same `POST` again and again.
pub(crate) struct Connection {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Connection {
    /// Connects to `url`'s host and prepares a `POST` of `body` to its path (and query).
    pub(crate) async fn open(url: &str, body: &[u8]) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(url).with_context(|| format!("load URL {url}"))?;
        if url.scheme() != "http" {
            bail!("the load client speaks plain http only, not {}", url.scheme());
        }
        let host = url.host_str().context("load URL without a host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let stream = TcpStream::connect((host, port)).await.with_context(|| format!("connect {host}:{port}"))?;
        stream.set_nodelay(true)?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut request = format!(
            "POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        Ok(Self { stream, request, buf: Vec::with_capacity(4096) })
    }

    /// Sends the request and reads the whole answer; its status, or an error when the connection
    /// failed or the answer was not HTTP/1.1 with a length.
    pub(crate) async fn send(&mut self) -> anyhow::Result<Answer> {
        self.stream.write_all(&self.request).await?;
        read_answer(&mut self.stream, &mut self.buf).await
    }
}

/// What the load client keeps of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: bool,
}

/// Reads one whole answer from `stream` into `buf` (cleared first).
pub(crate) async fn read_answer<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> anyhow::Result<Answer> {
    buf.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(buf)? {
            let status = response.code.context("answer without a status")?;
            let retry_after = response.headers.iter().any(|h| h.name.eq_ignore_ascii_case("retry-after"));
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                .context("answer without Content-Length")?;
            while buf.len() < head + length {
                read_more(stream, buf).await?;
            }
            // Nothing is pipelined, so the answer ends the buffer.
            return Ok(Answer { status, retry_after });
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.reserve(4096);
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_buf(buf))
        .await
        .context("no answer within 60 s")??;
    if read == 0 {
        bail!("the server closed the connection");
    }
    Ok(())
}
