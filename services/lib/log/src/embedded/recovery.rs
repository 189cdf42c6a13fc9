//! Recovery on open: which segments and commits survived, cutting a torn tail.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use tracing::warn;

use super::files::{at, private_file, segment_path, sync_dir};
use super::frame::{FRAME_PREFIX, MIN_BODY};
use super::topic::Segment;
use crate::{LogError, Result};

/// Scans the topic's segments, truncating a torn tail, and returns them oldest first.
pub(super) fn recover_segments(dir: &Path, topic: &str, committed: u64) -> Result<Vec<Segment>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let name = entry?.file_name();
        let base = name.to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok());
        if let Some(base) = base {
            found.push((base, dir.join(&name)));
        }
    }
    found.sort_unstable();
    if found.is_empty() {
        let path = segment_path(dir, 0);
        private_file().write(true).truncate(true).open(&path).map_err(at(&path))?;
        sync_dir(dir)?;
        found.push((0, path));
    }
    let last = found.len() - 1;
    let mut segments: Vec<Segment> = Vec::with_capacity(found.len());
    for (i, (base, path)) in found.into_iter().enumerate() {
        if let Some(previous) = segments.last()
            && previous.end_offset() != base
        {
            return Err(LogError::Corrupt(format!(
                "{}: segment starts at offset {base} but the previous one ends at {}",
                path.display(),
                previous.end_offset()
            )));
        }
        let scan = scan_segment(&path, base)?;
        if i == last && scan.problem.is_none() && scan.good_len < scan.file_len {
            // Zeroed space written ahead. Cut it, rather than overwrite it later: if a torn write
            // left stray bytes past the zeros, they must not resurface behind new records.
            let file = OpenOptions::new().write(true).open(&path).map_err(at(&path))?;
            file.set_len(scan.good_len)?;
            file.sync_all()?;
        }
        if let Some(why) = scan.problem {
            let kept_end = base + scan.positions.len() as u64;
            if i != last {
                return Err(LogError::Corrupt(format!("{}: {why} at byte {}", path.display(), scan.good_len)));
            }
            if kept_end < committed {
                return Err(LogError::Corrupt(format!(
                    "{}: {why} at byte {} (offset {kept_end}), but offsets below {committed} were already consumed: \
                     refusing to drop acknowledged records",
                    path.display(),
                    scan.good_len
                )));
            }
            warn!(
                topic,
                file = %path.display(),
                position = scan.good_len,
                dropped_bytes = scan.file_len - scan.good_len,
                reason = why,
                "truncating torn tail of the log"
            );
            let file = OpenOptions::new().write(true).open(&path).map_err(at(&path))?;
            file.set_len(scan.good_len)?;
            file.sync_all()?;
        }
        let file = OpenOptions::new().read(true).write(i == last).open(&path).map_err(at(&path))?;
        segments.push(Segment { base, path, file: Arc::new(file), positions: scan.positions, size: scan.good_len });
    }
    Ok(segments)
}

pub(super) struct Scan {
    positions: Vec<u64>,
    good_len: u64,
    file_len: u64,
    /// Why the scan stopped before the end of the file.
    problem: Option<&'static str>,
}

pub(super) fn scan_segment(path: &Path, base: u64) -> Result<Scan> {
    let file = File::open(path).map_err(at(path))?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut scan = Scan { positions: Vec::new(), good_len: 0, file_len, problem: None };
    let mut body = Vec::new();
    while scan.good_len < file_len {
        let remaining = file_len - scan.good_len;
        if remaining < FRAME_PREFIX + MIN_BODY {
            scan.problem = Some("partial record header");
            break;
        }
        let mut prefix = [0; FRAME_PREFIX as usize];
        reader.read_exact(&mut prefix).map_err(at(path))?;
        let len = u64::from(u32::from_le_bytes(prefix[..4].try_into().expect("4 bytes")));
        let crc = u32::from_le_bytes(prefix[4..].try_into().expect("4 bytes"));
        if len == 0 && crc == 0 {
            // Zeroed space written ahead by the writer: the data ends here. Left in place so the
            // writer keeps overwriting allocated space instead of growing the file.
            break;
        }
        if len < MIN_BODY {
            scan.problem = Some("impossible record length");
            break;
        }
        if len > remaining - FRAME_PREFIX {
            scan.problem = Some("record runs past the end of the file");
            break;
        }
        body.resize(len as usize, 0);
        reader.read_exact(&mut body).map_err(at(path))?;
        if crc32fast::hash(&body) != crc {
            scan.problem = Some("crc mismatch");
            break;
        }
        // A record with a good CRC but the wrong offset is not a torn write: never truncate it.
        let offset = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        let expected = base + scan.positions.len() as u64;
        if offset != expected {
            return Err(LogError::Corrupt(format!(
                "{}: record at byte {} has offset {offset}, expected {expected}",
                path.display(),
                scan.good_len
            )));
        }
        scan.positions.push(scan.good_len);
        scan.good_len += FRAME_PREFIX + len;
    }
    Ok(scan)
}

pub(super) fn load_groups(dir: &Path) -> Result<HashMap<String, u64>> {
    let mut groups = HashMap::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".tmp") {
            // A commit interrupted before its rename; the previous commit file still stands.
            fs::remove_file(&path).map_err(at(&path))?;
        } else if let Some(group) = name.strip_suffix(".offset") {
            let text = fs::read_to_string(&path).map_err(at(&path))?;
            let offset = text
                .trim()
                .parse()
                .map_err(|_| LogError::Corrupt(format!("{}: not an offset: {text:?}", path.display())))?;
            groups.insert(group.to_owned(), offset);
        }
    }
    Ok(groups)
}
