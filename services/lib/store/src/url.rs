//! `store.url`, parsed once: `sqlite://PATH` or
//! `scylla://HOST[:PORT][,HOST[:PORT]…][/KEYSPACE][?name=value&…]`.
//!
//! Parsed whether or not this build has the `scylla` feature, so a bad URL fails where the
//! configuration is loaded; [`crate::open`] says when the backend itself is missing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The CQL port when a node names none.
pub const DEFAULT_PORT: u16 = 9042;
/// The keyspace when the URL names none.
pub const DEFAULT_KEYSPACE: &str = "hookmetry";

/// Which store a process runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded SQLite file; several processes on one host may share it.
    Sqlite { path: PathBuf },
    /// A ScyllaDB (or Cassandra) cluster.
    Scylla {
        /// Contact points as `host:port` (`[v6]:port` for IPv6 literals).
        nodes: Vec<String>,
        /// Lowercase, `[a-z][a-z0-9_]*`, at most 48 characters.
        keyspace: String,
        options: ScyllaUrlOptions,
    },
}

impl StoreUrl {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, StoreUrl::Sqlite { .. })
    }

    /// The backend's name, for log lines.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreUrl::Sqlite { .. } => "sqlite",
            StoreUrl::Scylla { .. } => "scylla",
        }
    }
}

/// Without the query.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            StoreUrl::Scylla { nodes, keyspace, .. } => write!(f, "scylla://{}/{keyspace}", nodes.join(",")),
        }
    }
}

/// What the query of a `scylla://` URL sets; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScyllaUrlOptions {
    /// `consistency` (see [`Consistency`]).
    pub consistency: Option<Consistency>,
    /// `replication_factor`, `replication` (`dc1:3,dc2:2`) or `simple_replication_factor`.
    pub replication: Option<Replication>,
    /// `create_keyspace`.
    pub create_keyspace: Option<bool>,
    /// `migrate`.
    pub migrate: Option<bool>,
    /// `tablets`.
    pub tablets: Option<bool>,
    /// `request_timeout_ms`.
    pub request_timeout: Option<Duration>,
    /// `max_rows_examined`.
    pub max_rows_examined: Option<usize>,
}

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

/// Consistency level of every read and write. (`any` and `each_quorum` are write-only levels;
/// the store reads with the same level it writes with.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    LocalOne,
}

impl FromStr for Consistency {
    type Err = StoreUrlError;

    /// `one`, `two`, `three`, `quorum`, `all`, `local_quorum`, `local_one`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, StoreUrlError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "one" => Consistency::One,
            "two" => Consistency::Two,
            "three" => Consistency::Three,
            "quorum" => Consistency::Quorum,
            "all" => Consistency::All,
            "local_quorum" => Consistency::LocalQuorum,
            "local_one" => Consistency::LocalOne,
            _ => return Err(StoreUrlError::Consistency(s.to_owned())),
        })
    }
}

/// A store URL that cannot be used; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    #[error("`{0}` is not a store URL: use sqlite://PATH or scylla://HOST:PORT[,…]/KEYSPACE")]
    NotAStoreUrl(String),
    #[error("scylla store: `{0}` does not start with scylla://")]
    NotScylla(String),
    #[error("scylla store: `{0}` names no node: use scylla://HOST:PORT[,…]/KEYSPACE")]
    NoNode(String),
    #[error("scylla store: at least one node is needed")]
    NoNodes,
    #[error("scylla store: node `{node}`: {reason}")]
    Node { node: String, reason: &'static str },
    #[error("scylla store: keyspace `{0}` must start with a letter and be at most 48 letters, digits or `_`")]
    Keyspace(String),
    #[error("scylla store: option `{0}` has no value")]
    NoValue(String),
    #[error("scylla store: option {key}=`{value}`: {reason}")]
    Option { key: String, value: String, reason: &'static str },
    #[error(
        "scylla store: unknown option `{0}` (known: consistency, replication_factor, replication, \
         simple_replication_factor, create_keyspace, migrate, tablets, request_timeout_ms, max_rows_examined)"
    )]
    UnknownOption(String),
    #[error("scylla store: consistency `{0}` is not one of one, two, three, quorum, all, local_quorum, local_one")]
    Consistency(String),
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    /// An empty URL is refused here: what it means (the SQLite file in the data directory) is
    /// the configuration's to say.
    fn from_str(url: &str) -> Result<Self, StoreUrlError> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite://").filter(|p| !p.is_empty()) {
            return Ok(StoreUrl::Sqlite { path: PathBuf::from(path) });
        }
        if url.strip_prefix("scylla://").is_some_and(|rest| !rest.is_empty()) {
            return parse_scylla(url);
        }
        Err(StoreUrlError::NotAStoreUrl(url.to_owned()))
    }
}

