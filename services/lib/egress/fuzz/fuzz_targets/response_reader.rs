//! The egress HTTP/1.1 response reader holds its limits and reads what the response declares,
//! whatever a replay target sends back.
//!
//! The input is two bytes of settings, then the bytes the target sends:
//!
//! * byte 0: bit 0 says the request was `HEAD`; bits 1–3 pick the response body limit
//!   (`max_response_body_bytes`), from 0 to 128 KiB, the default 64 KiB among them;
//! * byte 1: the sizes of the reads the bytes arrive in, from one byte at a time to all at once;
//! * the rest: the response. `0xFF k` (k > 0) stands for the byte before it repeated `k × 512`
//!   times, so that heads, lines and bodies past the reader's limits take a few input bytes;
//!   `0xFF 0x00` is a literal `0xFF`.
//!
//! The response goes through the reader as `Client::run` drives it (`head`, then `framing`, then
//! `body` with the limit), and through a reference that reads the same bytes from one slice with
//! the same rules: the reader's incremental buffering must not change the outcome. Checked:
//!
//! * nothing panics, and the kept body is never over the limit; a truncated body is exactly the
//!   limit;
//! * the head, error class (connection closed, malformed, head or chunk line over its limit),
//!   kept body and truncation agree with the reference;
//! * the framing agrees with the head: no body for `HEAD`, 204 and 304; a length only from a
//!   `Content-Length`, chunked only from a `Transfer-Encoding`; a complete length-framed body is
//!   that long; the final head is never an interim (1xx) one.
//!
//! The reader's head (64 KiB) and chunk line (8 KiB) limits are checked against what has been
//! read so far, so a head or line just over them passes or fails depending on read sizes. The
//! reference knows when that is the case and then checks only the limits above.

#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

// The reader's own source: it is crate-private, and including it leaves the library untouched.
#[allow(dead_code)]
#[path = "../../src/http1/read.rs"]
mod read;

use read::{Framing, Head, MAX_HEAD_BYTES, MAX_HEADERS, ReadError, Reader};

/// read.rs's chunk-line limit (private there).
const MAX_LINE_BYTES: usize = 8 * 1024;
/// Body limits to try; 64 KiB is the default `replay.max_response_body_bytes`.
const LIMITS: [usize; 8] = [0, 1, 7, 64, 1000, 8192, 64 * 1024, 128 * 1024];
/// Expanded responses stop growing here: past every limit of the reader, small enough to keep
/// the fuzzer fast.
const MAX_STREAM: usize = 256 << 10;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime"));

fn expand(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while out.len() < MAX_STREAM {
        rest = match rest {
            [0xFF, 0, tail @ ..] => {
                out.push(0xFF);
                tail
            }
            [0xFF, k, tail @ ..] => {
                let fill = out.last().copied().unwrap_or(b'a');
                let n = (usize::from(*k) * 512).min(MAX_STREAM - out.len());
                out.resize(out.len() + n, fill);
                tail
            }
            [b, tail @ ..] => {
                out.push(*b);
                tail
            }
            [] => break,
        };
    }
    out
}

/// Read sizes: each read hands out at most the next size (and at most what the reader asks for).
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// 0: whatever the reader asks for; otherwise sizes in `floor..=floor + cap - 1`.
    cap: usize,
    /// Big responses come in bigger pieces (a 64th of the response at least): the reader
    /// re-parses its whole buffer after each read, and a 64 KiB head a byte at a time would
    /// only measure that.
    floor: usize,
    rng: u32,
}

impl Pace {
    fn new(b: u8, stream_len: usize) -> Self {
        let cap = [0, 1, 2, 3, 17, 512, 8192, 65536][usize::from(b & 7)];
        Pace { cap, floor: 1 + stream_len / 64, rng: 0x9e37_79b9 ^ u32::from(b >> 3) }
    }

    fn next(&mut self) -> usize {
        if self.cap == 0 {
            return usize::MAX;
        }
        // xorshift32: cheap, and the same sizes for the same input.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        self.floor + self.rng as usize % self.cap
    }
}

