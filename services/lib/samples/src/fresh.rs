//! Fresh ids and timestamps for one sample.
//!
//! Ids are random in each provider's own alphabet and length, so they look like the real thing
//! and never collide between two triggers; times all derive from the one `now` a build is given,
//! so a sample is consistent with itself and with the time it is signed at.

use rand::Rng;
use rand::distr::{Alphanumeric, SampleString};

use crate::SampleError;

/// 9999-12-31T23:59:59Z: the last second every timestamp format here can write.
const MAX_SECS: i64 = 253_402_300_799;

/// The context one sample is built in.
#[derive(Debug)]
pub(crate) struct Cx {
    /// Unix seconds.
    pub now: i64,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl Cx {
    pub(crate) fn new(now: i64) -> Result<Self, SampleError> {
        // A day of slack at each end: samples also write times a little before and after now.
        if !(86_400..=MAX_SECS - 86_400 * 40).contains(&now) {
            return Err(SampleError::BadTime(now));
        }
        Ok(Cx { now })
    }

    /// `prefix` + `len` random letters and digits: `evt_1PqR…`, `cus_…`.
    pub(crate) fn id(&self, prefix: &str, len: usize) -> String {
        prefix.to_string() + &Alphanumeric.sample_string(&mut rand::rng(), len)
    }

    /// `prefix` + `len` random characters of `alphabet`.
    pub(crate) fn id_from(&self, prefix: &str, alphabet: &[u8], len: usize) -> String {
        let mut rng = rand::rng();
        let mut s = prefix.to_string();
        s.extend((0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])));
        s
    }

    /// Lowercase letters and digits, as Paddle's ids: `txn_01h…`.
    pub(crate) fn lower_id(&self, prefix: &str, len: usize) -> String {
        self.id_from(prefix, b"0123456789abcdefghijklmnopqrstuvwxyz", len)
    }

    /// Uppercase letters and digits, as Slack's and Square's ids: `T04ABC…`.
    pub(crate) fn upper_id(&self, prefix: &str, len: usize) -> String {
        self.id_from(prefix, b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", len)
    }

    /// Lowercase hex, as Twilio's SIDs and git object names.
    pub(crate) fn hex(&self, prefix: &str, len: usize) -> String {
        self.id_from(prefix, b"0123456789abcdef", len)
    }

    /// A number of exactly `digits` digits (at most 18), as numeric ids.
    pub(crate) fn number(&self, digits: u32) -> u64 {
        let low = 10u64.pow(digits.clamp(1, 18) - 1);
        rand::rng().random_range(low..low * 10)
    }

    /// A random (version 4) UUID, lowercase with hyphens.
    pub(crate) fn uuid(&self) -> String {
        uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid().to_string()
    }

    /// `now + offset` in RFC 3339 UTC with `frac` fraction digits (0, 3 or 6), e.g.
    /// `2025-01-01T00:00:00Z`, `2025-01-01T00:00:00.000Z`.
    pub(crate) fn iso(&self, offset: i64, frac: usize) -> String {
        let full = hookmetry_core::format_rfc3339((self.now + offset) * 1_000_000);
        // `YYYY-MM-DDTHH:MM:SS.ffffffZ`: keep the seconds and `frac` digits of the fraction.
        let keep = if frac == 0 { 19 } else { 20 + frac.min(6) };
        format!("{}Z", &full[..keep])
    }

    /// `now + offset` in the shop-local form Shopify writes, at a fixed UTC-4 offset.
    pub(crate) fn local_iso(&self, offset: i64) -> String {
        let full = hookmetry_core::format_rfc3339((self.now + offset - 4 * 3600) * 1_000_000);
        format!("{}-04:00", &full[..19])
    }

    /// `now` as RFC 2822 in UTC, as Twilio's call status callbacks write it:
    /// `Wed, 01 Jan 2025 00:00:00 +0000`.
    pub(crate) fn rfc2822(&self) -> String {
        let full = hookmetry_core::format_rfc3339(self.now * 1_000_000);
        let (year, month, day, time) = (&full[..4], &full[5..7], &full[8..10], &full[11..19]);
        let month = MONTHS[month.parse::<usize>().unwrap_or(1) - 1];
        let weekday = DAYS[self.now.div_euclid(86_400).rem_euclid(7) as usize];
        format!("{weekday}, {day} {month} {year} {time} +0000")
    }

    /// `now` in Unix milliseconds.
    pub(crate) fn millis(&self) -> i64 {
        self.now * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_from_now() {
        let cx = Cx::new(1_735_689_600).unwrap(); // 2025-01-01T00:00:00Z, a Wednesday.
        assert_eq!(cx.iso(0, 0), "2025-01-01T00:00:00Z");
        assert_eq!(cx.iso(61, 3), "2025-01-01T00:01:01.000Z");
        assert_eq!(cx.iso(-1, 6), "2024-12-31T23:59:59.000000Z");
        assert_eq!(cx.local_iso(0), "2024-12-31T20:00:00-04:00");
        assert_eq!(cx.rfc2822(), "Wed, 01 Jan 2025 00:00:00 +0000");
        assert_eq!(Cx::new(86_400).unwrap().rfc2822(), "Fri, 02 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn ids_have_their_alphabet_and_length() {
        let cx = Cx::new(1_735_689_600).unwrap();
        let id = cx.id("evt_", 24);
        assert!(id.starts_with("evt_") && id.len() == 28 && id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(cx.hex("SM", 32)[2..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(cx.upper_id("T", 10)[1..].bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        assert_eq!(cx.number(9).to_string().len(), 9);
        let u = cx.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version 4");
        assert_ne!(cx.uuid(), u);
    }

    #[test]
    fn times_that_cannot_be_written_are_refused() {
        assert!(Cx::new(0).is_err());
        assert!(Cx::new(-5).is_err());
        assert!(Cx::new(MAX_SECS).is_err());
        assert!(Cx::new(1_700_000_000).is_ok());
    }
}
