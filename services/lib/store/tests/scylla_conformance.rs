//! The store conformance suite against a real ScyllaDB (or Cassandra) node.
//!
//! Runs only when `HOOKMETRY_TEST_SCYLLA` names one or more nodes (`host:port[,host:port…]`),
//! and only in a build with the `scylla` feature:
//!
//! ```text
//! HOOKMETRY_TEST_SCYLLA=127.0.0.1:9042 cargo test -p hookmetry-store --features scylla --test store scylla_conformance::
//! ```
//!
//! Every test works in a fresh keyspace with a random name, created with replication factor
//! `HOOKMETRY_TEST_SCYLLA_RF` (default 1, for a single dev node) and dropped afterwards, also
//! when the test fails. Without the variable each test says loudly that it was skipped, and fails
//! under `HOOKMETRY_REQUIRE_EXTERNAL=1` unless `HOOKMETRY_UNAVAILABLE` lists `scylla`: no ScyllaDB
//! server can be installed on the project's machines, so CI compiles this suite, lists it as
//! unavailable and reports every test of it as skipped.

/// Without the feature nothing here can run: a skip, which fails where ScyllaDB is required.
#[cfg(not(feature = "scylla"))]
#[test]
fn scylla_conformance_needs_the_scylla_feature() {
    hookmetry_core::external::skip(
        "scylla",
        "scylla_conformance::scylla_conformance_needs_the_scylla_feature",
        "hookmetry-store built without the `scylla` feature (add `--features scylla`)",
    );
}

#[cfg(feature = "scylla")]
mod suite {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;

    use hookmetry_core::{CaptureId, CapturedRequest, Endpoint, Team, Timestamp, capture_token};
    use hookmetry_store::conformance::{self, StoreHarness};
    use hookmetry_store::scylla::{Replication, ScyllaOptions, ScyllaStore, cql};
    use hookmetry_store::{CapturePage, CaptureStore, EndpointStore, Store, StoreError, StoreHealth, TeamStore};
    use hookmetry_testkit::fixtures;
    use scylla::client::session::Session;
    use scylla::client::session_builder::SessionBuilder;

    /// The nodes to test against, or `None` after saying loudly that `test` is skipped (a
    /// failure where ScyllaDB is required and not listed as unavailable).
    fn nodes(test: &str) -> Option<Vec<String>> {
        // CI runs this suite again with the clock a year ahead (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS).
        hookmetry_core::clock::shift_from_env();
        match std::env::var("HOOKMETRY_TEST_SCYLLA") {
            Ok(v) if !v.trim().is_empty() => Some(v.split(',').map(|n| n.trim().to_string()).collect()),
            _ => {
                hookmetry_core::external::skip(
                    "scylla",
                    &format!("scylla_conformance::suite::{test}"),
                    "HOOKMETRY_TEST_SCYLLA not set (e.g. HOOKMETRY_TEST_SCYLLA=127.0.0.1:9042); \
                     the ScyllaDB store was compiled but not run",
                );
                None
            }
        }
    }

    /// A fresh keyspace on the test cluster.
    struct Harness {
        options: ScyllaOptions,
        /// The first `open` migrates (and creates the keyspace); later ones only check the
        /// schema version, as a node started after `hookmetry migrate` would.
        migrated: AtomicBool,
    }

    impl Harness {
        fn new(nodes: Vec<String>) -> Self {
            let keyspace = format!("hookmetry_test_{}", CaptureId::new().0.simple());
            let mut options = ScyllaOptions::new(nodes, &keyspace).unwrap();
            let rf = std::env::var("HOOKMETRY_TEST_SCYLLA_RF").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
            options.replication = Replication::Factor(rf);
            Self { options, migrated: AtomicBool::new(false) }
        }

        async fn store(&self) -> ScyllaStore {
            let mut options = self.options.clone();
            options.migrate = !self.migrated.swap(true, Ordering::SeqCst);
            ScyllaStore::open(options).await.unwrap()
        }

        /// A bare driver session on the keyspace, for looking behind the store's back.
        async fn session(&self) -> Session {
            let session = SessionBuilder::new().known_nodes(&self.options.nodes).build().await.unwrap();
            session.use_keyspace(&self.options.keyspace, false).await.unwrap();
            session
        }

        async fn drop_keyspace(&self) {
            let session = SessionBuilder::new().known_nodes(&self.options.nodes).build().await.unwrap();
            session.query_unpaged(cql::drop_keyspace(&self.options.keyspace), ()).await.unwrap();
        }
    }

    #[async_trait]
    impl StoreHarness for Harness {
        async fn open(&self) -> Arc<dyn Store> {
            Arc::new(self.store().await)
        }

        fn expires_natively(&self) -> bool {
            true
        }
    }

