//! Header lines exactly as an HTTP/1 client sent them: original name case and true arrival order,
//! which hyper's `HeaderMap` does not keep (it lower-cases names and groups a repeated name at its
//! first position).
//!
//! The server wraps each connection's reads in [`HeaderTap`], which watches the byte stream with
//! its own small HTTP/1 framing parser and queues every request head it sees. The server then
//! attaches the next queued head to each request hyper dispatches, as [`RawHeaders`]. Ingest uses
//! them only when they agree with hyper's `HeaderMap` (same lines, ignoring name case), so a
//! disagreement — a bug here, an exotic client — falls back to hyper's view instead of
//! recording anything wrong. HTTP/2 connections are left alone (its header names are lower case
//! on the wire anyway).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One request's header lines as sent: name in its original case, value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeaders(pub Vec<(String, Bytes)>);

impl RawHeaders {
    /// Whether these are the same lines as `map` (names compared case-insensitively). Runs on
    /// every capture, so it allocates nothing: the n-th line of a name must be the n-th value
    /// hyper holds for it, and with equal line counts that pairing is one to one.
    pub fn matches(&self, map: &HeaderMap) -> bool {
        if self.0.len() != map.len() {
            return false;
        }
        self.0.iter().enumerate().all(|(i, (name, value))| {
            let nth = self.0[..i].iter().filter(|(earlier, _)| earlier.eq_ignore_ascii_case(name)).count();
            map.get_all(name.as_str()).iter().nth(nth).is_some_and(|v| v.as_bytes() == value.as_ref())
        })
    }
}

/// Request heads seen on one connection, oldest first.
pub type HeadQueue = Arc<Mutex<VecDeque<RawHeaders>>>;

/// Largest request head the scanner buffers; beyond it the scanner gives up (hyper refuses such
/// heads anyway).
const MAX_HEAD_BYTES: usize = 1 << 20;

#[derive(Debug)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    /// HTTP/2, an upgrade, or something this scanner does not follow: stop watching.
    Off,
}

/// Incremental HTTP/1 request framing: finds each request head and skips bodies
/// (`Content-Length` or chunked), so it knows where the next head starts.
#[derive(Debug)]
pub struct HeadScanner {
    state: State,
    buf: Vec<u8>,
    max_headers: usize,
    started: bool,
}

impl HeadScanner {
    pub fn new(max_headers: usize) -> Self {
        Self { state: State::Head, buf: Vec::new(), max_headers: max_headers.max(1), started: false }
    }

    pub fn is_off(&self) -> bool {
        matches!(self.state, State::Off)
    }

    /// Feeds bytes read from the client; returns the request heads completed by them.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<RawHeaders> {
        let mut heads = Vec::new();
        while !data.is_empty() && !self.is_off() {
            match self.state {
                State::Body(rem) => {
                    let n = (rem as usize).min(data.len());
                    data = &data[n..];
                    self.state = if rem == n as u64 { State::Head } else { State::Body(rem - n as u64) };
                }
                State::ChunkData(rem) => {
                    let n = (rem as usize).min(data.len());
                    data = &data[n..];
                    self.state = if rem == n as u64 { State::ChunkDataEnd } else { State::ChunkData(rem - n as u64) };
                }
                _ => {
                    // Line-oriented states work on the buffered bytes.
                    self.buf.extend_from_slice(data);
                    data = &[];
                    self.drain_buffer(&mut heads);
                    if self.buf.len() > MAX_HEAD_BYTES {
                        self.state = State::Off;
                    }
                    // Bytes left after a head or chunk line belong to a body: feed them again.
                    if matches!(self.state, State::Body(_) | State::ChunkData(_)) && !self.buf.is_empty() {
                        let rest = std::mem::take(&mut self.buf);
                        heads.extend(self.feed(&rest));
                    }
                }
            }
        }
        heads
    }

    fn drain_buffer(&mut self, heads: &mut Vec<RawHeaders>) {
        loop {
            let consumed = match self.state {
                State::Head => {
                    if !self.started {
                        if self.buf.len() < 3 {
                            return;
                        }
                        self.started = true;
                        if self.buf.starts_with(b"PRI") {
                            self.state = State::Off;
                            return;
                        }
                    }
                    // Empty lines before a request line are allowed (RFC 9112 §2.2).
                    let skip = self.buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    if skip > 0 {
                        self.buf.drain(..skip);
                    }
                    if self.buf.is_empty() {
                        return;
                    }
                    match self.parse_head() {
                        Some((n, head, next)) => {
                            heads.push(head);
                            self.state = next;
                            n
                        }
                        None => return,
                    }
                }
                State::ChunkSize => match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((n, 0))) => {
                        self.state = State::Trailers;
                        n
                    }
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.state = State::ChunkData(size);
                        n
                    }
                    Ok(httparse::Status::Partial) => return,
                    Err(_) => {
                        self.state = State::Off;
                        return;
                    }
                },
                State::ChunkDataEnd => {
                    if self.buf.len() < 2 {
                        return;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        self.state = State::Off;
                        return;
                    }
                    self.state = State::ChunkSize;
                    2
                }
                State::Trailers => match self.buf.windows(2).position(|w| w == b"\r\n") {
                    // An empty line ends the trailer section; other lines are trailer fields.
                    Some(0) => {
                        self.state = State::Head;
                        2
                    }
                    Some(i) => i + 2,
                    None => return,
                },
                State::Body(_) | State::ChunkData(_) | State::Off => return,
            };
            self.buf.drain(..consumed);
        }
    }

    /// Parses a complete head at the start of the buffer: (bytes used, headers, next state).
    fn parse_head(&mut self) -> Option<(usize, RawHeaders, State)> {
        let mut storage = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut req = httparse::Request::new(&mut storage);
        let n = match req.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return None,
            Err(_) => {
                self.state = State::Off;
                return None;
            }
        };
        let mut chunked = false;
        let mut length: Option<u64> = None;
        let mut upgrade = req.method == Some("CONNECT");
        let mut lines = Vec::with_capacity(req.headers.len());
        for h in req.headers.iter() {
            let value = h.value;
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = std::str::from_utf8(value).is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"));
            } else if h.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(value).ok().and_then(|v| v.trim().parse().ok());
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade = true;
            }
            lines.push((h.name.to_string(), Bytes::copy_from_slice(value)));
        }
        let next = if upgrade {
            State::Off
        } else if chunked {
            State::ChunkSize
        } else {
            match length {
                Some(0) | None => State::Head,
                Some(len) => State::Body(len),
            }
        };
        Some((n, RawHeaders(lines), next))
    }
}

