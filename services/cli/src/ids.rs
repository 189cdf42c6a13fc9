//! Id prefixes: `0193a1b2` for `0193a1b2-c3d4-7…`, as people copy the start of an id from a
//! `tail` line.
//!
//! Ids are UUIDv7, whose first 48 bits are the Unix time in milliseconds of their making, so a
//! prefix bounds when the thing was made: 8 hex digits a window of 65.5 s, 12 or more a single
//! millisecond. Endpoints are few and listed whole; captures are found among the team's
//! endpoints' captures received in that window (through the `captures` query's time filter), so
//! no server support is needed.

use std::time::{Duration, SystemTime};

use crate::error::CliError;

/// Fewest hex digits accepted as a prefix: fewer would match too much to be useful.
pub(crate) const MIN_PREFIX: usize = 8;
/// How many matches an ambiguity error lists.
const SHOWN: usize = 5;

/// The leading hex digits of an id, lower case, without dashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdPrefix(String);

impl IdPrefix {
    /// `raw` as a prefix when it is one: at least [`MIN_PREFIX`] hex digits (dashes anywhere
    /// ignored) and shorter than a whole id.
    pub fn parse(raw: &str) -> Option<IdPrefix> {
        let raw = raw.trim();
        if !raw.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return None;
        }
        let hex: String = raw.chars().filter(|c| *c != '-').map(|c| c.to_ascii_lowercase()).collect();
        (MIN_PREFIX..32).contains(&hex.len()).then_some(IdPrefix(hex))
    }

    /// Whether the id `id` (UUID text, any case) starts with this prefix.
    pub fn matches(&self, id: &str) -> bool {
        let hex: String = id.chars().filter(|c| *c != '-').map(|c| c.to_ascii_lowercase()).collect();
        hex.starts_with(&self.0)
    }

    /// The times (from, until: until excluded) a UUIDv7 with this prefix was made in.
    pub fn time_window(&self) -> (SystemTime, SystemTime) {
        let digits = self.0.len().min(12);
        // At most 12 hex digits: fits in a u64 with room to add one.
        let value = u64::from_str_radix(&self.0[..digits], 16).unwrap_or(0);
        let shift = 4 * (12 - digits) as u32;
        let from = value << shift;
        let until = (value + 1) << shift;
        (SystemTime::UNIX_EPOCH + Duration::from_millis(from), SystemTime::UNIX_EPOCH + Duration::from_millis(until))
    }
}

/// The one id in `matches`, or the sentence for none or several. `kind` is `capture`,
/// `endpoint`…; `hint` says where to find whole ids.
pub(crate) fn pick_one(kind: &str, raw: &str, mut matches: Vec<String>, hint: &str) -> Result<String, CliError> {
    matches.sort_unstable();
    matches.dedup();
    match matches.len() {
        0 => Err(CliError::NotFound(format!("no {kind} id starts with `{raw}`; {hint}"))),
        1 => Ok(matches.remove(0)),
        n => {
            let more = if n > SHOWN { format!(" and {} more", n - SHOWN) } else { String::new() };
            Err(CliError::Usage(format!(
                "{n} {kind}s have ids starting with `{raw}` ({}{more}); give more of the id",
                matches.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_eight_or_more_hex_digits_dashes_optional() {
        assert_eq!(IdPrefix::parse("0193A1B2"), Some(IdPrefix("0193a1b2".into())));
        assert_eq!(IdPrefix::parse("0193a1b2-c3"), Some(IdPrefix("0193a1b2c3".into())));
        assert_eq!(IdPrefix::parse("0193a1b2c3"), Some(IdPrefix("0193a1b2c3".into())));
        assert_eq!(IdPrefix::parse("0193a1b"), None, "too short");
        assert_eq!(IdPrefix::parse("stripe-test"), None, "a name");
        assert_eq!(IdPrefix::parse("0193a1b2-c3d4-7000-8000-000000000001"), None, "a whole id");
        let p = IdPrefix::parse("0193a1b2-c3d4").unwrap();
        assert!(p.matches("0193A1B2-C3D4-7000-8000-000000000001"));
        assert!(!p.matches("0193a1b2-c3d5-7000-8000-000000000001"));
    }

    #[test]
    fn a_prefix_bounds_the_time_its_ids_were_made() {
        let (from, until) = IdPrefix::parse("0193a1b2").unwrap().time_window();
        let ms = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        assert_eq!(ms(from), 0x0193_a1b2_0000);
        assert_eq!(ms(until), 0x0193_a1b3_0000);
        let (from, until) = IdPrefix::parse("0193a1b2c3d47").unwrap().time_window();
        assert_eq!((ms(from), ms(until)), (0x0193a1b2c3d4, 0x0193a1b2c3d5), "digits past the time don't narrow it");
    }

    #[test]
    fn none_one_or_several() {
        let hint = "`hookmetry capture list` shows ids";
        assert_eq!(pick_one("capture", "0193", vec!["a".into(), "a".into()], hint).unwrap(), "a");
        let e = pick_one("capture", "0193a1b2", vec![], hint).unwrap_err().to_string();
        assert_eq!(e, "no capture id starts with `0193a1b2`; `hookmetry capture list` shows ids");
        let many: Vec<String> = (0..7).map(|i| format!("id{i}")).collect();
        let e = pick_one("capture", "0193a1b2", many, hint).unwrap_err().to_string();
        assert_eq!(
            e,
            "7 captures have ids starting with `0193a1b2` (id0, id1, id2, id3, id4 and 2 more); give more of the id"
        );
    }
}
