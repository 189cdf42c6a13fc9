//! The ingest header tap and hyper agree about where each HTTP/1 request on a connection ends.
//!
//! The input is one byte that sets how the client's bytes arrive (the sizes of the reads), then
//! the bytes a client sends on one connection: pipelined HTTP/1.1 requests, or anything else.
//! They are served the way `services/hookmetry/src/server.rs` serves a connection: hyper's HTTP/1
//! server (with upgrades, and the same header limits) reading through [`HeaderTap`], and a
//! service that takes the next queued head for every request hyper dispatches, as the server's
//! `map_request` does, then reads the whole body. Two things differ from the server, neither in
//! how HTTP/1 is framed: hyper's HTTP/1 builder is used directly rather than hyper-util's `auto`
//! one, which only looks for the HTTP/2 preface first (and the tap stops at that), and there is
//! no header read timeout, as a fuzz run has no clock to wait on.
//!
//! # The oracle
//!
//! Ingest records the tap's head for a request only when it `matches` hyper's `HeaderMap` (same
//! lines, ignoring name case and order). So a head that disagrees with hyper in content is
//! harmless: hyper drops a repeated `Content-Length`, and a `Content-Length` beside
//! `Transfer-Encoding`, and ingest falls back to hyper's view. What is not harmless is the tap
//! getting out of step: request N then gets a head that came from somewhere else in the stream,
//! for example from attacker bytes inside request N-1's body, and if its lines equal request N's,
//! ingest records them (their case and order) as request N's. So the oracle compares positions,
//! not contents. A head's position is the stream offset at which its final line ended; two
//! different heads cannot end at the same offset.
//!
//! * Tap positions come from feeding the stream to a [`HeadScanner`] one byte at a time.
//! * Hyper's positions come from serving the stream one byte per read: hyper parses what it has
//!   before reading more, so the bytes delivered when it dispatches request N are exactly its
//!   head. When the service has read the whole body, the bytes delivered are the end of the
//!   message (or one byte more: hyper may read one byte early to notice a closed connection).
//!
//! Then, failing only on these:
//!
//! 1. Split invariance: the scanner finds the same heads (and gives up or not) however the
//!    stream is cut into reads, and the tap inside each served connection queues exactly the
//!    scanner's heads, in order. The positions below rely on this.
//! 2. Every head attached to a request is the head hyper parsed for it: same position. If it
//!    `matches` hyper's headers too, ingest would record it: the dangerous case, reported as
//!    such. Checked with one-byte reads and with the input's read sizes, for the requests both
//!    serves dispatched alike (hyper's own framing does not depend on read sizes; if it ever did,
//!    this compares only the part where it did not).
//! 3. Over the part of the stream hyper framed (up to the end of the last request whose body it
//!    delivered whole), the tap finds a head at exactly hyper's positions: none inside a body,
//!    and none of hyper's heads skipped over as body, until the tap gives up (it stops watching
//!    at `Upgrade`, `CONNECT`, HTTP/2 or bytes it cannot parse, which is safe: later requests get
//!    no head and ingest uses hyper's view).
//! 4. The tap does not give up while reading a request head inside a body hyper read. Giving up
//!    is safe, but there it means the tap misframed the request before: the same mistake with a
//!    body that parses as a request head is check 3's smuggled head, and random bytes find it
//!    far sooner than a well-formed head. Giving up on a chunk line hyper accepts is only the
//!    tap being stricter, and passes.
//!
//! After hyper refuses something (a 400 and a closed connection) it dispatches nothing more, so
//! whatever the tap makes of the rest does not matter and is not checked.

#![no_main]

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

// The tap's own source, so that this crate does not build ingest's storage and telemetry.
#[allow(dead_code)]
#[path = "../../src/raw_headers.rs"]
mod raw_headers;

use raw_headers::{HeadScanner, HeaderTap, RawHeaders};

