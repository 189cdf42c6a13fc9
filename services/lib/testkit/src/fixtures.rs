//! Rows that tests of the store, the log's consumers and the workers create before the part
//! they test: only the fields those tests vary are parameters.

use std::sync::Arc;

use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, Endpoint, EndpointId, Team, TeamId, Timestamp};
use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions};
use hookmetry_store::{EndpointStore, SqliteStore, TeamStore};

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
        event_fields: None,
        scenario: Vec::new(),
        max_captures: None,
        expires_at: None,
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
        answered: None,
    }
}

/// An embedded log and a SQLite store in a temporary directory (kept while this lives), with
/// one team and one endpoint stored: what the processor and the replay worker run on in their
/// tests.
pub struct Embedded {
    pub dir: tempfile::TempDir,
    pub log: Arc<EmbeddedLog>,
    pub store: Arc<SqliteStore>,
    pub endpoint: Endpoint,
}

pub async fn embedded() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path().join("log"), EmbeddedLogOptions::default()).await.unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("db")).await.unwrap());
    let team = team(1);
    store.create_team(&team).await.unwrap();
    let endpoint = endpoint(team.id, "0123456789abcdef0123456789abcdef");
    store.create_endpoint(&endpoint).await.unwrap();
    Embedded { dir, log, store, endpoint }
}
