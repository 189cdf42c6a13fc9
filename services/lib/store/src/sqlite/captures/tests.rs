//! Listings read no body bytes: proven on the statements the store runs, by the tables their
//! bytecode opens, so joining or selecting bodies back into a listing fails here.

use hookmetry_core::{CaptureId, EndpointId, Timestamp, Verdict};
use rusqlite::Connection;

use super::listing;
use crate::sqlite::{connect, migrations};
use crate::{CaptureFilter, CapturePage, HeaderFilter};

fn migrated() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = connect(&dir.path().join("db")).unwrap();
    migrations::migrate(&mut conn).unwrap();
    (dir, conn)
}

/// The b-trees (table and primary-key index) that hold bodies.
fn body_btrees(conn: &Connection) -> Vec<i64> {
    let mut st = conn.prepare("SELECT rootpage FROM sqlite_schema WHERE tbl_name = 'capture_bodies'").unwrap();
    let roots: Vec<i64> = st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    assert!(!roots.is_empty(), "capture_bodies exists");
    roots
}

/// Whether running the listing of `page` would open a b-tree that holds bodies.
fn reads_bodies(conn: &Connection, page: &CapturePage) -> bool {
    let (sql, params) = listing(EndpointId::new(), page);
    let bodies = body_btrees(conn);
    let mut st = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let opened: Vec<(String, i64)> = st
        .query_map(rusqlite::params_from_iter(params), |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    opened.iter().any(|(op, root)| op.starts_with("Open") && bodies.contains(root))
}

fn plan(conn: &Connection, page: &CapturePage) -> String {
    let (sql, params) = listing(EndpointId::new(), page);
    let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows: Vec<String> = st
        .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("; ")
}

fn page(filter: CaptureFilter) -> CapturePage {
    CapturePage { limit: 50, before: None, filter, without_bodies: true }
}

/// Every filter a listing without bodies may use, alone and all at once.
fn bodiless_filters() -> Vec<(&'static str, CaptureFilter)> {
    let now = Timestamp::now();
    let header = || Some(HeaderFilter { name: "content-type".into(), value_contains: b"json".to_vec() });
    vec![
        ("none", CaptureFilter::default()),
        ("method", CaptureFilter { method: Some("GET".into()), ..Default::default() }),
        ("path prefix", CaptureFilter { path_prefix: Some("/orders/".into()), ..Default::default() }),
        ("header", CaptureFilter { header: header(), ..Default::default() }),
        ("verdict", CaptureFilter { verdict: Some(Verdict::Valid), ..Default::default() }),
        ("event type", CaptureFilter { event_type: Some("charge.succeeded".into()), ..Default::default() }),
        ("event type pattern", CaptureFilter { event_type: Some("charge.*".into()), ..Default::default() }),
        ("event id", CaptureFilter { event_id: Some("evt_1".into()), ..Default::default() }),
        ("received range", CaptureFilter { received_from: Some(now), received_until: Some(now), ..Default::default() }),
        (
            "all",
            CaptureFilter {
                method: Some("POST".into()),
                path_prefix: Some("/".into()),
                header: header(),
                verdict: Some(Verdict::Valid),
                received_from: Some(now),
                received_until: Some(now),
                body_contains: None,
                event_type: Some("charge.*".into()),
                event_id: Some("evt_1".into()),
            },
        ),
    ]
}

#[test]
fn listings_never_open_the_bodies_table() {
    let (_dir, conn) = migrated();
    for (name, filter) in bodiless_filters() {
        let mut p = page(filter);
        assert!(!reads_bodies(&conn, &p), "a listing filtered by {name} reads bodies");
        p.before = Some(CaptureId::new());
        assert!(!reads_bodies(&conn, &p), "a page after a cursor filtered by {name} reads bodies");
    }
    // The captures row itself holds no body either: only its size.
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('captures')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(columns.contains(&"body_size".to_string()), "{columns:?}");
    assert!(!columns.iter().any(|c| c == "body"), "captures rows hold bodies again: {columns:?}");
}

/// The check above can fail: the listings that must read bodies are seen doing it.
#[test]
fn listings_with_bodies_or_a_body_filter_are_seen_reading_them() {
    let (_dir, conn) = migrated();
    let with_bodies = CapturePage { without_bodies: false, ..page(CaptureFilter::default()) };
    assert!(reads_bodies(&conn, &with_bodies));
    let body_filter = page(CaptureFilter { body_contains: Some(b"charge".to_vec()), ..Default::default() });
    assert!(reads_bodies(&conn, &body_filter));
}

/// Each filter walks an index in page order: no full scan of `captures`, no sort of all matches.
#[test]
fn listing_plans_use_an_index_in_page_order() {
    let (_dir, conn) = migrated();
    for (name, filter) in bodiless_filters() {
        let plan = plan(&conn, &page(filter));
        assert!(plan.contains("USING INDEX captures_by_endpoint"), "{name}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{name} sorts its matches: {plan}");
    }
    let method = plan(&conn, &page(CaptureFilter { method: Some("GET".into()), ..Default::default() }));
    assert!(method.contains("captures_by_endpoint_method"), "{method}");
    let verdict = plan(&conn, &page(CaptureFilter { verdict: Some(Verdict::Valid), ..Default::default() }));
    assert!(verdict.contains("captures_by_endpoint_verdict"), "{verdict}");
}
