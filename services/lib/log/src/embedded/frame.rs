//! The record frame (its layout is in the `embedded` module docs): encoding, decoding, sizes.

use bytes::{Buf, Bytes};

use crate::{NewRecord, Record};

/// `len` and `crc`, which precede the bytes the CRC covers.
pub(super) const FRAME_PREFIX: u64 = 8;
/// offset, timestamp, key length and header count: the smallest body a record can have.
pub(super) const MIN_BODY: u64 = 8 + 8 + 4 + 4;

pub(super) fn framed_len(record: &NewRecord) -> u64 {
    let headers: usize = record.headers.iter().map(|(n, v)| 8 + n.len() + v.len()).sum();
    FRAME_PREFIX + MIN_BODY + (record.key.len() + headers + record.payload.len()) as u64
}

pub(super) fn encode(buf: &mut Vec<u8>, offset: u64, timestamp_micros: i64, record: &NewRecord) {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_PREFIX as usize]);
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp_micros.to_le_bytes());
    buf.extend_from_slice(&(record.key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record.key);
    buf.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for (name, value) in &record.headers {
        buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
        buf.extend_from_slice(value);
    }
    buf.extend_from_slice(&record.payload);
    let body = start + FRAME_PREFIX as usize;
    let len = (buf.len() - body) as u32;
    let crc = crc32fast::hash(&buf[body..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..body].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`; returns it and its framed length.
pub(super) fn decode(buf: &Bytes, topic: &str, expected: u64) -> Result<(Record, usize), &'static str> {
    let mut frame = Fields(buf.clone());
    let len = frame.u32()? as usize;
    let crc = frame.u32()?;
    let mut body = Fields(frame.take(len)?);
    if crc32fast::hash(&body.0) != crc {
        return Err("crc mismatch");
    }
    let offset = body.u64()?;
    if offset != expected {
        return Err("unexpected offset");
    }
    let timestamp_micros = body.u64()? as i64;
    let key_len = body.u32()? as usize;
    let key = body.take(key_len)?;
    let count = body.u32()?;
    let mut headers = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let name_len = body.u32()? as usize;
        let name = String::from_utf8(body.take(name_len)?.to_vec()).map_err(|_| "header name is not utf-8")?;
        let value_len = body.u32()? as usize;
        headers.push((name, body.take(value_len)?));
    }
    let record =
        Record { topic: topic.to_owned(), partition: 0, offset, key, payload: body.0, headers, timestamp_micros };
    Ok((record, FRAME_PREFIX as usize + len))
}

/// Bounds-checked little-endian field reader.
pub(super) struct Fields(Bytes);

impl Fields {
    pub(super) fn take(&mut self, n: usize) -> Result<Bytes, &'static str> {
        if self.0.len() < n {
            return Err("record truncated");
        }
        Ok(self.0.split_to(n))
    }

    pub(super) fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(self.take(4)?.get_u32_le())
    }

    pub(super) fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(self.take(8)?.get_u64_le())
    }
}