/// Wraps a connection's reads to queue the request heads that pass through.
pub struct HeaderTap<T> {
    inner: T,
    scanner: HeadScanner,
    queue: HeadQueue,
}

impl<T> HeaderTap<T> {
    pub fn new(inner: T, max_headers: usize) -> (Self, HeadQueue) {
        let queue = HeadQueue::default();
        (Self { inner, scanner: HeadScanner::new(max_headers), queue: queue.clone() }, queue)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeaderTap<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll
            && !this.scanner.is_off()
        {
            let heads = this.scanner.feed(&buf.filled()[before..]);
            if !heads.is_empty() {
                this.queue.lock().unwrap_or_else(|e| e.into_inner()).extend(heads);
            }
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeaderTap<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(h: &RawHeaders) -> Vec<String> {
        h.0.iter().map(|(n, v)| format!("{n}:{}", String::from_utf8_lossy(v))).collect()
    }

    #[test]
    fn keeps_case_and_interleaved_order() {
        let mut s = HeadScanner::new(100);
        let heads =
            s.feed(b"POST /h/x HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nB: 2\r\nx-dup: 3\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(heads.len(), 1);
        assert_eq!(names(&heads[0]), ["Host:a", "X-Dup:1", "B:2", "x-dup:3", "Content-Length:2"]);
    }

    #[test]
    fn follows_bodies_across_keep_alive_requests_byte_by_byte() {
        let stream: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nA: 1\r\n\r\n\r\n\r\nxPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nB: 2\r\n\r\n4\r\n\r\n\r\n\r\n0\r\nT: t\r\n\r\nGET /c HTTP/1.1\r\nC: 3\r\n\r\n";
        // Whole, and one byte at a time: framing must not depend on read boundaries.
        for split in [stream.len(), 1, 7] {
            let mut s = HeadScanner::new(100);
            let mut heads = Vec::new();
            for chunk in stream.chunks(split) {
                heads.extend(s.feed(chunk));
            }
            let all: Vec<Vec<String>> = heads.iter().map(names).collect();
            assert_eq!(
                all,
                vec![
                    vec!["Content-Length:5".to_string(), "A:1".into()],
                    vec!["Transfer-Encoding:chunked".to_string(), "B:2".into()],
                    vec!["C:3".to_string()],
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn http2_and_upgrades_switch_it_off() {
        let mut s = HeadScanner::new(100);
        assert!(s.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").is_empty());
        assert!(s.is_off());
        let mut s = HeadScanner::new(100);
        let heads = s.feed(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /x HTTP/1.1\r\n\r\n");
        assert_eq!(heads.len(), 1);
        assert!(s.is_off());
    }

    #[test]
    fn garbage_switches_it_off() {
        let mut s = HeadScanner::new(100);
        assert!(s.feed(b"\x00\x01 not http\r\n\r\n").is_empty());
        assert!(s.is_off());
    }

    #[test]
    fn matches_compares_lines_not_order_or_case() {
        let mut map = HeaderMap::new();
        map.append("x-dup", "1".parse().unwrap());
        map.append("b", "2".parse().unwrap());
        map.append("x-dup", "3".parse().unwrap());
        let raw = |v: &[(&str, &str)]| {
            RawHeaders(v.iter().map(|(n, v)| (n.to_string(), Bytes::from(v.to_string()))).collect())
        };
        assert!(raw(&[("X-Dup", "1"), ("B", "2"), ("x-dup", "3")]).matches(&map));
        assert!(!raw(&[("X-Dup", "1"), ("B", "2")]).matches(&map));
        assert!(!raw(&[("X-Dup", "1"), ("B", "2"), ("x-dup", "4")]).matches(&map));
    }
}