/// The server's limits with the default config: `ingest.max_headers` (100) doubled for both the
/// tap and hyper, and hyper's buffer at its floor (`services/hookmetry/src/server.rs`).
const MAX_HEADERS: usize = 200;
const MAX_BUF: usize = 8192 + 4096 * 100;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime"));

/// Read sizes: each read hands out at most the next size (and at most what the reader asks for).
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// 0: whatever the reader asks for; otherwise sizes in `1..=cap`.
    cap: usize,
    rng: u32,
}

impl Pace {
    const ONE_BYTE: Pace = Pace { cap: 1, rng: 1 };

    fn from_byte(b: u8) -> Self {
        let cap = [0, 1, 2, 3, 8, 16, 64, 512][usize::from(b & 7)];
        Pace { cap, rng: 0x9e37_79b9 ^ u32::from(b >> 3) }
    }

    fn next(&mut self) -> usize {
        if self.cap == 0 {
            return usize::MAX;
        }
        // xorshift32: cheap, and the same sizes for the same input.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        1 + self.rng as usize % self.cap
    }
}

/// The client's end of the connection: hands out the stream at the given pace, then EOF;
/// swallows the responses.
struct Wire {
    data: Arc<[u8]>,
    delivered: Arc<AtomicUsize>,
    pace: Pace,
}