    /// Runs `test` (named `name`) on a fresh keyspace and drops the keyspace afterwards, passing
    /// or failing.
    async fn with_keyspace<F, Fut>(name: &str, test: F)
    where
        F: FnOnce(Arc<Harness>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(nodes) = nodes(name) else { return };
        let harness = Arc::new(Harness::new(nodes));
        let outcome = tokio::spawn(test(harness.clone())).await;
        harness.drop_keyspace().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// Every case, in one fresh keyspace (`run_all` runs `has_tokens_false_until_first_token`
    /// first, while the keyspace has no token).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_run_all_on_a_fresh_keyspace() {
        with_keyspace("conformance_run_all_on_a_fresh_keyspace", |h| async move { conformance::run_all(&*h).await })
            .await;
    }

    /// Each case also on a fresh keyspace of its own, so a failure is reported under its name.
    mod conformance_case {
        hookmetry_store::store_conformance_tests!(super::with_keyspace, flavor = "multi_thread", worker_threads = 2);
    }

    fn team() -> Team {
        fixtures::team(7)
    }

    fn endpoint(team: &Team) -> Endpoint {
        fixtures::endpoint(team.id, &capture_token())
    }

    fn capture(endpoint: &Endpoint, received_at: Timestamp) -> CapturedRequest {
        fixtures::capture(endpoint, received_at)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migration_is_idempotent_and_versioned() {
        with_keyspace("migration_is_idempotent_and_versioned", |h| async move {
            let latest = ScyllaStore::schema_version();
            assert_eq!(ScyllaStore::migrate(&h.options).await.unwrap(), latest);
            assert_eq!(ScyllaStore::migrate(&h.options).await.unwrap(), latest, "second run");
            h.migrated.store(true, Ordering::SeqCst);
            h.store().await.health().await.unwrap();

            // A schema from a newer build is refused, by migrate and by open.
            let session = h.session().await;
            session.query_unpaged(cql::UPSERT_SCHEMA_VERSION, (99i32, 0i64)).await.unwrap();
            let err = ScyllaStore::migrate(&h.options).await.unwrap_err();
            assert!(err.to_string().contains("schema version 99"), "{err}");
            let mut no_migrate = h.options.clone();
            no_migrate.migrate = false;
            let err = ScyllaStore::open(no_migrate).await.unwrap_err();
            assert!(err.to_string().contains("run the migration"), "{err}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_without_migration_on_a_missing_keyspace_fails_clearly() {
        let Some(nodes) = nodes("open_without_migration_on_a_missing_keyspace_fails_clearly") else { return };
        let mut options = Harness::new(nodes).options;
        options.migrate = false;
        let err = ScyllaStore::open(options.clone()).await.unwrap_err();
        assert!(err.to_string().contains(&options.keyspace), "{err}");
    }

    /// Capture rows carry the TTL their team's retention leaves them, counted from receipt.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn capture_rows_carry_the_retention_ttl() {
        with_keyspace("capture_rows_carry_the_retention_ttl", |h| async move {
            let store = h.store().await;
            let team = team();
            store.create_team(&team).await.unwrap();
            let ep = endpoint(&team);
            store.create_endpoint(&ep).await.unwrap();
            let now = Timestamp::now().micros();
            let fresh = capture(&ep, Timestamp::from_micros(now));
            let day_old = capture(&ep, Timestamp::from_micros(now - 86_400_000_000));
            let too_old = capture(&ep, Timestamp::from_micros(now - 8 * 86_400_000_000));
            let batch = [fresh.clone(), day_old.clone(), too_old.clone()];
            assert_eq!(store.put_captures(&batch).await.unwrap(), 2, "the one past retention is not written");
            assert_eq!(store.capture(too_old.id).await.unwrap(), None);

            let session = h.session().await;
            let ttl = |table: &'static str, id: CaptureId| {
                let session = &session;
                async move {
                    let cql = format!("SELECT TTL(method) FROM {table} WHERE capture_id = ? ALLOW FILTERING");
                    let rows = session.query_unpaged(cql, (id.0,)).await.unwrap().into_rows_result().unwrap();
                    rows.single_row::<(Option<i32>,)>().unwrap().0.unwrap()
                }
            };
            let week = 7 * 86_400;
            for table in ["captures_by_id", "captures_by_endpoint"] {
                let t = ttl(table, fresh.id).await;
                assert!((week - 60..=week).contains(&t), "{table}: fresh capture TTL {t}");
                let t = ttl(table, day_old.id).await;
                assert!((week - 86_400 - 60..=week - 86_400).contains(&t), "{table}: day-old capture TTL {t}");
            }
            assert_eq!(store.expire_captures(Timestamp::now()).await.unwrap(), 0);

            // Verification cells expire with their row.
            let v = hookmetry_core::Verification {
                provider: None,
                verdict: hookmetry_core::Verdict::NotConfigured,
                reason: "no settings".into(),
                secret_label: None,
                verified_at: Timestamp::now(),
                event: Default::default(),
            };
            store.put_verifications(&[(day_old.id, v)]).await.unwrap();
            let rows = session
                .query_unpaged("SELECT TTL(verdict) FROM captures_by_id WHERE capture_id = ?", (day_old.id.0,))
                .await
                .unwrap()
                .into_rows_result()
                .unwrap();
            let t = rows.single_row::<(Option<i32>,)>().unwrap().0.unwrap();
            assert!(t <= week - 86_400, "verdict TTL {t} outlives the capture");
        })
        .await;
    }

    /// Results for a capture deleted meanwhile, or a half-row, never surface as a capture.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leftover_rows_read_as_absent() {
        with_keyspace("leftover_rows_read_as_absent", |h| async move {
            let store = h.store().await;
            let team = team();
            store.create_team(&team).await.unwrap();
            let ep = endpoint(&team);
            store.create_endpoint(&ep).await.unwrap();
            let c = capture(&ep, Timestamp::now());
            store.put_captures(std::slice::from_ref(&c)).await.unwrap();
            // What a verification racing a delete could leave behind: a row with a verdict only.
            let session = h.session().await;
            let day = hookmetry_store::scylla::capture_day(c.id, c.received_at);
            store.delete_capture(c.id).await.unwrap();
            session
                .query_unpaged(
                    "UPDATE captures_by_endpoint USING TTL 600 SET verdict = 'VALID' WHERE endpoint_id = ? AND day = ? \
                     AND capture_id = ?",
                    (ep.id.0, day, c.id.0),
                )
                .await
                .unwrap();
            session
                .query_unpaged(
                    "UPDATE captures_by_id USING TTL 600 SET verdict = 'VALID' WHERE capture_id = ?",
                    (c.id.0,),
                )
                .await
                .unwrap();
            assert_eq!(store.capture(c.id).await.unwrap(), None);
            assert_eq!(store.verification(c.id).await.unwrap(), None);
            let listed = store.captures(ep.id, &CapturePage { limit: 10, ..Default::default() }).await.unwrap();
            assert!(listed.items.is_empty() && !listed.has_more, "{listed:?}");
            assert!(matches!(store.delete_capture(c.id).await, Err(StoreError::NotFound { .. })));
            // A replay stores it again in full.
            assert_eq!(store.put_captures(std::slice::from_ref(&c)).await.unwrap(), 1);
            assert_eq!(store.capture(c.id).await.unwrap(), Some(c));
        })
        .await;
    }

    /// The expiry index is a hint: rows whose endpoint does not have that expiry are skipped,
    /// and removed once they are an hour past their time (a write in flight never is).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_expiry_rows_are_skipped_and_old_ones_removed() {
        with_keyspace("stale_expiry_rows_are_skipped_and_old_ones_removed", |h| async move {
            let store = h.store().await;
            let team = team();
            store.create_team(&team).await.unwrap();
            let now = Timestamp::now();
            let ago = |minutes: i64| Timestamp::from_micros(now.micros() - minutes * 60_000_000);
            let ep = Endpoint { expires_at: Some(ago(30)), ..endpoint(&team) };
            store.create_endpoint(&ep).await.unwrap();
            let session = h.session().await;
            let (gone_old, gone_recent) = (CaptureId::new().0, CaptureId::new().0);
            let stale = [(ago(120), gone_old), (ago(10), gone_recent), (ago(180), ep.id.0)];
            for (at, id) in stale {
                session
                    .query_unpaged(
                        "INSERT INTO endpoints_by_expiry (bucket, expires_at, endpoint_id) VALUES (3, ?, ?)",
                        (at.micros(), id),
                    )
                    .await
                    .unwrap();
            }

            assert_eq!(store.expired_endpoints(now, 10).await.unwrap(), vec![ep.clone()]);
            let rows = session
                .query_unpaged("SELECT expires_at, endpoint_id FROM endpoints_by_expiry", ())
                .await
                .unwrap()
                .into_rows_result()
                .unwrap();
            let mut left: Vec<(i64, uuid::Uuid)> =
                rows.rows::<(i64, uuid::Uuid)>().unwrap().map(Result::unwrap).collect();
            left.sort_unstable();
            assert_eq!(
                left,
                vec![(ago(30).micros(), ep.id.0), (ago(10).micros(), gone_recent)],
                "rows two and three hours past are gone; the endpoint's own and a recent one stay"
            );
        })
        .await;
    }
}
