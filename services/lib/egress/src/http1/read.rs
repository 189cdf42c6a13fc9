//! Reading an HTTP/1.x response: the head, then the body by whatever framing the head says.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most a response's status line and headers may take.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most headers a response may have.
pub(crate) const MAX_HEADERS: usize = 128;
/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE_BYTES: usize = 8 * 1024;

/// What went wrong while reading; the caller turns it into a sentence naming the target.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// The connection ended before the message did.
    Closed,
    /// Not HTTP/1.x, or over a limit; the text says which.
    Malformed(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A response head: status, headers as received (names in their case, values as bytes, in order).
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: u16,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub(crate) version: u8,
    pub(crate) headers: Vec<(String, Bytes)>,
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
    }

    /// Whether the server keeps the connection open after this answer (RFC 9112 §9.3): HTTP/1.1
    /// unless it says `Connection: close`, HTTP/1.0 only when it says `keep-alive`.
    pub(crate) fn keep_alive(&self) -> bool {
        let mut close = false;
        let mut keep = false;
        for option in self.values("connection").flat_map(|v| v.split(|b| *b == b',')) {
            let option = String::from_utf8_lossy(option);
            close |= option.trim().eq_ignore_ascii_case("close");
            keep |= option.trim().eq_ignore_ascii_case("keep-alive");
        }
        !close && (self.version >= 1 || keep)
    }

    pub(crate) fn location(&self) -> Option<&str> {
        self.values("location").next().and_then(|v| std::str::from_utf8(v).ok()).map(str::trim)
    }

    /// How the body is delimited (RFC 9112 §6.3).
    pub(crate) fn framing(&self, head_request: bool) -> Result<Framing, ReadError> {
        if head_request || (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(Framing::Empty);
        }
        let codings: Vec<String> = self
            .values("transfer-encoding")
            .flat_map(|v| v.split(|b| *b == b','))
            .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(last) = codings.last() {
            // Transfer-Encoding wins over Content-Length; without chunked last, the body runs to
            // the end of the connection.
            return Ok(if last == "chunked" { Framing::Chunked } else { Framing::UntilClose });
        }
        let mut length: Option<u64> = None;
        for v in self.values("content-length") {
            for part in v.split(|b| *b == b',') {
                let text = std::str::from_utf8(part).unwrap_or("").trim();
                let n: u64 = text
                    .parse()
                    .map_err(|_| ReadError::Malformed(format!("a Content-Length of `{}`", text.escape_debug())))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ReadError::Malformed("two different Content-Length values".into()));
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A connection's read side with what has been read but not used yet.
pub(crate) struct Reader<R> {
    io: R,
    buf: BytesMut,
    /// Bytes read since [`Reader::begin`].
    received: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub(crate) fn new(io: R) -> Self {
        Self { io, buf: BytesMut::with_capacity(8 * 1024), received: 0 }
    }

    /// Starts counting what the next exchange receives.
    pub(crate) fn begin(&mut self) {
        self.received = 0;
    }

    /// Whether anything arrived since [`Reader::begin`].
    pub(crate) fn received_any(&self) -> bool {
        self.received > 0
    }

    /// Bytes read but not used by the message read so far.
    pub(crate) fn leftover(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn io_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// Reads more; `Ok(0)` at the end of the connection.
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(8 * 1024);
        let n = self.io.read_buf(&mut self.buf).await?;
        self.received += n;
        Ok(n)
    }

    /// The next final (non-1xx) response head. Interim responses (`100 Continue`, `103 Early
    /// Hints`) are skipped; `101 Switching Protocols` was never asked for and is an error.
    pub(crate) async fn head(&mut self) -> Result<Head, ReadError> {
        loop {
            let head = self.one_head().await?;
            match head.status {
                101 => return Err(ReadError::Malformed("101 Switching Protocols, which was not asked for".into())),
                100..=199 => continue,
                _ => return Ok(head),
            }
        }
    }

    async fn one_head(&mut self) -> Result<Head, ReadError> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut slots);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = parsed.code.unwrap_or_default();
                    let version = parsed.version.unwrap_or(1);
                    let headers =
                        parsed.headers.iter().map(|h| (h.name.to_string(), Bytes::copy_from_slice(h.value))).collect();
                    self.buf.advance(len);
                    return Ok(Head { status, version, headers });
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ReadError::Malformed(format!("more than {MAX_HEADERS} headers")));
                }
                Err(e) => return Err(ReadError::Malformed(format!("an invalid response head ({e})"))),
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(ReadError::Malformed(format!(
                    "a status line and headers over {} KiB",
                    MAX_HEAD_BYTES / 1024
                )));
            }
            if self.fill().await? == 0 {
                return Err(ReadError::Closed);
            }
        }
    }

    /// Reads the body into `out`, keeping at most `limit` bytes. Stops reading as soon as the
    /// limit is passed (returning `true`): the rest may be large or never end, and such a
    /// connection is not reused.
    pub(crate) async fn body(&mut self, framing: Framing, limit: usize, out: &mut BytesMut) -> Result<bool, ReadError> {
        match framing {
            Framing::Empty => Ok(false),
            Framing::Length(n) => self.exactly(n, limit, out).await,
            Framing::UntilClose => loop {
                let n = self.buf.len();
                if keep(&mut self.buf, n, limit, out) {
                    return Ok(true);
                }
                if self.fill().await? == 0 {
                    return Ok(false);
                }
            },
            Framing::Chunked => loop {
                let line = self.line().await?;
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .map(str::trim)
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                    .ok_or_else(|| {
                        ReadError::Malformed(format!(
                            "an invalid chunk size line `{}`",
                            String::from_utf8_lossy(&line).escape_debug()
                        ))
                    })?;
                if size == 0 {
                    // Trailers, up to the empty line that ends the message.
                    while !self.line().await?.is_empty() {}
                    return Ok(false);
                }
                if self.exactly(size, limit, out).await? {
                    return Ok(true);
                }
                if !self.line().await?.is_empty() {
                    return Err(ReadError::Malformed("a chunk longer than its size".into()));
                }
            },
        }
    }

    async fn exactly(&mut self, mut remaining: u64, limit: usize, out: &mut BytesMut) -> Result<bool, ReadError> {
        while remaining > 0 {
            if self.buf.is_empty() && self.fill().await? == 0 {
                return Err(ReadError::Closed);
            }
            let take = self.buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
            remaining -= take as u64;
            if keep(&mut self.buf, take, limit, out) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One CRLF- (or LF-) terminated line, without its ending.
    async fn line(&mut self) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line = self.buf.split_to(end + 1).to_vec();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(ReadError::Malformed(format!("a chunk line over {} KiB", MAX_LINE_BYTES / 1024)));
            }
            if self.fill().await? == 0 {
                return Err(ReadError::Closed);
            }
        }
    }
}

