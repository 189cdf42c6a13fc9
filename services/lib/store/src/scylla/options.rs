//! How to reach the cluster: nodes, keyspace, consistency, and the replication a keyspace is
//! created with; parsed from `scylla://host:port,host:port/keyspace?option=value&…`.

use std::fmt;
use std::time::Duration;

use ::scylla::frame::types::{Consistency, SerialConsistency};

/// The CQL port when a node names none.
pub const DEFAULT_PORT: u16 = 9042;
/// The keyspace when the URL names none.
pub const DEFAULT_KEYSPACE: &str = "hookmetry";
/// Replication factor of a keyspace `migrate` creates when nothing else is said.
pub const DEFAULT_REPLICATION_FACTOR: u32 = 3;
/// How many capture rows one `captures` call may read before it answers with what it found.
/// See `paging::scan`.
pub const DEFAULT_MAX_ROWS_EXAMINED: usize = 10_000;

/// Replication of a keyspace `migrate` creates. An existing keyspace is never altered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `NetworkTopologyStrategy` with this factor in every datacenter.
    Factor(u32),
    /// `NetworkTopologyStrategy` with a factor per named datacenter.
    Datacenters(Vec<(String, u32)>),
    /// `SimpleStrategy`: one datacenter, no rack awareness; for development clusters.
    Simple(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScyllaOptions {
    /// Contact points as `host:port` (`[v6]:port` for IPv6 literals); the driver discovers the
    /// rest of the cluster from them.
    pub nodes: Vec<String>,
    /// Lowercase, `[a-z][a-z0-9_]*`, at most 48 characters.
    pub keyspace: String,
    /// Of every read and write. Lightweight transactions use `LOCAL_SERIAL` when this is a
    /// `LOCAL_*` level and `SERIAL` otherwise.
    pub consistency: Consistency,
    pub replication: Replication,
    /// Whether `migrate` may create the keyspace. Off when an operator manages keyspaces.
    pub create_keyspace: bool,
    /// Whether `ScyllaStore::open` migrates the schema itself; when off it only checks that the
    /// schema is at the version this build expects (run `migrate` separately, e.g. from a job).
    pub migrate: bool,
    /// Whether a keyspace `migrate` creates asks for vnodes instead of tablets (needed for the
    /// lightweight transactions of creating teams, tokens and endpoints; see `cql::create_keyspace`).
    pub disable_tablets: bool,
    /// Client-side timeout of one request, retries included.
    pub request_timeout: Duration,
    /// Most capture rows one `captures` call reads (filters are applied client-side).
    pub max_rows_examined: usize,
}

impl ScyllaOptions {
    /// Options for these nodes and keyspace with every other setting at its default.
    pub fn new(nodes: Vec<String>, keyspace: &str) -> Result<Self, OptionsError> {
        if nodes.is_empty() {
            return Err(OptionsError("at least one node is needed".into()));
        }
        let nodes = nodes.iter().map(|n| parse_node(n)).collect::<Result<_, _>>()?;
        Ok(Self {
            nodes,
            keyspace: parse_keyspace(keyspace)?,
            consistency: Consistency::LocalQuorum,
            replication: Replication::Factor(DEFAULT_REPLICATION_FACTOR),
            create_keyspace: true,
            migrate: true,
            disable_tablets: true,
            request_timeout: Duration::from_secs(12),
            max_rows_examined: DEFAULT_MAX_ROWS_EXAMINED,
        })
    }

    /// Parses `scylla://host[:port][,host[:port]…][/keyspace][?key=value&…]`. Keys:
    /// `consistency` (see [`parse_consistency`]), `replication_factor` (NetworkTopologyStrategy,
    /// every datacenter), `replication` (`dc1:3,dc2:2`), `simple_replication_factor`
    /// (SimpleStrategy), `create_keyspace`, `migrate`, `tablets` (`true`/`false`),
    /// `request_timeout_ms`, `max_rows_examined`. Unknown keys are errors, so a typo never goes
    /// unnoticed.
    pub fn from_url(url: &str) -> Result<Self, OptionsError> {
        let rest = url
            .strip_prefix("scylla://")
            .ok_or_else(|| OptionsError(format!("`{url}` does not start with scylla://")))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (hosts, keyspace) = match rest.split_once('/') {
            Some((h, k)) => (h, k),
            None => (rest, ""),
        };
        if hosts.is_empty() {
            return Err(OptionsError(format!("`{url}` names no node: use scylla://HOST:PORT[,…]/KEYSPACE")));
        }
        let keyspace = if keyspace.is_empty() { DEFAULT_KEYSPACE } else { keyspace };
        let mut options = Self::new(hosts.split(',').map(str::to_string).collect(), keyspace)?;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| OptionsError(format!("option `{pair}` has no value")))?;
            options.set(key, value)?;
        }
        Ok(options)
    }

    /// Sets one option by the name the URL uses.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), OptionsError> {
        let bad = |why: &str| OptionsError(format!("option {key}=`{value}`: {why}"));
        let flag = || match value {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(bad("expected true or false")),
        };
        match key {
            "consistency" => self.consistency = parse_consistency(value)?,
            "replication_factor" => self.replication = Replication::Factor(parse_factor(value).map_err(|e| bad(&e))?),
            "simple_replication_factor" => {
                self.replication = Replication::Simple(parse_factor(value).map_err(|e| bad(&e))?)
            }
            "replication" => {
                let dcs = value
                    .split(',')
                    .map(|dc| {
                        let (name, rf) = dc.split_once(':').ok_or_else(|| bad("expected DC:FACTOR[,DC:FACTOR…]"))?;
                        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                            return Err(bad("datacenter names are letters, digits, `_` and `-`"));
                        }
                        Ok((name.to_string(), parse_factor(rf).map_err(|e| bad(&e))?))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.replication = Replication::Datacenters(dcs);
            }
            "create_keyspace" => self.create_keyspace = flag()?,
            "migrate" => self.migrate = flag()?,
            "tablets" => self.disable_tablets = !flag()?,
            "request_timeout_ms" => {
                let ms: u64 =
                    value.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| bad("expected milliseconds > 0"))?;
                self.request_timeout = Duration::from_millis(ms);
            }
            "max_rows_examined" => {
                self.max_rows_examined =
                    value.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad("expected a number > 0"))?;
            }
            _ => {
                return Err(OptionsError(format!(
                    "unknown option `{key}` (known: consistency, replication_factor, replication, \
                     simple_replication_factor, create_keyspace, migrate, tablets, request_timeout_ms, \
                     max_rows_examined)"
                )));
            }
        }
        Ok(())
    }

    /// The serial consistency of lightweight transactions that goes with `consistency`.
    pub fn serial_consistency(&self) -> SerialConsistency {
        match self.consistency {
            Consistency::LocalQuorum | Consistency::LocalOne => SerialConsistency::LocalSerial,
            _ => SerialConsistency::Serial,
        }
    }
}

