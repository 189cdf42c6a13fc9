use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// How far the product's clock is moved from the system's, in microseconds: always 0 in the
/// product. Tests move it (see [`clock`]) so that a test which only passes near the date it was
/// written fails today rather than next year.
static CLOCK_SHIFT_MICROS: AtomicI64 = AtomicI64::new(0);

impl Timestamp {
    /// Now, by the product's one wall clock. Everything that stamps, schedules or expires by the
    /// calendar reads it (ids too, see [`crate::CaptureId::new`]), so that tests can move it.
    pub fn now() -> Self {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let real = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self(real.saturating_add(CLOCK_SHIFT_MICROS.load(Ordering::Relaxed)))
    }

    pub fn from_micros(us: i64) -> Self {
        Self(us)
    }

    pub fn micros(&self) -> i64 {
        self.0
    }

    pub fn to_rfc3339(&self) -> String {
        format_rfc3339(self.0)
    }

    /// Parses RFC 3339 (`2026-11-27T09:00:00Z`, `2026-11-27T10:00:00.5+01:00`; `t`/`z` and a
    /// space for `T` accepted; `:60` counts as the next second's start). Fractions beyond
    /// microseconds are cut, not rounded.
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Self(t.timestamp_micros()))
            .map_err(|_| format!("`{s}` is not an RFC 3339 time such as 2026-11-27T09:00:00Z"))
    }
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-27T06:55:08.123456Z`.
pub fn format_rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z", sod / 3600, (sod % 3600) / 60, sod % 60)
}

// Howard Hinnant's days-to-civil algorithm: total over every `i64` of microseconds, where chrono's
// calendar ends at year 262143 and its formatter signs years past 9999.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The test hook of the product's clock. Nothing in the product calls it: the test suites do,
/// through [`clock::shift_from_env`], and CI runs the calendar-sensitive suites a second time with
/// `HOOKMETRY_TEST_CLOCK_SHIFT_DAYS=365`.
pub mod clock {
    use super::{CLOCK_SHIFT_MICROS, Ordering};

    /// The variable [`shift_from_env`] reads: whole days, may be negative. Only tests read it.
    pub const SHIFT_ENV: &str = "HOOKMETRY_TEST_CLOCK_SHIFT_DAYS";

    const MICROS_PER_DAY: i64 = 86_400_000_000;

    /// Moves this process's clock to `days` days from the system's.
    pub fn shift_days(days: i64) {
        CLOCK_SHIFT_MICROS.store(days.saturating_mul(MICROS_PER_DAY), Ordering::Relaxed);
    }

    /// Whole days the clock is moved by now.
    pub fn shifted_days() -> i64 {
        CLOCK_SHIFT_MICROS.load(Ordering::Relaxed) / MICROS_PER_DAY
    }

    /// Moves the clock by [`SHIFT_ENV`] days when it is set, and returns the shift. For test
    /// harnesses: call it before making any data. Panics on a value that is not a whole number of
    /// days, so a typo cannot turn the guard off silently, and says once on stderr (past the test
    /// harness's capture) that the clock was moved, so a run can prove it was.
    pub fn shift_from_env() -> i64 {
        let days = match std::env::var(SHIFT_ENV) {
            Ok(v) => parse_shift(&v).unwrap_or_else(|e| panic!("{e}")),
            Err(_) => 0,
        };
        shift_days(days);
        if days != 0 {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "clock: moved {days} days from the system clock ({SHIFT_ENV})");
            });
        }
        days
    }

    /// The value of [`SHIFT_ENV`]: whole days, `0` when empty.
    pub fn parse_shift(value: &str) -> Result<i64, String> {
        let v = value.trim();
        if v.is_empty() {
            return Ok(0);
        }
        v.parse::<i64>()
            .ok()
            .filter(|d| d.unsigned_abs() <= 100_000)
            .ok_or_else(|| format!("{SHIFT_ENV}=`{value}` is not a whole number of days within ±100000 (e.g. 365)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T23:59:59.5Z, a leap day.
        assert_eq!(format_rfc3339(1_709_251_199_500_000), "2024-02-29T23:59:59.500000Z");
        assert_eq!(format_rfc3339(1_795_762_508_000_001), "2026-11-27T06:55:08.000001Z");
    }

    #[test]
    fn parses_what_it_formats_and_common_forms() {
        for us in [0, 1_709_251_199_500_000, 1_795_762_508_000_001, -86_400_000_000] {
            assert_eq!(Timestamp::parse_rfc3339(&format_rfc3339(us)).unwrap().micros(), us);
        }
        let p = |s: &str| Timestamp::parse_rfc3339(s).map(|t| t.micros());
        assert_eq!(p("2026-11-27T06:55:08Z"), Ok(1_795_762_508_000_000));
        assert_eq!(p("2026-11-27t07:55:08.000001+01:00"), Ok(1_795_762_508_000_001));
        assert_eq!(p("2026-11-27 01:55:08.1234567-05:00"), Ok(1_795_762_508_123_456));
        assert_eq!(p("2016-12-31T23:59:60Z"), p("2017-01-01T00:00:00Z"));
        for bad in [
            "",
            "2026-11-27",
            "2026-02-29T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T06:55:08",
            "2026-11-27T06:55:08.Z",
            "2026-11-27T06:55:08+0100",
            "２０２６-11-27T06:55:08Z",
        ] {
            let e = Timestamp::parse_rfc3339(bad).unwrap_err();
            assert!(e.contains("not an RFC 3339 time"), "{bad}: {e}");
        }
    }
}
