//! Upgrading a database written by an earlier schema, with data in it.

use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, EndpointId, Header, TeamId, Timestamp};
use hookmetry_store::{CapturePage, CaptureStore, SqliteStore};

/// The schema as of version 9, the last one that kept bodies in the captures row.
const SCHEMA_V9: [&str; 9] = [
    include_str!("../src/sqlite/migrations/0001_initial.sql"),
    include_str!("../src/sqlite/migrations/0002_captures_by_team_age.sql"),
    include_str!("../src/sqlite/migrations/0003_verification.sql"),
    include_str!("../src/sqlite/migrations/0004_deliveries.sql"),
    include_str!("../src/sqlite/migrations/0005_forwarding_rules.sql"),
    include_str!("../src/sqlite/migrations/0006_listener_cursors.sql"),
    include_str!("../src/sqlite/migrations/0007_delivery_trace_parent.sql"),
    include_str!("../src/sqlite/migrations/0008_listeners.sql"),
    include_str!("../src/sqlite/migrations/0009_listener_leases.sql"),
];

fn capture(endpoint: EndpointId, team: TeamId, body: &'static [u8]) -> CapturedRequest {
    CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: endpoint,
        team_id: team,
        method: "POST".into(),
        path: "/stripe".into(),
        query: Some("a=1".into()),
        headers: vec![Header::new("content-type", "application/json")],
        body: Bytes::from_static(body),
        body_sha256: [9; 32],
        remote_addr: "127.0.0.1".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::from_micros(1_700_000_000_000_000),
        answered: None,
    }
}

/// The version-9 row of `c`, written the way that version's store wrote it.
fn insert_v9(conn: &rusqlite::Connection, c: &CapturedRequest, verdict: Option<&str>) {
    // One header, encoded as `encode_headers` does: big-endian u32 count, then length-prefixed
    // name and value.
    let h = &c.headers[0];
    let mut headers = 1u32.to_be_bytes().to_vec();
    headers.extend((h.name.len() as u32).to_be_bytes());
    headers.extend(h.name.as_bytes());
    headers.extend((h.value.len() as u32).to_be_bytes());
    headers.extend(h.value.as_ref());
    conn.execute(
        "INSERT INTO captures (id, endpoint_id, team_id, method, path, query, headers, body, body_sha256, \
         remote_addr, http_version, received_at, verdict, verification) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        rusqlite::params![
            c.id.as_bytes(),
            c.endpoint_id.as_bytes(),
            c.team_id.as_bytes(),
            c.method,
            c.path,
            c.query,
            headers,
            c.body.as_ref(),
            c.body_sha256,
            c.remote_addr,
            c.http_version,
            c.received_at.micros(),
            verdict,
            verdict.map(|_| "{}"),
        ],
    )
    .unwrap();
}

fn count(conn: &rusqlite::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_version_9_database_with_captures_moves_their_bodies_out_of_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookmetry.db");
    let (endpoint, team) = (EndpointId::new(), TeamId::new());
    let old = [capture(endpoint, team, b"{\"type\":\"charge.succeeded\"}"), capture(endpoint, team, b"")];
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        for sql in SCHEMA_V9 {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 9).unwrap();
        insert_v9(&conn, &old[0], Some("valid"));
        insert_v9(&conn, &old[1], None);
    }

    let store = SqliteStore::open(&path).await.unwrap();
    for c in &old {
        assert_eq!(store.capture(c.id).await.unwrap().as_ref(), Some(c), "capture {} survives the migration", c.id);
    }
    let page = CapturePage { limit: 10, without_bodies: true, ..Default::default() };
    let listed = store.captures(endpoint, &page).await.unwrap();
    assert_eq!(listed.body_sizes, vec![0, old[0].body.len() as u64], "newest first, sizes kept without bodies");
    assert!(listed.items.iter().all(|c| c.body.is_empty()));
    let with_bodies = store.captures(endpoint, &CapturePage { without_bodies: false, ..page }).await.unwrap();
    assert_eq!(with_bodies.items, vec![old[1].clone(), old[0].clone()]);

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 13, "migrated on to the latest version");
    let verdict: Option<String> =
        conn.query_row("SELECT verdict FROM captures WHERE id = ?1", [old[0].id.as_bytes()], |r| r.get(0)).unwrap();
    assert_eq!(verdict.as_deref(), Some("valid"), "verification results are kept");
    assert_eq!(count(&conn, "capture_bodies"), 2);

    // The moved bodies follow their captures out: the foreign key survived the table's rebuild.
    store.delete_capture(old[0].id).await.unwrap();
    assert_eq!(count(&conn, "capture_bodies"), 1);
    let fresh = capture(endpoint, team, b"new");
    assert_eq!(store.put_captures(std::slice::from_ref(&fresh)).await.unwrap(), 1);
    assert_eq!(store.capture(fresh.id).await.unwrap(), Some(fresh));
    assert_eq!(count(&conn, "capture_bodies"), 2);
}