/// A URL or option the store cannot use; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError(pub String);

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scylla store: {}", self.0)
    }
}

impl std::error::Error for OptionsError {}

/// The level names of `store.scylla_consistency`, case-insensitively: `one`, `two`, `three`,
/// `quorum`, `all`, `local_quorum`, `local_one`. (`any` and `each_quorum` are write-only levels;
/// the store reads with the same level it writes with.)
pub fn parse_consistency(s: &str) -> Result<Consistency, OptionsError> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "local_one" => Consistency::LocalOne,
        _ => {
            return Err(OptionsError(format!(
                "consistency `{s}` is not one of one, two, three, quorum, all, local_quorum, local_one"
            )));
        }
    })
}

fn parse_factor(s: &str) -> Result<u32, String> {
    s.parse::<u32>().ok().filter(|rf| (1..=15).contains(rf)).ok_or_else(|| "expected a factor from 1 to 15".into())
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → `host:port` / `[v6]:port`.
fn parse_node(node: &str) -> Result<String, OptionsError> {
    let bad = |why: &str| OptionsError(format!("node `{node}`: {why}"));
    let (host, port) = if let Some(rest) = node.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(bad("not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("expected `:PORT` after `]`"))?),
        };
        (format!("[{v6}]"), port)
    } else {
        let (host, port) = match node.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (node, None),
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_') {
            return Err(bad("host names are letters, digits, `.`, `-` and `_` (IPv6 goes in brackets)"));
        }
        (host.to_string(), port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("port is not a number 1-65535"))?,
    };
    Ok(format!("{host}:{port}"))
}

