//! Rows that tests of the store, the log's consumers and the workers create before the part
//! they test: only the fields those tests vary are parameters.

use hookmetry_core::{Endpoint, EndpointId, Team, TeamId, Timestamp};

/// A team named `t`.
pub fn team(retention_days: u32) -> Team {
    Team { id: TeamId::new(), name: "t".into(), retention_days, created_at: Timestamp::now() }
}

/// An endpoint named `e` of `team`, without a custom response, verification or handshakes.
pub fn endpoint(team: TeamId, token: &str) -> Endpoint {
    Endpoint {
        id: EndpointId::new(),
        team_id: team,
        name: "e".into(),
        token: token.into(),
        response: None,
        verification: None,
        handshakes: false,
        created_at: Timestamp::now(),
    }
}