/// Parses a whole `scylla://` URL. Unknown query names are errors, so a typo never goes
/// unnoticed.
pub(crate) fn parse_scylla(url: &str) -> Result<StoreUrl, StoreUrlError> {
    let rest = url.strip_prefix("scylla://").ok_or_else(|| StoreUrlError::NotScylla(url.to_owned()))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (hosts, keyspace) = rest.split_once('/').unwrap_or((rest, ""));
    if hosts.is_empty() {
        return Err(StoreUrlError::NoNode(url.to_owned()));
    }
    let nodes = parse_nodes(hosts.split(','))?;
    let keyspace = parse_keyspace(if keyspace.is_empty() { DEFAULT_KEYSPACE } else { keyspace })?;
    let mut options = ScyllaUrlOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| StoreUrlError::NoValue(pair.to_owned()))?;
        options.set(key, value)?;
    }
    Ok(StoreUrl::Scylla { nodes, keyspace, options })
}

impl ScyllaUrlOptions {
    fn set(&mut self, key: &str, value: &str) -> Result<(), StoreUrlError> {
        let bad = |reason| StoreUrlError::Option { key: key.to_owned(), value: value.to_owned(), reason };
        let flag = || match value {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(bad("expected true or false")),
        };
        let factor = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|rf| (1..=15).contains(rf))
                .ok_or_else(|| bad("expected a factor from 1 to 15"))
        };
        match key {
            "consistency" => self.consistency = Some(value.parse()?),
            "replication_factor" => self.replication = Some(Replication::Factor(factor(value)?)),
            "simple_replication_factor" => self.replication = Some(Replication::Simple(factor(value)?)),
            "replication" => {
                let dcs = value
                    .split(',')
                    .map(|dc| {
                        let (name, rf) = dc.split_once(':').ok_or_else(|| bad("expected DC:FACTOR[,DC:FACTOR…]"))?;
                        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                            return Err(bad("datacenter names are letters, digits, `_` and `-`"));
                        }
                        Ok((name.to_owned(), factor(rf)?))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.replication = Some(Replication::Datacenters(dcs));
            }
            "create_keyspace" => self.create_keyspace = Some(flag()?),
            "migrate" => self.migrate = Some(flag()?),
            "tablets" => self.tablets = Some(flag()?),
            "request_timeout_ms" => {
                let ms: u64 =
                    value.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| bad("expected milliseconds > 0"))?;
                self.request_timeout = Some(Duration::from_millis(ms));
            }
            "max_rows_examined" => {
                let n = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad("expected a number > 0"))?;
                self.max_rows_examined = Some(n);
            }
            _ => return Err(StoreUrlError::UnknownOption(key.to_owned())),
        }
        Ok(())
    }
}

/// Every node as `host:port` / `[v6]:port`; at least one.
pub(crate) fn parse_nodes<'a>(nodes: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, StoreUrlError> {
    let nodes = nodes.into_iter().map(parse_node).collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() { Err(StoreUrlError::NoNodes) } else { Ok(nodes) }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → `host:port` / `[v6]:port`.
fn parse_node(node: &str) -> Result<String, StoreUrlError> {
    let bad = |reason| StoreUrlError::Node { node: node.to_owned(), reason };
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
        (host.to_owned(), port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("port is not a number 1-65535"))?,
    };
    Ok(format!("{host}:{port}"))
}