fn parse_keyspace(ks: &str) -> Result<String, OptionsError> {
    let valid = ks.len() <= 48
        && ks.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(OptionsError(format!(
            "keyspace `{ks}` must start with a letter and be at most 48 letters, digits or `_`"
        )));
    }
    // Unquoted CQL identifiers are case-insensitive; keep the one spelling the server uses.
    Ok(ks.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_nodes_keyspace_and_defaults() {
        let o = ScyllaOptions::from_url("scylla://n1:9042,n2:19042/hookmetry").unwrap();
        assert_eq!(o.nodes, ["n1:9042", "n2:19042"]);
        assert_eq!(o.keyspace, "hookmetry");
        assert_eq!(o.consistency, Consistency::LocalQuorum);
        assert_eq!(o.serial_consistency(), SerialConsistency::LocalSerial);
        assert_eq!(o.replication, Replication::Factor(3));
        assert!(o.create_keyspace && o.migrate && o.disable_tablets);
        assert_eq!(o.max_rows_examined, DEFAULT_MAX_ROWS_EXAMINED);
    }

    #[test]
    fn url_defaults_port_and_keyspace_and_accepts_ipv6() {
        let o = ScyllaOptions::from_url("scylla://10.0.0.1,[::1]:9043,[fe80::1]").unwrap();
        assert_eq!(o.nodes, ["10.0.0.1:9042", "[::1]:9043", "[fe80::1]:9042"]);
        assert_eq!(o.keyspace, DEFAULT_KEYSPACE);
        assert_eq!(ScyllaOptions::from_url("scylla://n1/").unwrap().keyspace, DEFAULT_KEYSPACE);
        assert_eq!(ScyllaOptions::from_url("scylla://n1/HookMetry_2").unwrap().keyspace, "hookmetry_2");
    }

    #[test]
    fn url_options() {
        let o = ScyllaOptions::from_url(
            "scylla://n1/ks?consistency=QUORUM&replication=dc1:3,dc-2:2&create_keyspace=false&migrate=0\
             &tablets=true&request_timeout_ms=2500&max_rows_examined=500",
        )
        .unwrap();
        assert_eq!(o.consistency, Consistency::Quorum);
        assert_eq!(o.serial_consistency(), SerialConsistency::Serial);
        assert_eq!(o.replication, Replication::Datacenters(vec![("dc1".into(), 3), ("dc-2".into(), 2)]));
        assert!(!o.create_keyspace && !o.migrate && !o.disable_tablets);
        assert_eq!(o.request_timeout, Duration::from_millis(2500));
        assert_eq!(o.max_rows_examined, 500);
        let o = ScyllaOptions::from_url("scylla://n1/ks?replication_factor=1").unwrap();
        assert_eq!(o.replication, Replication::Factor(1));
        let o = ScyllaOptions::from_url("scylla://n1/ks?simple_replication_factor=2").unwrap();
        assert_eq!(o.replication, Replication::Simple(2));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("sqlite://x", "does not start with scylla://"),
            ("scylla://", "names no node"),
            ("scylla:///ks", "names no node"),
            ("scylla://n1,,n2/ks", "empty host"),
            ("scylla://n1:0/ks", "port"),
            ("scylla://n1:99999/ks", "port"),
            ("scylla://n1:x/ks", "port"),
            ("scylla://[::1/ks", "missing `]`"),
            ("scylla://[zz]/ks", "not an IPv6"),
            ("scylla://[::1]x/ks", "`:PORT`"),
            ("scylla://us er/ks", "host names"),
            ("scylla://n1/1ks", "keyspace"),
            ("scylla://n1/ks-x", "keyspace"),
            ("scylla://n1/ks;DROP", "keyspace"),
            ("scylla://n1/a/b", "keyspace"),
            ("scylla://n1/ks?consistency=any", "not one of"),
            ("scylla://n1/ks?consistency", "has no value"),
            ("scylla://n1/ks?replication_factor=0", "1 to 15"),
            ("scylla://n1/ks?replication=dc1", "DC:FACTOR"),
            ("scylla://n1/ks?replication=d'c:3", "datacenter names"),
            ("scylla://n1/ks?migrate=maybe", "true or false"),
            ("scylla://n1/ks?consistancy=one", "unknown option `consistancy`"),
        ] {
            let err = ScyllaOptions::from_url(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
        let long = format!("scylla://n1/{}", "k".repeat(49));
        assert!(ScyllaOptions::from_url(&long).is_err());
        assert!(ScyllaOptions::from_url(&format!("scylla://n1/{}", "k".repeat(48))).is_ok());
    }

    #[test]
    fn consistency_names_match_the_config_keys() {
        for (name, level) in [
            ("one", Consistency::One),
            ("two", Consistency::Two),
            ("three", Consistency::Three),
            ("quorum", Consistency::Quorum),
            ("all", Consistency::All),
            ("local_quorum", Consistency::LocalQuorum),
            ("LOCAL_ONE", Consistency::LocalOne),
        ] {
            assert_eq!(parse_consistency(name).unwrap(), level);
        }
        assert!(parse_consistency("each_quorum").is_err());
        assert!(parse_consistency("").is_err());
    }
}