/// The target's end of the connection: the response at the given pace, then EOF.
struct Wire<'a> {
    data: &'a [u8],
    pace: Pace,
}

impl AsyncRead for Wire<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.pace.next().min(self.data.len()).min(buf.remaining());
        let (piece, rest) = self.data.split_at(n);
        buf.put_slice(piece);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// How reading stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Closed,
    Malformed,
    HeadTooLong,
    LineTooLong,
}

fn stop_of(e: &ReadError) -> Stop {
    match e {
        ReadError::Io(e) => panic!("the in-memory connection never fails, yet: {e}"),
        ReadError::Closed => Stop::Closed,
        ReadError::Malformed(m) if m.starts_with("a status line and headers over") => Stop::HeadTooLong,
        ReadError::Malformed(m) if m.starts_with("a chunk line over") => Stop::LineTooLong,
        ReadError::Malformed(_) => Stop::Malformed,
    }
}

/// What the reference expects when it cannot finish: a certain stop, or "read sizes decide" (a
/// head or line over a limit the reader checks against what it has read so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Short {
    Is(Stop),
    ReadSizesDecide,
}

/// The reference: the same response read from one slice.
struct Reference<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reference<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    fn head(&mut self) -> Result<(u16, Vec<(String, Bytes)>), Short> {
        loop {
            let rest = self.rest();
            // A head within the limit is found whatever the reads: the reader only checks the
            // limit while the head is still incomplete.
            let window = &rest[..rest.len().min(MAX_HEAD_BYTES + 1)];
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut slots);
            match parsed.parse(window) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = parsed.code.unwrap_or_default();
                    let headers =
                        parsed.headers.iter().map(|h| (h.name.to_string(), Bytes::copy_from_slice(h.value))).collect();
                    self.pos += len;
                    match status {
                        101 => return Err(Short::Is(Stop::Malformed)),
                        100..=199 => continue,
                        _ => return Ok((status, headers)),
                    }
                }
                Ok(httparse::Status::Partial) if rest.len() <= MAX_HEAD_BYTES => return Err(Short::Is(Stop::Closed)),
                Ok(httparse::Status::Partial) => {
                    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let whole = httparse::Response::new(&mut slots).parse(rest);
                    return Err(match whole {
                        Ok(httparse::Status::Partial) => Short::Is(Stop::HeadTooLong),
                        _ => Short::ReadSizesDecide,
                    });
                }
                Err(_) => return Err(Short::Is(Stop::Malformed)),
            }
        }
    }

    fn line(&mut self) -> Result<&'a [u8], Short> {
        let rest = self.rest();
        match rest.iter().position(|b| *b == b'\n') {
            Some(end) if end <= MAX_LINE_BYTES => {
                self.pos += end + 1;
                let line = &rest[..end];
                Ok(line.strip_suffix(b"\r").unwrap_or(line))
            }
            Some(_) => Err(Short::ReadSizesDecide),
            None if rest.len() > MAX_LINE_BYTES => Err(Short::Is(Stop::LineTooLong)),
            None => Err(Short::Is(Stop::Closed)),
        }
    }

    /// Keeps `bytes` in `out` up to `limit`; true when some had to be dropped.
    fn keep(bytes: &[u8], limit: usize, out: &mut Vec<u8>) -> bool {
        let room = limit - out.len();
        out.extend_from_slice(&bytes[..bytes.len().min(room)]);
        bytes.len() > room
    }

    fn exactly(&mut self, n: u64, limit: usize, out: &mut Vec<u8>) -> Result<bool, Short> {
        let rest = self.rest();
        let take = usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
        self.pos += take;
        if Self::keep(&rest[..take], limit, out) {
            return Ok(true);
        }
        if (take as u64) < n {
            return Err(Short::Is(Stop::Closed));
        }
        Ok(false)
    }

    fn body(&mut self, framing: Framing, limit: usize, out: &mut Vec<u8>) -> Result<bool, Short> {
        match framing {
            Framing::Empty => Ok(false),
            Framing::Length(n) => self.exactly(n, limit, out),
            Framing::UntilClose => {
                let rest = self.rest();
                self.pos = self.data.len();
                Ok(Self::keep(rest, limit, out))
            }
            Framing::Chunked => loop {
                let line = self.line()?;
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                    .ok_or(Short::Is(Stop::Malformed))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    return Ok(false);
                }
                if self.exactly(size, limit, out)? {
                    return Ok(true);
                }
                if !self.line()?.is_empty() {
                    return Err(Short::Is(Stop::Malformed));
                }
            },
        }
    }
}