pub(crate) fn parse_keyspace(ks: &str) -> Result<String, StoreUrlError> {
    let valid = ks.len() <= 48
        && ks.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(StoreUrlError::Keyspace(ks.to_owned()));
    }
    // Unquoted CQL identifiers are case-insensitive; keep the one spelling the server uses.
    Ok(ks.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scylla(url: &str) -> (Vec<String>, String, ScyllaUrlOptions) {
        match url.parse::<StoreUrl>() {
            Ok(StoreUrl::Scylla { nodes, keyspace, options }) => (nodes, keyspace, options),
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn sqlite_takes_the_rest_as_the_path() {
        for (url, path) in [
            ("sqlite:///var/lib/hm/db", "/var/lib/hm/db"),
            ("sqlite://./data/x.db", "./data/x.db"),
            (" sqlite://a ", "a"),
        ] {
            assert_eq!(url.parse::<StoreUrl>(), Ok(StoreUrl::Sqlite { path: PathBuf::from(path) }), "{url}");
        }
        let url: StoreUrl = "sqlite:///d.db".parse().unwrap();
        assert!(url.is_sqlite());
        assert_eq!((url.kind(), url.to_string()), ("sqlite", "sqlite:///d.db".to_owned()));
    }

    #[test]
    fn scylla_nodes_and_keyspace_in_every_accepted_spelling() {
        for (url, nodes, keyspace) in [
            ("scylla://n1:9042,n2:19042/hookmetry", vec!["n1:9042", "n2:19042"], "hookmetry"),
            (
                "scylla://10.0.0.1,[::1]:9043,[fe80::1]",
                vec!["10.0.0.1:9042", "[::1]:9043", "[fe80::1]:9042"],
                "hookmetry",
            ),
            ("scylla://n1/", vec!["n1:9042"], "hookmetry"),
            ("scylla://n1/HookMetry_2", vec!["n1:9042"], "hookmetry_2"),
            ("scylla://n1?", vec!["n1:9042"], "hookmetry"),
            (" scylla://my-node.local_1:1/ks ", vec!["my-node.local_1:1"], "ks"),
        ] {
            let (got_nodes, got_keyspace, options) = scylla(url);
            assert_eq!((got_nodes, got_keyspace.as_str()), (nodes.iter().map(|n| n.to_string()).collect(), keyspace));
            assert_eq!(options, ScyllaUrlOptions::default(), "{url}");
        }
        assert!(scylla(&format!("scylla://n1/{}", "k".repeat(48))).1.len() == 48);
        let url: StoreUrl = "scylla://n1,n2:1/ks?migrate=false".parse().unwrap();
        assert!(!url.is_sqlite());
        assert_eq!((url.kind(), url.to_string()), ("scylla", "scylla://n1:9042,n2:1/ks".to_owned()));
    }

    #[test]
    fn scylla_query_sets_typed_options() {
        let (_, _, o) = scylla(
            "scylla://n1/ks?consistency=QUORUM&replication=dc1:3,dc-2:2&create_keyspace=false&migrate=0\
             &tablets=true&request_timeout_ms=2500&max_rows_examined=500",
        );
        assert_eq!(
            o,
            ScyllaUrlOptions {
                consistency: Some(Consistency::Quorum),
                replication: Some(Replication::Datacenters(vec![("dc1".into(), 3), ("dc-2".into(), 2)])),
                create_keyspace: Some(false),
                migrate: Some(false),
                tablets: Some(true),
                request_timeout: Some(Duration::from_millis(2500)),
                max_rows_examined: Some(500),
            }
        );
        for (query, replication) in [
            ("replication_factor=1", Replication::Factor(1)),
            ("simple_replication_factor=2", Replication::Simple(2)),
            ("replication_factor=15", Replication::Factor(15)),
        ] {
            assert_eq!(scylla(&format!("scylla://n1/ks?{query}")).2.replication, Some(replication), "{query}");
        }
        for (flag, value) in [("1", true), ("yes", true), ("true", true), ("0", false), ("no", false), ("false", false)]
        {
            assert_eq!(scylla(&format!("scylla://n1?create_keyspace={flag}")).2.create_keyspace, Some(value));
        }
        // The keyspace or a host saying "replication" is not a replication option.
        assert_eq!(scylla("scylla://replication/replication").2.replication, None);
    }

    #[test]
    fn consistency_names_are_case_insensitive() {
        for (name, level) in [
            ("one", Consistency::One),
            ("two", Consistency::Two),
            ("three", Consistency::Three),
            ("quorum", Consistency::Quorum),
            ("all", Consistency::All),
            ("local_quorum", Consistency::LocalQuorum),
            ("LOCAL_ONE", Consistency::LocalOne),
        ] {
            assert_eq!(name.parse::<Consistency>(), Ok(level));
        }
        for bad in ["each_quorum", "any", ""] {
            assert_eq!(
                bad.parse::<Consistency>().unwrap_err().to_string(),
                format!(
                    "scylla store: consistency `{bad}` is not one of one, two, three, quorum, all, local_quorum, \
                     local_one"
                )
            );
        }
    }

    #[test]
    fn refused_urls_say_what_is_wrong() {
        for url in ["", "postgres://x", "sqlite://", "scylla://", "SCYLLA://n1", "scylla:/n1", "  "] {
            assert_eq!(
                url.parse::<StoreUrl>().unwrap_err().to_string(),
                format!("`{}` is not a store URL: use sqlite://PATH or scylla://HOST:PORT[,…]/KEYSPACE", url.trim()),
                "{url}"
            );
        }
        let long = format!("scylla://n1/{}", "k".repeat(49));
        for (url, message) in [
            ("scylla:///ks", "scylla store: `scylla:///ks` names no node: use scylla://HOST:PORT[,…]/KEYSPACE"),
            (
                "scylla://?migrate=1",
                "scylla store: `scylla://?migrate=1` names no node: use scylla://HOST:PORT[,…]/KEYSPACE",
            ),
            ("scylla://n1,,n2/ks", "scylla store: node ``: empty host"),
            ("scylla://:9042/ks", "scylla store: node `:9042`: empty host"),
            ("scylla://n1:0/ks", "scylla store: node `n1:0`: port is not a number 1-65535"),
            ("scylla://n1:99999/ks", "scylla store: node `n1:99999`: port is not a number 1-65535"),
            ("scylla://n1:x/ks", "scylla store: node `n1:x`: port is not a number 1-65535"),
            ("scylla://[::1/ks", "scylla store: node `[::1`: missing `]`"),
            ("scylla://[zz]/ks", "scylla store: node `[zz]`: not an IPv6 address"),
            ("scylla://[]/ks", "scylla store: node `[]`: not an IPv6 address"),
            ("scylla://[::1]x/ks", "scylla store: node `[::1]x`: expected `:PORT` after `]`"),
            (
                "scylla://us er/ks",
                "scylla store: node `us er`: host names are letters, digits, `.`, `-` and `_` (IPv6 goes in brackets)",
            ),
            (
                "scylla://n1/1ks",
                "scylla store: keyspace `1ks` must start with a letter and be at most 48 letters, digits or `_`",
            ),
            ("scylla://n1/ks-x", "scylla store: keyspace `ks-x` must start"),
            ("scylla://n1/ks;DROP", "scylla store: keyspace `ks;DROP` must start"),
            ("scylla://n1/a/b", "scylla store: keyspace `a/b` must start"),
            (&long, "scylla store: keyspace `kkkk"),
            ("scylla://n1/ks?consistency=any", "scylla store: consistency `any` is not one of"),
            ("scylla://n1/ks?consistency", "scylla store: option `consistency` has no value"),
            (
                "scylla://n1/ks?replication_factor=0",
                "scylla store: option replication_factor=`0`: expected a factor from 1 to 15",
            ),
            ("scylla://n1/ks?replication_factor=16", "scylla store: option replication_factor=`16`: expected a factor"),
            (
                "scylla://n1/ks?simple_replication_factor=x",
                "scylla store: option simple_replication_factor=`x`: expected",
            ),
            (
                "scylla://n1/ks?replication=dc1",
                "scylla store: option replication=`dc1`: expected DC:FACTOR[,DC:FACTOR…]",
            ),
            (
                "scylla://n1/ks?replication=dc1:0",
                "scylla store: option replication=`dc1:0`: expected a factor from 1 to 15",
            ),
            (
                "scylla://n1/ks?replication=d'c:3",
                "scylla store: option replication=`d'c:3`: datacenter names are letters, digits, `_` and `-`",
            ),
            ("scylla://n1/ks?migrate=maybe", "scylla store: option migrate=`maybe`: expected true or false"),
            ("scylla://n1/ks?tablets=on", "scylla store: option tablets=`on`: expected true or false"),
            (
                "scylla://n1/ks?request_timeout_ms=0",
                "scylla store: option request_timeout_ms=`0`: expected milliseconds > 0",
            ),
            (
                "scylla://n1/ks?max_rows_examined=-1",
                "scylla store: option max_rows_examined=`-1`: expected a number > 0",
            ),
            (
                "scylla://n1/ks?consistancy=one",
                "scylla store: unknown option `consistancy` (known: consistency, replication_factor, replication, \
                 simple_replication_factor, create_keyspace, migrate, tablets, request_timeout_ms, max_rows_examined)",
            ),
        ] {
            let err = url.parse::<StoreUrl>().unwrap_err().to_string();
            assert!(err.starts_with(message), "{url}: {err}");
        }
        assert_eq!(
            parse_scylla("sqlite://x").unwrap_err().to_string(),
            "scylla store: `sqlite://x` does not start with scylla://"
        );
        assert_eq!(
            parse_scylla("scylla://").unwrap_err().to_string(),
            "scylla store: `scylla://` names no node: use scylla://HOST:PORT[,…]/KEYSPACE"
        );
        assert_eq!(parse_nodes([]).unwrap_err(), StoreUrlError::NoNodes);
    }
}
