//! The stored form of a header list.

use bytes::Bytes;
use hookmetry_core::Header;

use crate::{Result, StoreError};

/// Encodes headers as `u32 count`, then per header `u32 name length, name, u32 value length,
/// value`, all integers big-endian. Binary rather than JSON because values are raw bytes that
/// may not be UTF-8, and a list rather than a map because order and duplicates must round-trip.
pub(super) fn encode_headers(headers: &[Header]) -> Result<Vec<u8>> {
    fn len(n: usize) -> Result<[u8; 4]> {
        u32::try_from(n)
            .map(u32::to_be_bytes)
            .map_err(|_| StoreError::Backend(format!("header of {n} bytes is too large to store")))
    }
    let size = 4 + headers.iter().map(|h| 8 + h.name.len() + h.value.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend(len(headers.len())?);
    for h in headers {
        out.extend(len(h.name.len())?);
        out.extend(h.name.as_bytes());
        out.extend(len(h.value.len())?);
        out.extend(h.value.as_ref());
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
#[error("malformed headers blob: {0}")]
pub(super) struct MalformedHeaders(&'static str);

pub(super) fn decode_headers(mut buf: &[u8]) -> Result<Vec<Header>, MalformedHeaders> {
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], MalformedHeaders> {
        if buf.len() < n {
            return Err(MalformedHeaders("truncated"));
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    }
    fn take_len(buf: &mut &[u8]) -> Result<usize, MalformedHeaders> {
        let bytes = take(buf, 4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }
    let count = take_len(&mut buf)?;
    // Each header needs at least 8 bytes, so a corrupt count cannot trigger a huge allocation.
    let mut headers = Vec::with_capacity(count.min(buf.len() / 8));
    for _ in 0..count {
        let len = take_len(&mut buf)?;
        let name =
            std::str::from_utf8(take(&mut buf, len)?).map_err(|_| MalformedHeaders("header name is not UTF-8"))?;
        let len = take_len(&mut buf)?;
        let value = Bytes::copy_from_slice(take(&mut buf, len)?);
        headers.push(Header::new(name, value));
    }
    if !buf.is_empty() {
        return Err(MalformedHeaders("trailing bytes"));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use hookmetry_core::Header;

    use super::*;

    #[test]
    fn headers_round_trip_in_order_with_duplicates_and_raw_bytes() {
        let headers = vec![
            Header::new("x-a", "1"),
            Header::new("x-raw", &b"\xff\x00\xfe"[..]),
            Header::new("x-a", "2"),
            Header::new("x-empty", ""),
        ];
        let encoded = encode_headers(&headers).unwrap();
        assert_eq!(decode_headers(&encoded).unwrap(), headers);
        assert_eq!(decode_headers(&encode_headers(&[]).unwrap()).unwrap(), vec![]);
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let encoded = encode_headers(&[Header::new("x-a", "1")]).unwrap();
        for cut in 0..encoded.len() {
            assert!(decode_headers(&encoded[..cut]).is_err(), "accepted a blob cut at {cut}");
        }
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert!(decode_headers(&trailing).is_err());
        let bad_name = [0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0, 0, 0, 0];
        assert!(decode_headers(&bad_name).is_err());
        assert!(decode_headers(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