/// Compares one step; `Some` when both read it and the next step can be compared.
fn agree<T: std::fmt::Debug, U: std::fmt::Debug>(
    step: &str,
    got: Result<T, ReadError>,
    expected: Result<U, Short>,
    same: impl FnOnce(&T, &U) -> bool,
) -> Option<T> {
    match (got, expected) {
        (_, Err(Short::ReadSizesDecide)) => None,
        (Ok(got), Ok(expected)) => {
            assert!(same(&got, &expected), "{step}: read {got:?}, expected {expected:?}");
            Some(got)
        }
        (Err(got), Err(Short::Is(expected))) => {
            assert_eq!(stop_of(&got), expected, "{step}: {got:?}");
            None
        }
        (got, expected) => panic!("{step}: read {got:?}, expected {expected:?}"),
    }
}

fn values<'a>(head: &'a Head, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    head.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
}

/// The framing follows from the head as RFC 9112 §6.3 says.
fn check_framing(head: &Head, head_request: bool, framing: &Result<Framing, ReadError>) {
    assert!(!(100..200).contains(&head.status), "an interim response was taken for the answer: {head:?}");
    let no_body = head_request || head.status == 204 || head.status == 304;
    let has_length = values(head, "content-length").next().is_some();
    let te_says_chunked =
        values(head, "transfer-encoding").any(|v| v.to_ascii_lowercase().windows(7).any(|w| w == b"chunked"));
    let ok = match framing {
        Ok(Framing::Empty) => no_body,
        Ok(Framing::Length(_)) | Err(ReadError::Malformed(_)) => !no_body && has_length,
        Ok(Framing::Chunked) => !no_body && te_says_chunked,
        Ok(Framing::UntilClose) => !no_body,
        Err(e) => panic!("framing fails only on a bad Content-Length, yet: {e:?}"),
    };
    assert!(ok, "framing {framing:?} for {head:?} (HEAD request: {head_request})");
}

fuzz_target!(|data: &[u8]| {
    let [flags, pace, raw @ ..] = data else { return };
    let head_request = flags & 1 != 0;
    let limit = LIMITS[usize::from((flags >> 1) & 7)];
    let stream = expand(raw);
    let mut reader = Reader::new(Wire { data: &stream, pace: Pace::new(*pace, stream.len()) });
    let mut reference = Reference { data: &stream, pos: 0 };
    let mut out = BytesMut::new();
    let mut expected_out = Vec::new();

    let truncated = RUNTIME.block_on(async {
        let head = reader.head().await;
        let head = agree("head", head, reference.head(), |got, (status, headers)| {
            got.status == *status && &got.headers == headers
        })?;
        let framing = head.framing(head_request);
        check_framing(&head, head_request, &framing);
        let framing = framing.ok()?;
        let got = reader.body(framing, limit, &mut out).await;
        let expected = reference.body(framing, limit, &mut expected_out);
        if expected == Err(Short::ReadSizesDecide) {
            assert!(out.starts_with(&expected_out), "the body before the long line differs");
        } else {
            assert_eq!(&out[..], &expected_out[..], "body ({framing:?}, limit {limit})");
        }
        let truncated = agree("body", got, expected, |got, expected| got == expected)?;
        if let (Framing::Length(n), false) = (framing, truncated) {
            assert_eq!(out.len() as u64, n, "a complete body of the declared length");
        }
        Some(truncated)
    });

    assert!(out.len() <= limit, "kept {} body bytes over the {limit}-byte limit", out.len());
    if truncated == Some(true) {
        assert_eq!(out.len(), limit, "a truncated body fills the limit");
    }
});