impl AsyncRead for Wire {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let at = this.delivered.load(Ordering::Relaxed);
        let n = this.pace.next().min(this.data.len() - at).min(buf.remaining());
        buf.put_slice(&this.data[at..at + n]);
        this.delivered.store(at + n, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One request hyper dispatched.
#[derive(Debug)]
struct Dispatched {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    /// Stream bytes delivered when hyper dispatched it.
    delivered_at_dispatch: usize,
    /// The tap's head the server would attach: its index among all heads the tap queued, and it.
    attached: Option<(usize, RawHeaders)>,
    /// Body length and the bytes delivered once the service had read all of it, when it could.
    body: Option<(usize, usize)>,
}

impl Dispatched {
    /// What hyper made of the request, to tell whether two serves dispatched the same one.
    fn same_as(&self, other: &Dispatched) -> bool {
        (&self.method, &self.uri, self.version, &self.headers, self.body.map(|b| b.0))
            == (&other.method, &other.uri, other.version, &other.headers, other.body.map(|b| b.0))
    }
}

struct Served {
    requests: Vec<Dispatched>,
    /// Every head the tap queued, in order: those attached, then those left in the queue.
    queued: Vec<RawHeaders>,
}

/// Serves `data` as one connection at `pace`, as the server does.
fn serve(data: &Arc<[u8]>, pace: Pace) -> Served {
    let delivered = Arc::new(AtomicUsize::new(0));
    let wire = Wire { data: data.clone(), delivered: delivered.clone(), pace };
    let (tap, queue) = HeaderTap::new(wire, MAX_HEADERS);
    let log: Rc<RefCell<Vec<Dispatched>>> = Rc::default();
    let attached_so_far = Rc::new(Cell::new(0usize));
    let svc = {
        let (queue, log, delivered) = (queue.clone(), log.clone(), delivered.clone());
        service_fn(move |req: Request<Incoming>| {
            // As the server's `map_request`: the next queued head, for HTTP/1 requests.
            let attached = if req.version() <= Version::HTTP_11 {
                queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
            } else {
                None
            };
            let attached = attached.map(|head| {
                let index = attached_so_far.get();
                attached_so_far.set(index + 1);
                (index, head)
            });
            let (parts, body) = req.into_parts();
            let index = {
                let mut log = log.borrow_mut();
                log.push(Dispatched {
                    method: parts.method,
                    uri: parts.uri,
                    version: parts.version,
                    headers: parts.headers,
                    delivered_at_dispatch: delivered.load(Ordering::Relaxed),
                    attached,
                    body: None,
                });
                log.len() - 1
            };
            let (log, delivered) = (log.clone(), delivered.clone());
            async move {
                if let Ok(body) = body.collect().await {
                    log.borrow_mut()[index].body = Some((body.to_bytes().len(), delivered.load(Ordering::Relaxed)));
                }
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            }
        })
    };
    let conn = http1::Builder::new()
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_BUF)
        .serve_connection(TokioIo::new(tap), svc)
        .with_upgrades();
    // Refused requests end the connection with an error; that is hyper's business, not ours.
    let _ = RUNTIME.block_on(conn);
    let requests = std::mem::take(&mut *log.borrow_mut());
    let mut queued: Vec<RawHeaders> =
        requests.iter().filter_map(|r| r.attached.as_ref().map(|a| a.1.clone())).collect();
    queued.extend(queue.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
    Served { requests, queued }
}

/// What the tap's scanner makes of the whole stream, one byte at a time.
struct Scan {
    /// Each head, with the stream offset just past its last byte.
    heads: Vec<(usize, RawHeaders)>,
    /// Where it gave up, if it did, and whether it was reading a request head then (rather than
    /// a chunk line or trailer).
    off: Option<(usize, bool)>,
}

fn scan_bytewise(stream: &[u8]) -> Scan {
    let mut scanner = HeadScanner::new(MAX_HEADERS);
    let mut heads = Vec::new();
    for (i, b) in stream.iter().enumerate() {
        heads.extend(scanner.feed(std::slice::from_ref(b)).into_iter().map(|h| (i + 1, h)));
        if scanner.is_off() {
            // The state before the last byte, rebuilt: formatting it after every byte just in
            // case would make every input slower.
            let mut before = HeadScanner::new(MAX_HEADERS);
            for b in &stream[..i] {
                let _ = before.feed(std::slice::from_ref(b));
            }
            return Scan { heads, off: Some((i + 1, reading_head(&before))) };
        }
    }
    Scan { heads, off: None }
}

/// Whether the scanner is between requests or inside a head. Its state is private to
/// raw_headers.rs; its derived `Debug` shows it.
fn reading_head(scanner: &HeadScanner) -> bool {
    let debug = format!("{scanner:?}");
    let state =
        debug.strip_prefix("HeadScanner { state: ").expect("HeadScanner's Debug output changed: update this harness");
    state.starts_with("Head,")
}

fn scan_in_pieces(stream: &[u8], mut pace: Pace) -> (Vec<RawHeaders>, bool) {
    let mut scanner = HeadScanner::new(MAX_HEADERS);
    let mut heads = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() && !scanner.is_off() {
        let (piece, after) = rest.split_at(pace.next().min(rest.len()));
        heads.extend(scanner.feed(piece));
        rest = after;
    }
    (heads, scanner.is_off())
}

/// The stream as a Rust byte string, for failure messages.
fn escaped(stream: &[u8]) -> String {
    stream.escape_ascii().to_string()
}

/// Check 1, for the tap inside one served connection.
fn check_queued(what: &str, served: &Served, scan: &Scan, stream: &[u8]) {
    let expected: Vec<&RawHeaders> = scan.heads.iter().take(served.queued.len()).map(|(_, h)| h).collect();
    let queued: Vec<&RawHeaders> = served.queued.iter().collect();
    assert_eq!(
        queued,
        expected,
        "{what}: the tap queued other heads than its scanner finds reading one byte at a time\nstream: b\"{}\"",
        escaped(stream)
    );
}

/// Check 2: attached heads are hyper's, for the first `aligned` requests of `served`, where
/// `hyper_heads[n]` is where hyper's request n ended its head.
fn check_attached(what: &str, served: &Served, hyper_heads: &[usize], aligned: usize, scan: &Scan, stream: &[u8]) {
    for (n, req) in served.requests.iter().enumerate().take(aligned) {
        let Some((index, head)) = &req.attached else { continue };
        let tap_at = scan.heads[*index].0;
        if tap_at == hyper_heads[n] {
            continue;
        }
        if head.matches(&req.headers) {
            panic!(
                "{what}: DANGEROUS: request {n} ({} {}) got the head that ends at offset {tap_at}, not its own (ends at \
                 {}), and its lines match, so ingest would record them\nattached: {head:?}\nstream: b\"{}\"",
                req.method,
                req.uri,
                hyper_heads[n],
                escaped(stream)
            );
        }
        panic!(
            "{what}: request {n} ({} {}) got the head that ends at offset {tap_at}, not its own (ends at {}); ingest falls \
             back to hyper's view, but the tap is out of step\nattached: {head:?}\nstream: b\"{}\"",
            req.method,
            req.uri,
            hyper_heads[n],
            escaped(stream)
        );
    }
}

/// Check 3: over what hyper framed, the tap's heads are where hyper's are.
fn check_framing(bytewise: &Served, scan: &Scan, stream: &[u8]) {
    let hyper_heads: Vec<usize> = bytewise.requests.iter().map(|r| r.delivered_at_dispatch).collect();
    let framed_to = bytewise.requests.last().map_or(0, |r| r.body.map_or(r.delivered_at_dispatch, |(_, end)| end));
    for (tap_at, head) in scan.heads.iter().take_while(|(at, _)| *at <= framed_to) {
        assert!(
            hyper_heads.contains(tap_at),
            "the tap found a head ending at offset {tap_at}, where hyper has none (hyper's heads end at \
             {hyper_heads:?}): it took bytes hyper read as a body for a request head\nhead: {head:?}\nstream: b\"{}\"",
            escaped(stream)
        );
    }
    for (n, at) in hyper_heads.iter().enumerate() {
        if scan.off.is_some_and(|(off, _)| *at > off) {
            break;
        }
        assert!(
            scan.heads.iter().any(|(tap_at, _)| tap_at == at),
            "the tap read over request {n}'s head (ends at offset {at}) as if it were body; its heads end at {:?}\n\
             stream: b\"{}\"",
            scan.heads.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
            escaped(stream)
        );
    }
    // Hyper's body of request n spans its head's end to the body's end, less the byte hyper may
    // have read early. A tap in step is skipping body bytes there, not reading a head; when it
    // gives up there while reading a head, it misframed the request, which the same body with a
    // request head inside would turn into a smuggled head.
    if let Some((off, true)) = scan.off {
        for (n, req) in bytewise.requests.iter().enumerate() {
            let Some((_, body_end)) = req.body else { continue };
            assert!(
                !(req.delivered_at_dispatch..body_end.saturating_sub(1)).contains(&(off - 1)),
                "the tap misframed request {n}: it was reading a request head at offset {}, inside the body hyper read \
                 (offsets {}..{body_end}), when it gave up\nstream: b\"{}\"",
                off - 1,
                req.delivered_at_dispatch,
                escaped(stream)
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pace_byte, stream)) = data.split_first() else { return };
    let pace = Pace::from_byte(pace_byte);

    let scan = scan_bytewise(stream);
    let (pieces, pieces_off) = scan_in_pieces(stream, pace);
    let bytewise_heads: Vec<&RawHeaders> = scan.heads.iter().map(|(_, h)| h).collect();
    assert_eq!(
        (pieces.iter().collect::<Vec<_>>(), pieces_off),
        (bytewise_heads, scan.off.is_some()),
        "the scanner's heads depend on how the stream is cut into reads ({pace:?})\nstream: b\"{}\"",
        escaped(stream)
    );

    let data: Arc<[u8]> = stream.into();
    let bytewise = serve(&data, Pace::ONE_BYTE);
    check_queued("one byte per read", &bytewise, &scan, stream);
    let hyper_heads: Vec<usize> = bytewise.requests.iter().map(|r| r.delivered_at_dispatch).collect();
    check_attached("one byte per read", &bytewise, &hyper_heads, hyper_heads.len(), &scan, stream);
    check_framing(&bytewise, &scan, stream);

    let paced = serve(&data, pace);
    check_queued("paced reads", &paced, &scan, stream);
    let aligned = paced.requests.iter().zip(&bytewise.requests).take_while(|(a, b)| a.same_as(b)).count();
    check_attached("paced reads", &paced, &hyper_heads, aligned, &scan, stream);
});
