use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A size in bytes, written `10MiB`, `64KiB`, `1GB` or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A duration written `250ms`, `30s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (n, unit) in UNITS {
            if self.0 >= n && self.0.is_multiple_of(n) {
                return write!(f, "{}{unit}", self.0 / n);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// A size as bytesize reads it: a whole or decimal number, optional space, and an optional unit
/// from B, K(i)B, M(i)B, G(i)B, T(i)B, P(i)B, E(i)B in any case (`K`, `Mi`… without the `B`
/// too). The error messages are ours: bytesize's name no unit and it saturates on overflow.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    match s.parse::<bytesize::ByteSize>() {
        Ok(size) if size.as_u64() == u64::MAX && s.parse::<u64>().is_err() => Err(format!("size `{s}` is too large")),
        Ok(size) => Ok(size.as_u64()),
        Err(_) => {
            let number_end = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
            let (number, unit) = s.split_at(number_end);
            let unit = unit.trim();
            if number.parse::<f64>().is_ok() && unit.parse::<bytesize::Unit>().is_err() {
                Err(format!("unknown size unit `{unit}` in `{s}` (use B, KiB, MiB, GiB, KB, MB or GB)"))
            } else {
                Err(format!("`{s}` is not a size (e.g. 10MiB, 512KiB, 1048576)"))
            }
        }
    }
}

/// A duration as humantime reads it: `250ms`, `30s`, `5m`, `1h`, also `1h 30m`, `1.5s` and the
/// longer unit names. The error messages are ours, in the words the config has always used.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    use humantime::DurationError;
    let s = s.trim();
    humantime::parse_duration(s).map_err(|e| match e {
        DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
            format!("duration `{s}` needs a unit (ms, s, m or h)")
        }
        DurationError::UnknownUnit { unit, .. } => {
            format!("unknown duration unit `{unit}` in `{s}` (use ms, s, m or h)")
        }
        DurationError::NumberOverflow => format!("duration `{s}` is too large"),
        _ => format!("`{s}` is not a duration (e.g. 250ms, 30s, 5m)"),
    })
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"10MiB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(HumanDuration).map_err(de::Error::custom)
    }
}

/// CIDR blocks or single addresses (taken as /32 or /128).
pub(crate) fn deserialize_nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let items = Vec::<String>::deserialize(d)?;
    items
        .iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| de::Error::custom(format!("`{s}` is not an IP address or CIDR block")))
        })
        .collect()
}

/// `"auto"` (`None`), or a boolean written as `true` / `false` (also as a string, which is how the
/// environment and `--set` give it, since the default is the string `"auto"`).
pub(crate) fn deserialize_auto_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true, false or \"auto\"")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<bool>, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<bool>, E> {
            match v.trim() {
                "auto" => Ok(None),
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                other => Err(E::custom(format!("expected true, false or \"auto\", got `{other}`"))),
            }
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    // What the hand-written parsers accepted, with the same values, and the same messages for
    // what they refused.
    #[test]
    fn sizes_keep_their_syntax_and_messages() {
        for (text, bytes) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("10B", 10),
            ("64KiB", 64 << 10),
            ("10 MiB", 10 << 20),
            (" 1GiB ", 1 << 30),
            ("2KB", 2_000),
            ("2kB", 2_000),
            ("3MB", 3_000_000),
            ("1GB", 1_000_000_000),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        assert_eq!(
            parse_size("10 parsecs").unwrap_err(),
            "unknown size unit `parsecs` in `10 parsecs` (use B, KiB, MiB, GiB, KB, MB or GB)"
        );
        for bad in ["", "MiB", "ten", "-1", "1.2.3MiB"] {
            assert_eq!(parse_size(bad).unwrap_err(), format!("`{bad}` is not a size (e.g. 10MiB, 512KiB, 1048576)"));
        }
        assert_eq!(parse_size("16EiB").unwrap_err(), "size `16EiB` is too large");
        assert_eq!(parse_size("99999999999999999999GiB").unwrap_err(), "size `99999999999999999999GiB` is too large");
    }

    #[test]
    fn durations_keep_their_syntax_and_messages() {
        for (text, d) in [
            ("0ms", Duration::ZERO),
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("5 m", Duration::from_secs(300)),
            (" 1h ", Duration::from_secs(3600)),
        ] {
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
        assert_eq!(parse_duration("5").unwrap_err(), "duration `5` needs a unit (ms, s, m or h)");
        assert_eq!(
            parse_duration("5 fortnights").unwrap_err(),
            "unknown duration unit `fortnights` in `5 fortnights` (use ms, s, m or h)"
        );
        for bad in ["", "soon", "-5s"] {
            assert_eq!(parse_duration(bad).unwrap_err(), format!("`{bad}` is not a duration (e.g. 250ms, 30s, 5m)"));
        }
    }
}