/// Moves `n` bytes from `buf` to `out`, keeping `out` within `limit`; `true` when bytes had to
/// be dropped for the limit.
fn keep(buf: &mut BytesMut, n: usize, limit: usize, out: &mut BytesMut) -> bool {
    let room = limit.saturating_sub(out.len());
    let chunk = buf.split_to(n);
    if chunk.len() > room {
        out.extend_from_slice(&chunk[..room]);
        return true;
    }
    out.extend_from_slice(&chunk);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(raw: &[u8], head_request: bool, limit: usize) -> Result<(Head, Vec<u8>, bool), ReadError> {
        // One byte per read, so every boundary is crossed mid-buffer at least once.
        let io = tokio_test_io(raw);
        let mut r = Reader::new(io);
        let head = r.head().await?;
        let framing = head.framing(head_request)?;
        let mut out = BytesMut::new();
        let truncated = r.body(framing, limit, &mut out).await?;
        Ok((head, out.to_vec(), truncated))
    }

    /// A reader that hands out one byte at a time.
    fn tokio_test_io(raw: &[u8]) -> impl AsyncRead + Unpin {
        struct Trickle(Vec<u8>, usize);
        impl AsyncRead for Trickle {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                if self.1 < self.0.len() && buf.remaining() > 0 {
                    let b = self.0[self.1];
                    buf.put_slice(&[b]);
                    self.1 += 1;
                }
                std::task::Poll::Ready(Ok(()))
            }
        }
        Trickle(raw.to_vec(), 0)
    }

    #[tokio::test]
    async fn headers_keep_case_order_and_repeats() {
        let (head, body, truncated) =
            read(b"HTTP/1.1 201 Created\r\nX-A: 1\r\nset-cookie: a\r\nX-B: 2\r\nSet-Cookie: b\r\nContent-Length: 2\r\n\r\nok", false, 100)
                .await
                .unwrap();
        assert_eq!(head.status, 201);
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["X-A", "set-cookie", "X-B", "Set-Cookie", "Content-Length"]);
        assert_eq!((body.as_slice(), truncated), (&b"ok"[..], false));
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n";
        let (_, body, truncated) = read(raw, false, 100).await.unwrap();
        assert_eq!((body.as_slice(), truncated), (&b"hello world"[..], false));
    }

    #[tokio::test]
    async fn bodies_are_cut_at_the_limit_whatever_their_framing() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n";
        let close = b"HTTP/1.1 200 OK\r\n\r\n0123456789";
        for raw in [&length[..], chunked, close] {
            let (_, body, truncated) = read(raw, false, 6).await.unwrap();
            assert_eq!((body.as_slice(), truncated), (&b"012345"[..], true), "{}", String::from_utf8_lossy(raw));
            let (_, body, truncated) = read(raw, false, 10).await.unwrap();
            assert_eq!((body.as_slice(), truncated), (&b"0123456789"[..], false));
        }
    }

    #[tokio::test]
    async fn interim_responses_are_skipped_and_head_requests_have_no_body() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let (head, body, _) = read(raw, true, 100).await.unwrap();
        assert_eq!((head.status, body.len()), (200, 0));
        let (head, body, _) = read(b"HTTP/1.1 204 No Content\r\n\r\n", false, 100).await.unwrap();
        assert_eq!((head.status, body.len()), (204, 0));
    }

    #[tokio::test]
    async fn a_short_body_is_closed_early_and_garbage_is_malformed() {
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 100).await,
            Err(ReadError::Closed)
        ));
        assert!(matches!(read(b"HTTP/1.1 200 OK\r\n", false, 100).await, Err(ReadError::Closed)));
        assert!(matches!(read(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", false, 100).await, Err(ReadError::Malformed(_))));
        match read(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", false, 100).await {
            Err(ReadError::Malformed(m)) => assert_eq!(m, "two different Content-Length values"),
            other => panic!("{other:?}"),
        }
        match read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 100).await {
            Err(ReadError::Malformed(m)) => assert_eq!(m, "an invalid chunk size line `zz`"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn keep_alive_is_the_default_of_http_1_1_only() {
        let keep = |raw: &'static [u8]| async move { read(raw, true, 0).await.unwrap().0.keep_alive() };
        assert!(keep(b"HTTP/1.1 200 OK\r\n\r\n").await);
        assert!(!keep(b"HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\n\r\n").await);
        assert!(!keep(b"HTTP/1.0 200 OK\r\n\r\n").await);
        assert!(keep(b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\n").await);
    }

    #[tokio::test]
    async fn too_many_headers_names_the_limit() {
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        match read(&raw, false, 100).await {
            Err(ReadError::Malformed(m)) => assert_eq!(m, "more than 128 headers"),
            other => panic!("{other:?}"),
        }
    }
}
