//! Rows that tests of the store, the log's consumers and the workers create before the part
//! they test: only the fields those tests vary are parameters.

use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, Endpoint, EndpointId, Team, TeamId, Timestamp};

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

/// A capture of `{}` posted to `endpoint` at `received_at`, without a query or headers; its
/// `body_sha256` is a placeholder that no check here reads.
pub fn capture(endpoint: &Endpoint, received_at: Timestamp) -> CapturedRequest {
    CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: endpoint.id,
        team_id: endpoint.team_id,
        method: "POST".into(),
        path: "/".into(),
        query: None,
        headers: vec![],
        body: Bytes::from_static(b"{}"),
        body_sha256: [1; 32],
        remote_addr: "127.0.0.1".into(),
        http_version: "HTTP/1.1".into(),
        received_at,
    }
}
