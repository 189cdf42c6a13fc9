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
    /// Send deliveries to their targets, with retries; record every attempt.
    pub replay: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { ingest: true, processor: true, api: true, replay: true };
    pub const NONE: Roles = Roles { ingest: false, processor: false, api: false, replay: false };
    pub const NAMES: [&'static str; 4] = ["ingest", "processor", "api", "replay"];
}

impl FromStr for Roles {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = Roles::NONE;
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "ingest" => roles.ingest = true,
                "processor" => roles.processor = true,
                "api" => roles.api = true,
                "replay" => roles.replay = true,
                "all" => roles = Roles::ALL,
                other => {
                    return Err(format!("unknown role `{other}`; roles are ingest, processor, api, replay (or all)"));
                }
            }
        }
        if roles == Roles::NONE {
            return Err("name at least one role: ingest, processor, api, replay".into());
        }
        Ok(roles)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = [self.ingest, self.processor, self.api, self.replay];
        let names: Vec<&str> = Roles::NAMES.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subsets_and_names_mistakes() {
        assert_eq!("ingest".parse::<Roles>().unwrap(), Roles { ingest: true, ..Roles::NONE });
        assert_eq!("api, processor".parse::<Roles>().unwrap().to_string(), "processor,api");
        assert_eq!("replay".parse::<Roles>().unwrap(), Roles { replay: true, ..Roles::NONE });
        assert_eq!("all".parse::<Roles>().unwrap(), Roles::ALL);
        assert_eq!(Roles::ALL.to_string(), "ingest,processor,api,replay");
        assert!("ingest,sender".parse::<Roles>().unwrap_err().contains("unknown role `sender`"));
        assert!("".parse::<Roles>().unwrap_err().contains("at least one role"));
    }
}
