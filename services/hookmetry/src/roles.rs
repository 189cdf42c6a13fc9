//! Which roles one process runs: `hookmetry serve` runs all of them, `hookmetry run --roles`
//! any subset, so a cluster scales each role on its own.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Capture URLs (`/h/<token>`): append every request to the log.
    pub ingest: bool,
    /// Consume the captures log into the store, verifying signatures; runs retention.
    pub processor: bool,
    /// GraphQL queries, mutations and live subscriptions.
    pub api: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { ingest: true, processor: true, api: true };
    pub const NAMES: [&'static str; 3] = ["ingest", "processor", "api"];
}

impl FromStr for Roles {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = Roles { ingest: false, processor: false, api: false };
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "ingest" => roles.ingest = true,
                "processor" => roles.processor = true,
                "api" => roles.api = true,
                "all" => roles = Roles::ALL,
                other => return Err(format!("unknown role `{other}`; roles are ingest, processor, api (or all)")),
            }
        }
        if roles == (Roles { ingest: false, processor: false, api: false }) {
            return Err("name at least one role: ingest, processor, api".into());
        }
        Ok(roles)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = [self.ingest, self.processor, self.api];
        let names: Vec<&str> = Roles::NAMES.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subsets_and_names_mistakes() {
        assert_eq!("ingest".parse::<Roles>().unwrap(), Roles { ingest: true, processor: false, api: false });
        assert_eq!("api, processor".parse::<Roles>().unwrap().to_string(), "processor,api");
        assert_eq!("all".parse::<Roles>().unwrap(), Roles::ALL);
        assert!("ingest,replay".parse::<Roles>().unwrap_err().contains("unknown role `replay`"));
        assert!("".parse::<Roles>().unwrap_err().contains("at least one role"));
    }
}
