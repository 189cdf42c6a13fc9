//! How to reach the cluster: nodes, keyspace, consistency, and the replication a keyspace is
//! created with; the defaults, then what a `scylla://` URL ([`crate::StoreUrl`]) says.

use std::time::Duration;

use ::scylla::frame::types::{Consistency, SerialConsistency};

pub use crate::url::{DEFAULT_KEYSPACE, DEFAULT_PORT, Replication};
use crate::url::{ScyllaUrlOptions, StoreUrl, StoreUrlError, parse_keyspace, parse_nodes, parse_scylla};

/// Replication factor of a keyspace `migrate` creates when nothing else is said.
pub const DEFAULT_REPLICATION_FACTOR: u32 = 3;
/// How many capture rows one `captures` call may read before it answers with what it found.
/// See `paging::scan`.
pub const DEFAULT_MAX_ROWS_EXAMINED: usize = 10_000;

/// A URL or option the store cannot use; the message names the offending part.
pub type OptionsError = StoreUrlError;

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
        let nodes = parse_nodes(nodes.iter().map(String::as_str))?;
        Ok(Self::with_defaults(nodes, parse_keyspace(keyspace)?))
    }

    /// Nodes and keyspace as a [`StoreUrl`] gives them (already checked), with what its query set
    /// over the defaults.
    pub fn from_url_options(nodes: &[String], keyspace: &str, url: &ScyllaUrlOptions) -> Self {
        let d = Self::with_defaults(nodes.to_vec(), keyspace.to_owned());
        Self {
            consistency: url.consistency.map_or(d.consistency, Into::into),
            replication: url.replication.clone().unwrap_or(d.replication.clone()),
            create_keyspace: url.create_keyspace.unwrap_or(d.create_keyspace),
            migrate: url.migrate.unwrap_or(d.migrate),
            disable_tablets: url.tablets.map_or(d.disable_tablets, |tablets| !tablets),
            request_timeout: url.request_timeout.unwrap_or(d.request_timeout),
            max_rows_examined: url.max_rows_examined.unwrap_or(d.max_rows_examined),
            ..d
        }
    }

    /// Reads `scylla://host[:port][,host[:port]…][/keyspace][?key=value&…]` through
    /// [`StoreUrl`], for callers that hold a URL rather than a parsed one (tests, tools).
    pub fn from_url(url: &str) -> Result<Self, OptionsError> {
        match parse_scylla(url)? {
            StoreUrl::Scylla { nodes, keyspace, options } => Ok(Self::from_url_options(&nodes, &keyspace, &options)),
            StoreUrl::Sqlite { .. } => Err(StoreUrlError::NotScylla(url.to_owned())),
        }
    }

    fn with_defaults(nodes: Vec<String>, keyspace: String) -> Self {
        Self {
            nodes,
            keyspace,
            consistency: Consistency::LocalQuorum,
            replication: Replication::Factor(DEFAULT_REPLICATION_FACTOR),
            create_keyspace: true,
            migrate: true,
            disable_tablets: true,
            request_timeout: Duration::from_secs(12),
            max_rows_examined: DEFAULT_MAX_ROWS_EXAMINED,
        }
    }

    /// The serial consistency of lightweight transactions that goes with `consistency`.
    pub fn serial_consistency(&self) -> SerialConsistency {
        match self.consistency {
            Consistency::LocalQuorum | Consistency::LocalOne => SerialConsistency::LocalSerial,
            _ => SerialConsistency::Serial,
        }
    }

    /// The level of a read that must see every committed lightweight transaction (a Paxos read
    /// at the serial level that goes with `consistency`).
    pub fn serial_read_consistency(&self) -> Consistency {
        match self.serial_consistency() {
            SerialConsistency::LocalSerial => Consistency::LocalSerial,
            SerialConsistency::Serial => Consistency::Serial,
        }
    }
}

impl From<crate::Consistency> for Consistency {
    fn from(level: crate::Consistency) -> Self {
        use crate::Consistency as C;
        match level {
            C::One => Consistency::One,
            C::Two => Consistency::Two,
            C::Three => Consistency::Three,
            C::Quorum => Consistency::Quorum,
            C::All => Consistency::All,
            C::LocalQuorum => Consistency::LocalQuorum,
            C::LocalOne => Consistency::LocalOne,
        }
    }
}

/// The level names of `store.scylla_consistency`, case-insensitively (see [`crate::Consistency`]).
pub fn parse_consistency(s: &str) -> Result<Consistency, OptionsError> {
    s.parse::<crate::Consistency>().map(Into::into)
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
        assert_eq!(o.serial_read_consistency(), Consistency::LocalSerial);
        assert_eq!(o.replication, Replication::Factor(3));
        assert!(o.create_keyspace && o.migrate && o.disable_tablets);
        assert_eq!(o.max_rows_examined, DEFAULT_MAX_ROWS_EXAMINED);
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
        assert_eq!(o.serial_read_consistency(), Consistency::Serial);
        assert_eq!(o.replication, Replication::Datacenters(vec![("dc1".into(), 3), ("dc-2".into(), 2)]));
        assert!(!o.create_keyspace && !o.migrate && !o.disable_tablets);
        assert_eq!(o.request_timeout, Duration::from_millis(2500));
        assert_eq!(o.max_rows_examined, 500);
    }

    /// What is wrong with a URL is url.rs's to say and test; this one only passes it on.
    #[test]
    fn bad_urls_are_refused() {
        for url in ["sqlite://x", "scylla://", "scylla://n1/ks?consistency=any"] {
            assert!(ScyllaOptions::from_url(url).is_err(), "{url}");
        }
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
