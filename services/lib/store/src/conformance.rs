//! Behaviour every `Store` backend must show, written once and run against each backend.
//!
//! A backend's tests implement [`StoreHarness`], call [`run_all`] and expand
//! [`store_conformance_tests!`](crate::store_conformance_tests), which makes one test per case.
//! Both come from the one list of cases below, so no backend can leave a case out. Every case
//! makes fresh ids, so cases can share one database; only [`has_tokens_false_until_first_token`]
//! needs a store without tokens, and `run_all` runs it first.
//!
//! Compiled only with the `testsuite` feature, which only dev-dependencies turn on.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hookmetry_core::{
    Answered, ApiToken, Attempt, AttemptError, CaptureId, CapturedRequest, CustomResponse, Delivery, DeliveryId,
    DeliveryOrigin, DeliveryState, Endpoint, EndpointId, ForwardingRule, GenericHmac, Header, HeaderMatch,
    OutgoingRequest, Role, SigningSecret, Team, TeamId, Timestamp, TokenId, Verdict, Verification,
    VerificationSettings, capture_token, hash_token, new_api_token,
};

use crate::{CaptureFilter, CapturePage, DeliveryProgress, HeaderFilter, Store, StoreError};

#[async_trait]
pub trait StoreHarness: Send + Sync {
    /// Opens the store under test; calling it again opens the SAME data (restart). Each call
    /// happens after the previous handle was dropped.
    async fn open(&self) -> Arc<dyn Store>;

    /// Whether the backend expires captures by itself (Scylla TTLs): it never stores a capture
    /// already past its team's retention, lets the others lapse on their own, and its
    /// `expire_captures` finds nothing to delete.
    fn expires_natively(&self) -> bool {
        false
    }
}

// The one list of cases: `run_all`, [`CASES`] and every backend's tests are expanded from it.
crate::store_conformance_tests! { @cases @run_all }

/// One `#[tokio::test]` per conformance case, each named after its case, so every backend runs
/// every case and a failure is reported under the case's name. `$run` is an async function that
/// is given the case's name and the case as a closure taking an `Arc` of the backend's
/// [`StoreHarness`]; it makes a fresh harness, or says loudly why it cannot (its server is
/// missing) and returns, and may clean up after the case. Further arguments go to
/// `#[tokio::test(…)]`:
///
/// ```ignore
/// async fn each_case<F, Fut>(_case: &str, test: F)
/// where
///     F: FnOnce(Arc<Harness>) -> Fut,
///     Fut: Future<Output = ()>,
/// {
///     test(Arc::new(Harness::new())).await
/// }
///
/// mod conformance_case {
///     hookmetry_store::store_conformance_tests!(super::each_case, flavor = "multi_thread");
/// }
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    (@cases $($then:tt)*) => {
        $crate::store_conformance_tests! { $($then)* [
            has_tokens_false_until_first_token,
            teams_create_get_list_conflict,
            tokens_lookup_touch_revoke,
            tokens_listed_per_team,
            token_conflicts,
            endpoints_create_get_by_token_list,
            endpoints_isolated_per_team,
            endpoint_update_changes_name_and_response_only,
            unknown_ids_not_found,
            endpoint_conflicts,
            endpoint_names_are_unique_per_team,
            endpoint_delete_removes_its_captures,
            capture_round_trip_is_byte_exact,
            put_captures_is_idempotent,
            captures_paged_newest_first,
            captures_paging_isolated_per_endpoint,
            captures_filtered,
            captures_listed_without_bodies,
            capture_delete,
            token_by_id,
            retention_set_and_expire,
            verification_settings_round_trip,
            events_stored_with_results_and_filtered,
            redelivery_groups_and_resource_order_follow_the_latest_results,
            event_shapes_replace_per_type_and_go_with_their_endpoint,
            verifications_stored_replaced_and_filtered,
            checked_captures_stored_with_their_results_in_one_write,
            delivery_round_trip_is_byte_exact_and_first_write_wins,
            delivery_trace_context_round_trips,
            delivery_retry_like_round_trips,
            deliveries_listed_per_capture_newest_first,
            attempts_recorded_once_in_order_with_progress,
            due_deliveries_are_pending_and_due_earliest_first,
            cancel_stops_a_pending_delivery_only,
            deleting_a_capture_deletes_its_deliveries,
            a_due_delivery_is_claimed_once_until_its_lease_ends,
            the_first_record_of_an_attempt_number_wins,
            batches_of_deliveries_claims_and_attempts_answer_each_in_order,
            forwarding_rules_set_replaced_cleared_and_deleted_with_the_endpoint,
            scenarios_caps_expiry_and_rule_answers_round_trip,
            counters_count_each_request_once_reset_and_go_with_the_endpoint,
            expired_endpoints_are_listed_soonest_first,
            listener_cursors_only_move_forward_per_name,
            listener_deliveries_keep_their_origin,
            listener_names_belong_to_the_token_that_claimed_them,
            one_process_holds_a_listener_lease_at_a_time,
            restart_keeps_everything,
            health_is_ok,
        ] }
    };
    (@run_all [$($case:ident,)*]) => {
        /// Runs every case in turn against one store.
        pub async fn run_all(h: &dyn StoreHarness) {
            $($case(h).await;)*
        }

        /// The name of every case, in the order [`run_all`] runs them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];
    };
    (@tests ($run:expr) $attr:tt [$($case:ident,)*]) => {
        $(
            #[::tokio::test $attr]
            async fn $case() {
                ($run)(stringify!($case), |h| async move { $crate::conformance::$case(&*h).await }).await;
            }
        )*
    };
    ($run:expr $(, $($attr:tt)*)?) => {
        $crate::store_conformance_tests! { @cases @tests ($run) ($($($attr)*)?) }
    };
}

/// Needs a store without any token.
pub async fn has_tokens_false_until_first_token(h: &dyn StoreHarness) {
    let store = h.open().await;
    assert!(!store.has_tokens().await.unwrap(), "has_tokens on a store without tokens");
    let team = new_team(&store, "bootstrap").await;
    store.create_token(&new_token(team.id, Role::Admin, true)).await.unwrap();
    assert!(store.has_tokens().await.unwrap(), "has_tokens after creating a token");
}

pub async fn teams_create_get_list_conflict(h: &dyn StoreHarness) {
    let store = h.open().await;
    let a = new_team(&store, "team a").await;
    let b = new_team(&store, "team b").await;
    assert_eq!(store.team(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.team(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.team(TeamId::new()).await.unwrap(), None);

    let all = store.teams().await.unwrap();
    assert!(all.contains(&a) && all.contains(&b), "teams() misses a created team: {all:?}");

    let clash = Team { name: "impostor".into(), retention_days: 1, ..a.clone() };
    let err = store.create_team(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "team", .. }), "taken team id: {err:?}");
    assert_eq!(store.team(a.id).await.unwrap(), Some(a), "a conflicting create changed the team");
}

pub async fn tokens_lookup_touch_revoke(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "tokens").await;
    let token = new_token(team.id, Role::Editor, false);
    store.create_token(&token).await.unwrap();
    assert_eq!(store.token_by_hash(&token.hash).await.unwrap(), Some(token.clone()));
    assert_eq!(store.token_by_hash(&hash_token(&new_api_token())).await.unwrap(), None);

    let used = Timestamp::from_micros(token.created_at.micros() + 1_234_567);
    store.touch_token(token.id, used).await.unwrap();
    let touched = ApiToken { last_used_at: Some(used), ..token.clone() };
    assert_eq!(store.token_by_hash(&token.hash).await.unwrap(), Some(touched.clone()));

    store.revoke_token(token.id).await.unwrap();
    let revoked = ApiToken { revoked: true, ..touched };
    // Lookups still find a revoked token: the caller must see it is revoked, not unknown.
    assert_eq!(store.token_by_hash(&token.hash).await.unwrap(), Some(revoked));
}

pub async fn tokens_listed_per_team(h: &dyn StoreHarness) {
    let store = h.open().await;
    let a = new_team(&store, "tokens a").await;
    let b = new_team(&store, "tokens b").await;
    let mut of_a = vec![new_token(a.id, Role::Viewer, false), new_token(a.id, Role::Admin, true)];
    let of_b = vec![new_token(b.id, Role::Editor, false)];
    for t in of_a.iter().chain(&of_b) {
        store.create_token(t).await.unwrap();
    }

    let mut listed = store.tokens(a.id).await.unwrap();
    listed.sort_by_key(|t| t.id);
    of_a.sort_by_key(|t| t.id);
    assert_eq!(listed, of_a);
    assert_eq!(store.tokens(b.id).await.unwrap(), of_b);
    assert_eq!(store.tokens(TeamId::new()).await.unwrap(), vec![]);
}

pub async fn token_conflicts(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "token conflicts").await;
    let token = new_token(team.id, Role::Viewer, false);
    store.create_token(&token).await.unwrap();

    let same_hash = ApiToken { hash: token.hash, ..new_token(team.id, Role::Admin, true) };
    let err = store.create_token(&same_hash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "token", .. }), "taken hash: {err:?}");
    let same_id = ApiToken { id: token.id, ..new_token(team.id, Role::Admin, true) };
    let err = store.create_token(&same_id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "token", .. }), "taken id: {err:?}");
    assert_eq!(store.token_by_hash(&same_id.hash).await.unwrap(), None);
    assert_eq!(store.token_by_hash(&token.hash).await.unwrap(), Some(token.clone()));
    assert_eq!(store.tokens(team.id).await.unwrap(), vec![token]);
}

pub async fn endpoints_create_get_by_token_list(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "endpoints").await;
    let base = Timestamp::now().micros();
    let eps: Vec<Endpoint> = (0..3)
        .map(|i| Endpoint {
            verification: None,
            handshakes: false,
            event_fields: None,
            scenario: Vec::new(),
            max_captures: None,
            expires_at: None,
            created_at: Timestamp::from_micros(base + i),
            response: (i == 1).then(custom_response),
            ..new_endpoint(team.id, &format!("endpoint {i}"))
        })
        .collect();
    // Created out of order: the list is oldest first, whatever the insertion order.
    for i in [2, 0, 1] {
        store.create_endpoint(&eps[i]).await.unwrap();
    }

    for ep in &eps {
        assert_eq!(store.endpoint(ep.id).await.unwrap().as_ref(), Some(ep));
        assert_eq!(store.endpoint_by_token(&ep.token).await.unwrap().as_ref(), Some(ep));
    }
    assert_eq!(store.endpoints(team.id).await.unwrap(), eps);
    assert_eq!(store.endpoint(EndpointId::new()).await.unwrap(), None);
    assert_eq!(store.endpoint_by_token(&capture_token()).await.unwrap(), None);
}

pub async fn endpoints_isolated_per_team(h: &dyn StoreHarness) {
    let store = h.open().await;
    let a = new_team(&store, "isolated a").await;
    let b = new_team(&store, "isolated b").await;
    let of_a = new_endpoint(a.id, "a's");
    let of_b = new_endpoint(b.id, "b's");
    store.create_endpoint(&of_a).await.unwrap();
    store.create_endpoint(&of_b).await.unwrap();

    assert_eq!(store.endpoints(a.id).await.unwrap(), vec![of_a]);
    assert_eq!(store.endpoints(b.id).await.unwrap(), vec![of_b]);
    assert_eq!(store.endpoints(TeamId::new()).await.unwrap(), vec![]);
}

pub async fn endpoint_update_changes_name_and_response_only(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "update").await;
    let ep = new_endpoint(team.id, "before");
    store.create_endpoint(&ep).await.unwrap();

    // Token, team and creation time are not the update's to change, even when the caller sends
    // different ones.
    let update = Endpoint {
        id: ep.id,
        team_id: TeamId::new(),
        name: "after".into(),
        token: capture_token(),
        response: Some(custom_response()),
        verification: None,
        handshakes: false,
        event_fields: None,
        scenario: Vec::new(),
        max_captures: None,
        expires_at: None,
        created_at: Timestamp::from_micros(ep.created_at.micros() + 99),
    };
    store.update_endpoint(&update).await.unwrap();
    let updated = Endpoint { name: "after".into(), response: Some(custom_response()), ..ep.clone() };
    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(updated.clone()));
    assert_eq!(store.endpoint_by_token(&ep.token).await.unwrap(), Some(updated.clone()));
    assert_eq!(store.endpoint_by_token(&update.token).await.unwrap(), None);
    assert_eq!(store.endpoints(team.id).await.unwrap(), vec![updated]);

    store.update_endpoint(&Endpoint { response: None, ..ep.clone() }).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(ep), "response reset to the default");
}

pub async fn unknown_ids_not_found(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "unknown").await;
    let ghost = new_endpoint(team.id, "never created");

    let err = store.update_endpoint(&ghost).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "endpoint" }), "update: {err:?}");
    assert_eq!(store.endpoint(ghost.id).await.unwrap(), None, "update created the endpoint");
    let err = store.delete_endpoint(ghost.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "endpoint" }), "delete: {err:?}");
    let err = store.revoke_token(TokenId::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "token" }), "revoke: {err:?}");
    assert_eq!(store.capture(CaptureId::new()).await.unwrap(), None);
}

pub async fn endpoint_conflicts(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "endpoint conflicts").await;
    let ep = new_endpoint(team.id, "original");
    store.create_endpoint(&ep).await.unwrap();

    let same_id = Endpoint { name: "same id".into(), token: capture_token(), ..ep.clone() };
    let err = store.create_endpoint(&same_id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "endpoint", .. }), "taken id: {err:?}");
    assert_eq!(store.endpoint_by_token(&same_id.token).await.unwrap(), None);

    let same_token = Endpoint { token: ep.token.clone(), ..new_endpoint(team.id, "same token") };
    let err = store.create_endpoint(&same_token).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "endpoint", .. }), "taken token: {err:?}");
    assert_eq!(store.endpoint(same_token.id).await.unwrap(), None);

    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(ep.clone()));
    assert_eq!(store.endpoint_by_token(&ep.token).await.unwrap(), Some(ep.clone()));
    assert_eq!(store.endpoints(team.id).await.unwrap(), vec![ep]);
}

pub async fn endpoint_names_are_unique_per_team(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "unique names").await;
    let other_team = new_team(&store, "unique names elsewhere").await;
    let first = new_endpoint(team.id, "stripe");
    store.create_endpoint(&first).await.unwrap();

    let twin = new_endpoint(team.id, "stripe");
    let err = store.create_endpoint(&twin).await.unwrap_err();
    assert!(matches!(&err, StoreError::NameTaken { name } if name == "stripe"), "same name: {err:?}");
    assert_eq!(err.to_string(), "an endpoint of this team is already named `stripe`; names are unique per team");
    assert_eq!(store.endpoint(twin.id).await.unwrap(), None);
    assert_eq!(store.endpoint_by_token(&twin.token).await.unwrap(), None, "no token row left behind");
    // Names are compared as stored: another case is another name.
    store.create_endpoint(&new_endpoint(team.id, "Stripe")).await.unwrap();
    // Another team's names are its own.
    store.create_endpoint(&new_endpoint(other_team.id, "stripe")).await.unwrap();

    let github = new_endpoint(team.id, "github");
    store.create_endpoint(&github).await.unwrap();
    let err = store.update_endpoint(&Endpoint { name: "stripe".into(), ..github.clone() }).await.unwrap_err();
    assert!(matches!(err, StoreError::NameTaken { .. }), "rename onto a taken name: {err:?}");
    assert_eq!(store.endpoint(github.id).await.unwrap(), Some(github.clone()), "unchanged");
    // Keeping one's own name while changing the rest is no conflict.
    let answered = Endpoint { response: Some(custom_response()), ..first.clone() };
    store.update_endpoint(&answered).await.unwrap();
    assert_eq!(store.endpoint(first.id).await.unwrap(), Some(answered));
    // A freed name can be taken.
    store.delete_endpoint(first.id).await.unwrap();
    store.update_endpoint(&Endpoint { name: "stripe".into(), ..github.clone() }).await.unwrap();
    assert_eq!(store.endpoint(github.id).await.unwrap().unwrap().name, "stripe");
}

pub async fn endpoint_delete_removes_its_captures(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "delete").await;
    let doomed = new_endpoint(team.id, "doomed");
    let kept = new_endpoint(team.id, "kept");
    store.create_endpoint(&doomed).await.unwrap();
    store.create_endpoint(&kept).await.unwrap();
    let doomed_captures: Vec<_> = (0..3).map(|_| new_capture(&doomed)).collect();
    let kept_captures: Vec<_> = (0..2).map(|_| new_capture(&kept)).collect();
    store.put_captures(&doomed_captures).await.unwrap();
    store.put_captures(&kept_captures).await.unwrap();

    store.delete_endpoint(doomed.id).await.unwrap();
    assert_eq!(store.endpoint(doomed.id).await.unwrap(), None);
    assert_eq!(store.endpoint_by_token(&doomed.token).await.unwrap(), None);
    assert_eq!(store.endpoints(team.id).await.unwrap(), vec![kept.clone()]);
    for c in &doomed_captures {
        assert_eq!(store.capture(c.id).await.unwrap(), None, "capture survived its endpoint");
    }
    let listed = store.captures(doomed.id, &page(100, None)).await.unwrap();
    assert!(listed.items.is_empty() && !listed.has_more, "deleted endpoint still lists captures");

    for c in &kept_captures {
        assert_same_capture(&store.capture(c.id).await.unwrap().unwrap(), c);
    }
    assert_eq!(store.captures(kept.id, &page(100, None)).await.unwrap().items.len(), 2);
    let err = store.delete_endpoint(doomed.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "endpoint" }), "second delete: {err:?}");
}

pub async fn capture_round_trip_is_byte_exact(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "round trip").await;
    let ep = new_endpoint(team.id, "round trip");
    store.create_endpoint(&ep).await.unwrap();

    let raw = CapturedRequest {
        method: "PURGE".into(),
        path: "/deep/p%2Fath/".into(),
        query: Some("a=1&a=2&b=%20".into()),
        headers: vec![
            Header::new("x-dup", "first"),
            Header::new("content-type", "application/octet-stream"),
            Header::new("x-raw", &b"caf\xe9 \xff\x00end"[..]),
            Header::new("x-dup", "second"),
            Header::new("x-empty", ""),
            Header::new("x-dup", "first"),
        ],
        body: Bytes::from_static(b"\x00\xff\xfe{\"a\":1}\x00\xc3\x28"),
        body_sha256: [0xab; 32],
        remote_addr: "2001:db8::1".into(),
        http_version: "HTTP/2.0".into(),
        // A minute ago, with a fraction that only microsecond precision keeps: relative to now, so
        // that retention (or a backend's TTL) never treats it as old, whatever the date.
        received_at: Timestamp::from_micros((Timestamp::now().micros() / 1_000_000 - 60) * 1_000_000 + 123_456),
        ..new_capture(&ep)
    };
    let empty = CapturedRequest {
        method: "GET".into(),
        path: "/".into(),
        query: None,
        headers: vec![],
        body: Bytes::new(),
        ..new_capture(&ep)
    };
    let empty_query = CapturedRequest { query: Some(String::new()), ..new_capture(&ep) };
    let big = CapturedRequest {
        body: (0..5 * 1024 * 1024).map(|i: u32| (i.wrapping_mul(31) % 251) as u8).collect(),
        http_version: "HTTP/1.0".into(),
        ..new_capture(&ep)
    };
    let all = [raw, empty, empty_query, big];
    assert_eq!(store.put_captures(&all).await.unwrap(), all.len());

    for want in &all {
        assert_same_capture(&store.capture(want.id).await.unwrap().expect("stored"), want);
    }
    let listed = store.captures(ep.id, &page(10, None)).await.unwrap();
    assert!(!listed.has_more);
    let mut newest_first: Vec<_> = all.iter().collect();
    newest_first.sort_by_key(|c| std::cmp::Reverse(c.id));
    assert_eq!(listed.items.len(), all.len());
    for (got, want) in listed.items.iter().zip(newest_first) {
        assert_same_capture(got, want);
    }
}

pub async fn put_captures_is_idempotent(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "idempotent").await;
    let ep = new_endpoint(team.id, "idempotent");
    store.create_endpoint(&ep).await.unwrap();
    let batch: Vec<_> = (0..3).map(|_| new_capture(&ep)).collect();

    assert_eq!(store.put_captures(&batch).await.unwrap(), 3);
    assert_eq!(store.put_captures(&batch).await.unwrap(), 0, "same batch again");
    assert_eq!(store.put_captures(&[]).await.unwrap(), 0);

    // A replay that somehow differs must not rewrite what was first stored.
    let altered = CapturedRequest {
        method: "DELETE".into(),
        query: None,
        headers: vec![Header::new("x-altered", "yes")],
        body: Bytes::from_static(b"altered"),
        body_sha256: [0; 32],
        received_at: Timestamp::from_micros(1),
        ..batch[1].clone()
    };
    let fresh = new_capture(&ep);
    assert_eq!(store.put_captures(&[altered, fresh.clone()]).await.unwrap(), 1);
    assert_same_capture(&store.capture(batch[1].id).await.unwrap().unwrap(), &batch[1]);
    assert_same_capture(&store.capture(fresh.id).await.unwrap().unwrap(), &fresh);
    assert_eq!(store.captures(ep.id, &page(10, None)).await.unwrap().items.len(), 4);
}

pub async fn captures_paged_newest_first(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "paging").await;
    let ep = new_endpoint(team.id, "paging");
    store.create_endpoint(&ep).await.unwrap();
    let captures: Vec<_> = (0..25).map(|_| new_capture(&ep)).collect();
    // Stored in an order unrelated to the ids: paging follows ids, not insertion.
    let odd: Vec<_> = captures.iter().skip(1).step_by(2).cloned().collect();
    let even_reversed: Vec<_> = captures.iter().step_by(2).rev().cloned().collect();
    assert_eq!(store.put_captures(&odd).await.unwrap(), 12);
    assert_eq!(store.put_captures(&even_reversed).await.unwrap(), 13);
    let mut expected: Vec<CaptureId> = captures.iter().map(|c| c.id).collect();
    expected.sort_by(|a, b| b.cmp(a));

    let mut seen = Vec::new();
    let mut before = None;
    for (want_len, want_more) in [(10, true), (10, true), (5, false)] {
        let got = store.captures(ep.id, &page(10, before)).await.unwrap();
        assert_eq!((got.items.len(), got.has_more), (want_len, want_more), "page after {before:?}");
        before = got.items.last().map(|c| c.id);
        seen.extend(got.items.iter().map(|c| c.id));
    }
    assert_eq!(seen, expected, "pages must cover every capture once, newest first");

    let all = store.captures(ep.id, &page(100, None)).await.unwrap();
    assert_eq!(all.items.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
    assert!(!all.has_more);
    let exact = store.captures(ep.id, &page(25, None)).await.unwrap();
    assert_eq!((exact.items.len(), exact.has_more), (25, false));
    let none = store.captures(ep.id, &page(0, None)).await.unwrap();
    assert!(none.items.is_empty() && none.has_more, "limit 0: {none:?}");
    let past_oldest = store.captures(ep.id, &page(10, Some(expected[24]))).await.unwrap();
    assert!(past_oldest.items.is_empty() && !past_oldest.has_more);
    let middle = store.captures(ep.id, &page(3, Some(expected[4]))).await.unwrap();
    assert_eq!(middle.items.iter().map(|c| c.id).collect::<Vec<_>>(), expected[5..8]);
    let unknown = store.captures(EndpointId::new(), &page(10, None)).await.unwrap();
    assert!(unknown.items.is_empty() && !unknown.has_more);
}

pub async fn captures_paging_isolated_per_endpoint(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "paging isolation").await;
    let a = new_endpoint(team.id, "a");
    let b = new_endpoint(team.id, "b");
    store.create_endpoint(&a).await.unwrap();
    store.create_endpoint(&b).await.unwrap();
    // Interleaved ids, so a page of one endpoint would have to skip the other's.
    let batch: Vec<_> = (0..12).map(|i| new_capture(if i % 2 == 0 { &a } else { &b })).collect();
    store.put_captures(&batch).await.unwrap();

    for ep in [&a, &b] {
        let mut want: Vec<_> = batch.iter().filter(|c| c.endpoint_id == ep.id).map(|c| c.id).collect();
        want.sort_by(|x, y| y.cmp(x));
        let first = store.captures(ep.id, &page(4, None)).await.unwrap();
        assert!(first.has_more);
        let rest = store.captures(ep.id, &page(4, first.items.last().map(|c| c.id))).await.unwrap();
        assert!(!rest.has_more);
        let got: Vec<_> = first.items.iter().chain(&rest.items).map(|c| c.id).collect();
        assert_eq!(got, want, "captures of endpoint {}", ep.name);
    }
}

pub async fn captures_filtered(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "filters").await;
    let ep = new_endpoint(team.id, "filters");
    let other = new_endpoint(team.id, "filters other");
    store.create_endpoint(&ep).await.unwrap();
    store.create_endpoint(&other).await.unwrap();
    let t0 = Timestamp::now().micros();
    let mk = |i: i64, method: &str, headers: Vec<Header>, body: &[u8]| CapturedRequest {
        method: method.into(),
        headers,
        body: Bytes::copy_from_slice(body),
        received_at: Timestamp::from_micros(t0 + i * 1_000_000),
        ..new_capture(&ep)
    };
    let sig = |v: &str| Header::new("Stripe-Signature", Bytes::copy_from_slice(v.as_bytes()));
    let mut c = [
        mk(0, "POST", vec![sig("t=1,v1=abc")], b"{\"type\":\"charge.succeeded\"}"),
        mk(1, "GET", vec![Header::new("accept", "*/*")], b""),
        mk(2, "POST", vec![Header::new("x-github-event", "push")], b"\x00\xffbinary\x00needle"),
        mk(3, "post", vec![sig("t=2,v1=def")], b"{\"type\":\"charge.failed\"}"),
        mk(4, "PURGE", vec![Header::new("STRIPE-SIGNATURE", Bytes::from_static(b"\xfft=3"))], b"charge"),
    ];
    c[0].path = "/stripe/events".into();
    c[2].path = "/github%2Fpush".into();
    c[3].path = "/stripe".into();
    c[4].path = "/Stripe".into();
    store.put_captures(&c).await.unwrap();
    // The same bytes under another endpoint must never leak into this endpoint's results.
    store.put_captures(&[CapturedRequest { ..new_capture(&other) }]).await.unwrap();
    let ids = |f: CaptureFilter, limit: u32, before: Option<CaptureId>| {
        let store = store.clone();
        async move {
            let got =
                store.captures(ep.id, &CapturePage { limit, before, filter: f, without_bodies: false }).await.unwrap();
            (got.items.iter().map(|x| x.id).collect::<Vec<_>>(), got.has_more)
        }
    };
    let want = |idx: &[usize]| idx.iter().map(|&i| c[i].id).collect::<Vec<_>>();

    let method = CaptureFilter { method: Some("POST".into()), ..Default::default() };
    assert_eq!(ids(method.clone(), 10, None).await, (want(&[2, 0]), false), "method is case-sensitive");
    let range = CaptureFilter {
        received_from: Some(Timestamp::from_micros(t0 + 1_000_000)),
        received_until: Some(Timestamp::from_micros(t0 + 3_000_000)),
        ..Default::default()
    };
    assert_eq!(ids(range, 10, None).await, (want(&[2, 1]), false), "from is inclusive, until exclusive");
    let header = |name: &str, value: &[u8]| CaptureFilter {
        header: Some(HeaderFilter { name: name.into(), value_contains: value.to_vec() }),
        ..Default::default()
    };
    assert_eq!(ids(header("stripe-signature", b""), 10, None).await.0, want(&[4, 3, 0]), "name case-insensitive");
    assert_eq!(ids(header("Stripe-Signature", b"v1=def"), 10, None).await.0, want(&[3]));
    assert_eq!(ids(header("Stripe-Signature", b"\xfft="), 10, None).await.0, want(&[4]), "raw value bytes");
    assert_eq!(ids(header("Stripe-Signature", b"V1=DEF"), 10, None).await.0, want(&[]), "value case-sensitive");
    assert_eq!(ids(header("x-missing", b""), 10, None).await.0, want(&[]));
    let body = |b: &[u8]| CaptureFilter { body_contains: Some(b.to_vec()), ..Default::default() };
    assert_eq!(ids(body(b"charge"), 10, None).await.0, want(&[4, 3, 0]));
    assert_eq!(ids(body(b"\x00needle"), 10, None).await.0, want(&[2]), "binary needle in binary body");
    assert_eq!(ids(body(b""), 10, None).await.0.len(), 5, "empty needle matches every body");
    let path = |p: &str| CaptureFilter { path_prefix: Some(p.into()), ..Default::default() };
    assert_eq!(ids(path("/stripe"), 10, None).await.0, want(&[3, 0]), "prefix, case-sensitive");
    assert_eq!(ids(path("/stripe/"), 10, None).await.0, want(&[0]));
    assert_eq!(ids(path("/github%2F"), 10, None).await.0, want(&[2]), "as sent, still percent-encoded");
    assert_eq!(ids(path("/github/"), 10, None).await.0, want(&[]), "no decoding");
    assert_eq!(ids(path("/hook"), 10, None).await.0, want(&[1]));
    assert_eq!(ids(path("/"), 10, None).await.0.len(), 5, "`/` matches every path");
    // All conditions at once, and paging through a filtered list.
    let all = CaptureFilter {
        header: Some(HeaderFilter { name: "stripe-signature".into(), value_contains: vec![] }),
        body_contains: Some(b"charge".to_vec()),
        received_from: Some(Timestamp::from_micros(t0)),
        ..Default::default()
    };
    let (first, more) = ids(all.clone(), 2, None).await;
    assert_eq!((first.clone(), more), (want(&[4, 3]), true));
    assert_eq!(ids(all, 2, first.last().copied()).await, (want(&[0]), false));
    assert_eq!(ids(method, 1, None).await, (want(&[2]), true));
}

/// A page without bodies is the same page, bodies emptied: same ids, order, sizes, headers and
/// digests, and a body filter still sees the bodies.
pub async fn captures_listed_without_bodies(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "without bodies").await;
    let ep = new_endpoint(team.id, "without bodies");
    store.create_endpoint(&ep).await.unwrap();
    let bodies: [&[u8]; 5] = [b"", b"{\"type\":\"charge\"}", b"\x00\xffneedle\x00", b"plain", b"needle at the start"];
    let mut captures: Vec<_> =
        bodies.iter().map(|b| CapturedRequest { body: Bytes::copy_from_slice(b), ..new_capture(&ep) }).collect();
    captures.push(CapturedRequest { body: Bytes::from(vec![0x7e; 3 * 1024 * 1024 + 7]), ..new_capture(&ep) });
    store.put_captures(&captures).await.unwrap();
    captures.sort_by_key(|c| std::cmp::Reverse(c.id));
    let sizes_of = |cs: &[&CapturedRequest]| cs.iter().map(|c| c.body.len() as u64).collect::<Vec<_>>();

    let filters = [
        (CaptureFilter::default(), captures.iter().collect::<Vec<_>>()),
        (
            CaptureFilter { body_contains: Some(b"needle".to_vec()), ..Default::default() },
            captures.iter().filter(|c| crate::contains(&c.body, b"needle")).collect(),
        ),
    ];
    for (filter, want) in filters {
        assert!(!want.is_empty());
        for limit in [2, 100] {
            let mut before = None;
            let mut seen = Vec::new();
            loop {
                let with = CapturePage { limit, before, filter: filter.clone(), without_bodies: false };
                let without = CapturePage { without_bodies: true, ..with.clone() };
                let full = store.captures(ep.id, &with).await.unwrap();
                let bare = store.captures(ep.id, &without).await.unwrap();
                let ids = |l: &crate::CaptureList| l.items.iter().map(|c| c.id).collect::<Vec<_>>();
                assert_eq!(ids(&bare), ids(&full), "same captures, same order ({filter:?}, limit {limit})");
                assert_eq!(bare.has_more, full.has_more);
                assert_eq!(full.body_sizes.len(), full.items.len(), "a size for every item");
                assert_eq!(bare.body_sizes, full.body_sizes, "same sizes both ways");
                for (got, size) in full.items.iter().zip(&full.body_sizes) {
                    assert_eq!(got.body.len() as u64, *size, "capture {}: the size is the body's", got.id);
                }
                for (got, whole) in bare.items.iter().zip(&full.items) {
                    assert!(got.body.is_empty(), "capture {}: a body was listed", got.id);
                    assert_same_capture(got, &CapturedRequest { body: Bytes::new(), ..whole.clone() });
                }
                seen.extend(full.items.iter().map(|c| c.id));
                before = full.items.last().map(|c| c.id);
                if !full.has_more {
                    break;
                }
            }
            assert_eq!(seen, want.iter().map(|c| c.id).collect::<Vec<_>>(), "{filter:?}, limit {limit}");
        }
        let all = CapturePage { limit: 100, filter, without_bodies: true, ..Default::default() };
        let all = store.captures(ep.id, &all).await.unwrap();
        assert_eq!(all.body_sizes, sizes_of(&want), "sizes are the stored bodies' sizes");
    }
}

pub async fn capture_delete(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "delete capture").await;
    let ep = new_endpoint(team.id, "delete capture");
    store.create_endpoint(&ep).await.unwrap();
    let c: Vec<_> = (0..3).map(|_| new_capture(&ep)).collect();
    store.put_captures(&c).await.unwrap();
    store.delete_capture(c[1].id).await.unwrap();
    assert_eq!(store.capture(c[1].id).await.unwrap(), None);
    let left = store.captures(ep.id, &page(10, None)).await.unwrap();
    assert_eq!(left.items.iter().map(|x| x.id).collect::<Vec<_>>(), vec![c[2].id, c[0].id]);
    assert!(matches!(store.delete_capture(c[1].id).await, Err(StoreError::NotFound { entity: "capture" })));
    assert!(matches!(store.delete_capture(CaptureId::new()).await, Err(StoreError::NotFound { .. })));
    // A replayed log record after deletion stores the capture again: deletion is not a tombstone.
    assert_eq!(store.put_captures(&c[1..2]).await.unwrap(), 1);
}

pub async fn token_by_id(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "token by id").await;
    let t = new_token(team.id, Role::Viewer, false);
    store.create_token(&t).await.unwrap();
    assert_eq!(store.token(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(store.token(TokenId::new()).await.unwrap(), None);
    store.revoke_token(t.id).await.unwrap();
    assert!(store.token(t.id).await.unwrap().unwrap().revoked);
}

pub async fn retention_set_and_expire(h: &dyn StoreHarness) {
    let store = h.open().await;
    let keep_long = new_team(&store, "retention long").await;
    let keep_short = new_team(&store, "retention short").await;
    store.set_retention(keep_short.id, 1).await.unwrap();
    store.set_retention(keep_long.id, 30).await.unwrap();
    assert_eq!(store.team(keep_short.id).await.unwrap().unwrap().retention_days, 1);
    assert!(matches!(store.set_retention(TeamId::new(), 3).await, Err(StoreError::NotFound { entity: "team" })));

    let now = Timestamp::now().micros();
    let day = 86_400_000_000i64;
    let aged =
        |ep: &Endpoint, age: i64| CapturedRequest { received_at: Timestamp::from_micros(now - age), ..new_capture(ep) };
    let short_ep = new_endpoint(keep_short.id, "short");
    let long_ep = new_endpoint(keep_long.id, "long");
    store.create_endpoint(&short_ep).await.unwrap();
    store.create_endpoint(&long_ep).await.unwrap();
    let short_old = aged(&short_ep, 2 * day);
    let short_edge = aged(&short_ep, day - 60_000_000);
    let short_new = aged(&short_ep, 0);
    let long_old = aged(&long_ep, 2 * day);
    let long_expired = aged(&long_ep, 31 * day);
    store
        .put_captures(&[
            short_old.clone(),
            short_edge.clone(),
            short_new.clone(),
            long_old.clone(),
            long_expired.clone(),
        ])
        .await
        .unwrap();

    let deleted = store.expire_captures(Timestamp::from_micros(now)).await.unwrap();
    if h.expires_natively() {
        assert_eq!(deleted, 0, "native expiry leaves nothing for a retention pass");
    } else {
        // Other cases share the database and may hold captures of any age, so the count is only a
        // lower bound; what happened to this case's own captures is checked exactly below.
        assert!(deleted >= 2, "deleted {deleted} captures; this case alone has 2 past retention");
    }
    let remaining = async |ep: &Endpoint| {
        let mut ids: Vec<_> =
            store.captures(ep.id, &page(100, None)).await.unwrap().items.iter().map(|c| c.id).collect();
        ids.sort();
        ids
    };
    let mut short_kept = vec![short_edge.id, short_new.id];
    short_kept.sort();
    assert_eq!(remaining(&short_ep).await, short_kept, "the 1-day team keeps exactly its captures younger than a day");
    assert_eq!(remaining(&long_ep).await, vec![long_old.id], "the 30-day team keeps exactly its 2-day-old capture");
    assert_eq!(store.capture(short_old.id).await.unwrap(), None);
    assert_eq!(store.capture(long_expired.id).await.unwrap(), None);
    for kept in [&short_edge, &short_new, &long_old] {
        assert!(store.capture(kept.id).await.unwrap().is_some(), "capture {} within retention was deleted", kept.id);
    }
    assert_eq!(store.expire_captures(Timestamp::from_micros(now)).await.unwrap(), 0, "expiry is idempotent");
}

pub async fn restart_keeps_everything(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "restart").await;
    let token = new_token(team.id, Role::Admin, false);
    store.create_token(&token).await.unwrap();
    let used = Timestamp::from_micros(token.created_at.micros() + 5);
    store.touch_token(token.id, used).await.unwrap();
    let ep = Endpoint { response: Some(custom_response()), ..new_endpoint(team.id, "restart") };
    store.create_endpoint(&ep).await.unwrap();
    let captures: Vec<_> = (0..3).map(|_| new_capture(&ep)).collect();
    store.put_captures(&captures).await.unwrap();
    drop(store);

    let store = h.open().await;
    assert_eq!(store.team(team.id).await.unwrap(), Some(team.clone()));
    let token = ApiToken { last_used_at: Some(used), ..token };
    assert_eq!(store.token_by_hash(&token.hash).await.unwrap(), Some(token));
    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(ep.clone()));
    assert_eq!(store.endpoint_by_token(&ep.token).await.unwrap(), Some(ep.clone()));
    let listed = store.captures(ep.id, &page(10, None)).await.unwrap();
    assert_eq!(listed.items.len(), 3);
    for (got, want) in listed.items.iter().zip(captures.iter().rev()) {
        assert_same_capture(got, want);
    }
    // Replays after a restart are still recognised as already stored.
    assert_eq!(store.put_captures(&captures).await.unwrap(), 0);
}

/// Settings, secrets included, survive create, update and a restart exactly; clearing them works.
pub async fn verification_settings_round_trip(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "verification settings").await;
    let ep =
        Endpoint { verification: Some(verification_settings()), handshakes: true, ..new_endpoint(team.id, "signed") };
    store.create_endpoint(&ep).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(ep.clone()));

    let mut rotated = verification_settings();
    rotated.secrets.insert(0, SigningSecret::new("new", "whsec_new\u{e9}"));
    rotated.generic = None;
    let updated = Endpoint { verification: Some(rotated), handshakes: false, ..ep.clone() };
    store.update_endpoint(&updated).await.unwrap();
    drop(store);
    let store = h.open().await;
    assert_eq!(store.endpoint_by_token(&ep.token).await.unwrap(), Some(updated.clone()));

    store.update_endpoint(&Endpoint { verification: None, ..updated }).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap().unwrap().verification, None);
}

/// A result's event survives the round trip whole; captures are filtered by event type (exact or
/// with `*`) and by event id; a re-verification that names another event moves the capture out
/// of the old one's filters; an endpoint's custom event fields round-trip and clear.
pub async fn events_stored_with_results_and_filtered(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "events").await;
    let fields = hookmetry_core::EventFields {
        id: Some("header:X-Event-Id".into()),
        kind: Some("json:/kind".into()),
        ..Default::default()
    };
    let ep = Endpoint { event_fields: Some(fields.clone()), ..new_endpoint(team.id, "events") };
    store.create_endpoint(&ep).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap().unwrap().event_fields, Some(fields));
    let other = new_endpoint(team.id, "events elsewhere");
    store.create_endpoint(&other).await.unwrap();

    let with_event = |id: &str, kind: &str| {
        let mut v = verification(Verdict::Valid, "matches secret `current`", Some("current"));
        v.event = hookmetry_core::CaptureEvent {
            id: Some(id.into()),
            kind: Some(kind.into()),
            created_at: Some(Timestamp::from_micros(1_700_000_000_000_000)),
            attempt: Some(2),
            retry_reason: Some("http_timeout".into()),
            resource: Some("ch_1".into()),
        };
        v
    };
    let (a, b, c, none) = (new_capture(&ep), new_capture(&ep), new_capture(&ep), new_capture(&ep));
    let elsewhere = new_capture(&other);
    let results = [
        (a.id, with_event("evt_1", "charge.succeeded")),
        (b.id, with_event("evt_1", "charge.succeeded")),
        (c.id, with_event("evt_2", "charge.refunded")),
        (none.id, verification(Verdict::NotConfigured, "no secret configured", None)),
        (elsewhere.id, with_event("evt_1", "charge.succeeded")),
    ];
    store.put_checked_captures(&[a.clone(), b.clone(), c.clone(), none.clone()], &results[..4]).await.unwrap();
    store.put_checked_captures(std::slice::from_ref(&elsewhere), &results[4..]).await.unwrap();
    assert_eq!(store.verification(a.id).await.unwrap(), Some(results[0].1.clone()), "the event round-trips whole");
    assert!(store.verification(none.id).await.unwrap().unwrap().event.is_empty());

    let ids = |l: crate::CaptureList| l.items.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let list = |filter: CaptureFilter| {
        let store = store.clone();
        async move { ids(store.captures(ep.id, &CapturePage { limit: 10, filter, ..Default::default() }).await.unwrap()) }
    };
    let by_type = |t: &str| CaptureFilter { event_type: Some(t.into()), ..Default::default() };
    assert_eq!(list(by_type("charge.succeeded")).await, vec![b.id, a.id]);
    assert_eq!(list(by_type("charge.*")).await, vec![c.id, b.id, a.id]);
    assert_eq!(list(by_type("*.refunded")).await, vec![c.id]);
    assert!(list(by_type("charge")).await.is_empty(), "no wildcard, no prefix match");
    assert!(list(by_type("Charge.*")).await.is_empty(), "types compare case-sensitively");
    let by_id = |i: &str| CaptureFilter { event_id: Some(i.into()), ..Default::default() };
    assert_eq!(list(by_id("evt_1")).await, vec![b.id, a.id], "only this endpoint's captures");
    assert!(list(by_id("evt_")).await.is_empty());
    let both =
        CaptureFilter { event_id: Some("evt_2".into()), event_type: Some("charge.*".into()), ..Default::default() };
    assert_eq!(list(both).await, vec![c.id]);

    // Checked again, naming another event: the filters follow the latest result.
    store.put_verifications(&[(a.id, with_event("evt_9", "invoice.paid"))]).await.unwrap();
    assert_eq!(list(by_id("evt_1")).await, vec![b.id]);
    assert_eq!(list(by_type("invoice.paid")).await, vec![a.id]);

    store.update_endpoint(&Endpoint { event_fields: None, ..ep.clone() }).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap().unwrap().event_fields, None);
}

/// Captures naming one provider event id form a group, oldest first, with what each was
/// answered and what the provider said; another endpoint's captures and captures whose later
/// result names another event are not in it. The newest event before a capture for a resource
/// is found among captures received before it only.
pub async fn redelivery_groups_and_resource_order_follow_the_latest_results(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "redeliveries").await;
    let ep = new_endpoint(team.id, "redeliveries");
    store.create_endpoint(&ep).await.unwrap();
    let other = new_endpoint(team.id, "redeliveries elsewhere");
    store.create_endpoint(&other).await.unwrap();
    let at = |s: i64| Timestamp::from_micros(1_700_000_000_000_000 + s * 1_000_000);
    let result = |id: &str, resource: &str, created: i64, attempt: Option<u32>| {
        let mut v = verification(Verdict::Valid, "matches secret `current`", Some("current"));
        v.event = hookmetry_core::CaptureEvent {
            id: Some(id.into()),
            kind: Some("charge.updated".into()),
            created_at: Some(at(created)),
            attempt,
            retry_reason: attempt.map(|_| "http_timeout".to_string()),
            resource: Some(resource.into()),
        };
        v
    };
    let mut first = new_capture(&ep);
    first.answered = Some(Answered::plain(500, 0));
    let (second, third, moved) = (new_capture(&ep), new_capture(&ep), new_capture(&ep));
    let elsewhere = new_capture(&other);
    let results = [
        (first.id, result("evt_1", "ch_1", 30, None)),
        (second.id, result("evt_1", "ch_1", 31, Some(2))),
        (third.id, result("evt_2", "ch_1", 10, None)),
        (moved.id, result("evt_1", "ch_2", 5, None)),
    ];
    store.put_checked_captures(&[first.clone(), second.clone(), third.clone(), moved.clone()], &results).await.unwrap();
    store
        .put_checked_captures(std::slice::from_ref(&elsewhere), &[(elsewhere.id, result("evt_1", "ch_1", 99, None))])
        .await
        .unwrap();
    // Checked again, `moved` names another event and resource.
    store.put_verifications(&[(moved.id, result("evt_9", "ch_9", 5, None))]).await.unwrap();

    let group = store.event_group(ep.id, "evt_1", 10).await.unwrap();
    assert_eq!(group.total, 2, "{group:?}");
    let ids: Vec<_> = group.members.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![first.id, second.id]);
    assert_eq!(group.members[0].answered, Some(Answered::plain(500, 0)));
    assert_eq!(group.members[0].received_at, first.received_at);
    assert_eq!((group.members[1].attempt, group.members[1].retry_reason.as_deref()), (Some(2), Some("http_timeout")));
    assert_eq!(group.members[1].answered, Some(Answered::plain(202, 15)));
    let limited = store.event_group(ep.id, "evt_1", 1).await.unwrap();
    assert_eq!((limited.total, limited.members.len()), (2, 1), "the total counts beyond the limit");
    assert_eq!(
        store.event_group(ep.id, "evt_9", 10).await.unwrap().members.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![moved.id]
    );
    assert_eq!(store.event_group(ep.id, "evt_404", 10).await.unwrap(), hookmetry_core::EventGroup::default());
    let keys = [
        (ep.id, "evt_1".to_string(), second.id),
        (ep.id, "evt_1".to_string(), first.id),
        (ep.id, "evt_404".to_string(), second.id),
        (other.id, "evt_1".to_string(), CaptureId::new()),
    ];
    assert_eq!(
        store.previous_of_events(&keys).await.unwrap(),
        vec![
            Some((first.id, Some(Answered::plain(500, 0)))),
            None,
            None,
            Some((elsewhere.id, Some(Answered::plain(202, 15)))),
        ],
        "in the order asked, each the newest before its capture"
    );
    assert!(store.previous_of_events(&[]).await.unwrap().is_empty());

    // `third` (event created at 10) arrived after `first` and `second` (created at 30 and 31).
    assert_eq!(store.newest_event_before(ep.id, "ch_1", third.id).await.unwrap(), Some((second.id, at(31))));
    assert_eq!(store.newest_event_before(ep.id, "ch_1", second.id).await.unwrap(), Some((first.id, at(30))));
    assert_eq!(store.newest_event_before(ep.id, "ch_1", first.id).await.unwrap(), None, "nothing before the first");
    assert_eq!(
        store.newest_event_before(ep.id, "ch_2", CaptureId::new()).await.unwrap(),
        None,
        "a later result moved it"
    );
    assert_eq!(
        store.newest_event_before(other.id, "ch_1", CaptureId::new()).await.unwrap(),
        Some((elsewhere.id, at(99)))
    );
}

/// Shapes are kept per endpoint and event type, a later write replaces an earlier one, a shape of
/// an endpoint that does not exist is not written, a capture's schema change round-trips, and an
/// endpoint's deletion takes its shapes.
pub async fn event_shapes_replace_per_type_and_go_with_their_endpoint(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "shapes").await;
    let ep = new_endpoint(team.id, "shapes");
    store.create_endpoint(&ep).await.unwrap();
    let shape = |event_type: &str, samples: u64| hookmetry_core::EventShape {
        endpoint_id: ep.id,
        event_type: event_type.into(),
        shape: format!(r#"{{"v":1,"samples":{samples}}}"#),
        samples,
        updated_at: Timestamp::from_micros(1_700_000_000_000_000 + samples as i64),
    };
    let ghost = hookmetry_core::EventShape { endpoint_id: EndpointId::new(), ..shape("charge.succeeded", 1) };
    store.put_event_shapes(&[shape("charge.succeeded", 1), shape("invoice.paid", 3), ghost.clone()]).await.unwrap();
    store.put_event_shapes(&[shape("charge.succeeded", 2)]).await.unwrap();
    assert_eq!(store.event_shape(ep.id, "charge.succeeded").await.unwrap(), Some(shape("charge.succeeded", 2)));
    assert_eq!(store.event_shape(ep.id, "charge.refunded").await.unwrap(), None);
    assert_eq!(store.event_shape(ghost.endpoint_id, "charge.succeeded").await.unwrap(), None, "no endpoint, no shape");
    assert_eq!(
        store.event_shapes(ep.id, 10).await.unwrap(),
        vec![shape("charge.succeeded", 2), shape("invoice.paid", 3)],
        "by event type"
    );
    assert_eq!(store.event_shapes(ep.id, 1).await.unwrap().len(), 1);

    let (capture, other) = (new_capture(&ep), new_capture(&ep));
    store.put_captures(&[capture.clone(), other.clone()]).await.unwrap();
    let change =
        r#"{"kind":"added","fields":[{"path":"data.new","kind":"added","before":[],"after":["string"]}],"more":0}"#;
    store
        .put_schema_changes(&[(capture.id, change.to_string()), (CaptureId::new(), change.to_string())])
        .await
        .unwrap();
    assert_eq!(store.schema_change(capture.id).await.unwrap().as_deref(), Some(change));
    assert_eq!(store.schema_change(other.id).await.unwrap(), None);
    assert_eq!(store.capture(capture.id).await.unwrap().as_ref(), Some(&capture), "the capture itself is untouched");

    store.delete_endpoint(ep.id).await.unwrap();
    assert!(store.event_shapes(ep.id, 10).await.unwrap().is_empty(), "shapes go with their endpoint");
}

/// Results attach to stored captures, a later result replaces an earlier one, captures are
/// filtered by verdict, and a result for an id never stored creates nothing.
pub async fn verifications_stored_replaced_and_filtered(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "verifications").await;
    let ep = new_endpoint(team.id, "verified");
    store.create_endpoint(&ep).await.unwrap();
    let (a, b, c) = (new_capture(&ep), new_capture(&ep), new_capture(&ep));
    store.put_captures(&[a.clone(), b.clone(), c.clone()]).await.unwrap();
    assert_eq!(store.verification(a.id).await.unwrap(), None, "no result before verification");

    let valid = verification(Verdict::Valid, "matches secret `current`", Some("current"));
    let invalid = verification(Verdict::InvalidSignature, "no secret matches", None);
    let ghost = CaptureId::new();
    store.put_verifications(&[(a.id, valid.clone()), (b.id, invalid.clone()), (ghost, valid.clone())]).await.unwrap();
    assert_eq!(store.verification(a.id).await.unwrap(), Some(valid.clone()));
    assert_eq!(store.verification(b.id).await.unwrap(), Some(invalid.clone()));
    assert_eq!(store.verification(ghost).await.unwrap(), None);
    assert_eq!(store.capture(ghost).await.unwrap(), None, "a result must not create a capture");
    let many = store.verifications(&[a.id, b.id, c.id, ghost]).await.unwrap();
    assert_eq!(many.len(), 2, "only captures that have a result: {many:?}");
    assert_eq!((many.get(&a.id), many.get(&b.id)), (Some(&valid), Some(&invalid)));
    assert!(store.verifications(&[]).await.unwrap().is_empty());

    let by = |v: Verdict| CapturePage {
        limit: 10,
        filter: CaptureFilter { verdict: Some(v), ..Default::default() },
        ..Default::default()
    };
    let ids = |l: crate::CaptureList| l.items.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(store.captures(ep.id, &by(Verdict::Valid)).await.unwrap()), vec![a.id]);
    assert_eq!(ids(store.captures(ep.id, &by(Verdict::InvalidSignature)).await.unwrap()), vec![b.id]);
    assert!(ids(store.captures(ep.id, &by(Verdict::Malformed)).await.unwrap()).is_empty());

    // Verified again after a secret change: the new result replaces the old one.
    let now_valid = verification(Verdict::Valid, "matches secret `new`", Some("new"));
    store.put_verifications(&[(b.id, now_valid.clone())]).await.unwrap();
    assert_eq!(store.verification(b.id).await.unwrap(), Some(now_valid));
    assert_eq!(ids(store.captures(ep.id, &by(Verdict::Valid)).await.unwrap()), vec![b.id, a.id]);
    assert!(ids(store.captures(ep.id, &by(Verdict::InvalidSignature)).await.unwrap()).is_empty());
    // The capture itself is untouched by its verification.
    assert_same_capture(&store.capture(b.id).await.unwrap().unwrap(), &b);
}

/// What the processor writes: new captures with their results, a redelivered capture (stored
/// before) keeping its bytes but taking the new result, a capture without a result left without
/// one, and a result for an id never stored creating nothing.
pub async fn checked_captures_stored_with_their_results_in_one_write(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "checked captures").await;
    let ep = new_endpoint(team.id, "checked");
    store.create_endpoint(&ep).await.unwrap();
    let (a, b, unchecked) = (new_capture(&ep), new_capture(&ep), new_capture(&ep));
    let valid = verification(Verdict::Valid, "matches secret `current`", Some("current"));
    let invalid = verification(Verdict::InvalidSignature, "no secret matches", None);
    let ghost = CaptureId::new();
    let results = [(a.id, valid.clone()), (b.id, invalid.clone()), (ghost, valid.clone())];
    let new = store.put_checked_captures(&[a.clone(), b.clone(), unchecked.clone()], &results).await.unwrap();
    assert_eq!(new, 3);
    assert_eq!(store.verification(a.id).await.unwrap(), Some(valid.clone()));
    assert_eq!(store.verification(b.id).await.unwrap(), Some(invalid.clone()));
    assert_eq!(store.verification(unchecked.id).await.unwrap(), None, "stored without a result");
    assert_eq!(store.capture(ghost).await.unwrap(), None, "a result must not create a capture");
    assert_same_capture(&store.capture(a.id).await.unwrap().unwrap(), &a);

    // Redelivered after a crash, checked again against a changed secret: not new, same bytes,
    // the new result.
    let altered = CapturedRequest { body: Bytes::from_static(b"other bytes"), ..b.clone() };
    let now_valid = verification(Verdict::Valid, "matches secret `new`", Some("new"));
    let fresh = new_capture(&ep);
    let new = store
        .put_checked_captures(&[altered, fresh.clone()], &[(b.id, now_valid.clone()), (fresh.id, invalid.clone())])
        .await
        .unwrap();
    assert_eq!(new, 1, "only `fresh` is new");
    assert_same_capture(&store.capture(b.id).await.unwrap().unwrap(), &b);
    assert_eq!(store.verification(b.id).await.unwrap(), Some(now_valid));
    assert_eq!(store.verification(fresh.id).await.unwrap(), Some(invalid));
    assert_eq!(store.verification(a.id).await.unwrap(), Some(valid), "untouched by the second write");
    assert_eq!(store.put_checked_captures(&[], &[]).await.unwrap(), 0);
}

fn verification_settings() -> VerificationSettings {
    VerificationSettings {
        provider: "generic-hmac".into(),
        secrets: vec![SigningSecret::new("current", "s3cret"), SigningSecret::new("old", " spaced \n")],
        tolerance_seconds: Some(120),
        public_url: Some("https://hooks.example.com/in".into()),
        generic: Some(GenericHmac {
            header: "X-Sig".into(),
            algorithm: "sha256".into(),
            encoding: "hex".into(),
            prefix: "sha256=".into(),
            template: "{timestamp}.{body}".into(),
            timestamp_header: Some("X-Ts".into()),
            id_header: None,
        }),
    }
}

fn verification(verdict: Verdict, reason: &str, label: Option<&str>) -> Verification {
    Verification {
        provider: Some("stripe".into()),
        verdict,
        reason: reason.into(),
        secret_label: label.map(str::to_string),
        verified_at: Timestamp::from_micros(1_700_000_000_123_456),
        event: Default::default(),
    }
}

pub async fn delivery_round_trip_is_byte_exact_and_first_write_wins(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "delivery round trip").await;
    let mut d = new_delivery(&capture, DeliveryOrigin::Rule { rule_id: "to-staging".into() });
    d.request.headers = vec![
        Header::new("X-Dup", "one"),
        Header::new("content-type", "application/json"),
        Header::new("X-Dup", Bytes::from_static(b"two \xff\x00")),
    ];
    d.request.body = Bytes::from_static(b"\x00\xffnot utf-8\r\n");
    d.edited = true;
    store.put_delivery(&d).await.unwrap();
    assert_eq!(store.delivery(d.id).await.unwrap(), Some(d.clone()));

    let mut changed = d.clone();
    changed.request.url = "http://elsewhere.invalid/".into();
    changed.state = DeliveryState::Succeeded;
    store.put_delivery(&changed).await.unwrap();
    assert_eq!(store.delivery(d.id).await.unwrap(), Some(d), "a second put of the same id must change nothing");
    assert_eq!(store.delivery(DeliveryId::new()).await.unwrap(), None);
}

/// The trace context a delivery was made in comes back on every read, unchanged by attempts, so
/// a retry that a scan of the store starts continues the capture's trace. No context stays none.
pub async fn delivery_trace_context_round_trips(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "delivery trace context").await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = Delivery {
        trace_parent: Some(traceparent.into()),
        ..new_delivery(&capture, DeliveryOrigin::Rule { rule_id: "traced".into() })
    };
    let untraced = new_delivery(&capture, DeliveryOrigin::Manual);
    for d in [&traced, &untraced] {
        store.put_delivery(d).await.unwrap();
    }
    assert_eq!(store.delivery(traced.id).await.unwrap(), Some(traced.clone()));
    assert_eq!(store.delivery(untraced.id).await.unwrap().unwrap().trace_parent, None);
    let listed = store.deliveries_for_capture(capture.id, usize::MAX).await.unwrap();
    let of = |id: DeliveryId| listed.iter().find(|d| d.id == id).map(|d| d.trace_parent.clone());
    assert_eq!(of(traced.id), Some(Some(traceparent.to_string())), "deliveries_for_capture: {listed:?}");
    assert_eq!(of(untraced.id), Some(None));

    // A failed attempt schedules a retry; the scan that finds it due sees the same context.
    let retry_at = Timestamp::from_micros(traced.created_at.micros() + 1_000);
    let progress = DeliveryProgress {
        state: DeliveryState::Pending,
        attempts: 1,
        next_attempt_at: Some(retry_at),
        updated_at: retry_at,
    };
    assert!(store.record_attempt(&new_attempt(traced.id, 1, Some(503)), &progress).await.unwrap());
    let due = store.due_deliveries(Timestamp::from_micros(retry_at.micros() + 1), 100).await.unwrap();
    let found = due.iter().find(|d| d.id == traced.id).expect("the retry is due");
    assert_eq!(found.trace_parent.as_deref(), Some(traceparent), "after an attempt");
    assert_eq!(found.attempts, 1);
}

pub async fn delivery_retry_like_round_trips(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "delivery retry like").await;
    let like = Delivery {
        retry_like: Some(hookmetry_core::RetryLike { provider: "stripe".into(), speed: 3600 }),
        max_attempts: 8,
        ..new_delivery(&capture, DeliveryOrigin::Manual)
    };
    let plain = new_delivery(&capture, DeliveryOrigin::Manual);
    for d in [&like, &plain] {
        store.put_delivery(d).await.unwrap();
    }
    assert_eq!(store.delivery(like.id).await.unwrap(), Some(like.clone()));
    assert_eq!(store.delivery(plain.id).await.unwrap().unwrap().retry_like, None);
    let listed = store.deliveries_for_capture(capture.id, usize::MAX).await.unwrap();
    let of = |id: DeliveryId| listed.iter().find(|d| d.id == id).map(|d| d.retry_like.clone());
    assert_eq!(of(like.id), Some(like.retry_like.clone()), "deliveries_for_capture: {listed:?}");

    // The scan that finds its retry due sees the provider it retries like.
    let retry_at = Timestamp::from_micros(like.created_at.micros() + 1_000);
    let progress = DeliveryProgress {
        state: DeliveryState::Pending,
        attempts: 1,
        next_attempt_at: Some(retry_at),
        updated_at: retry_at,
    };
    assert!(store.record_attempt(&new_attempt(like.id, 1, Some(500)), &progress).await.unwrap());
    let due = store.due_deliveries(Timestamp::from_micros(retry_at.micros() + 1), 100).await.unwrap();
    let found = due.iter().find(|d| d.id == like.id).expect("the retry is due");
    assert_eq!(found.retry_like, like.retry_like, "after an attempt");
}

pub async fn deliveries_listed_per_capture_newest_first(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (ep, capture) = endpoint_with_capture(&store, "deliveries per capture").await;
    let other = new_capture(&ep);
    store.put_captures(std::slice::from_ref(&other)).await.unwrap();
    let first = new_delivery(&capture, DeliveryOrigin::Manual);
    let second = new_delivery(&capture, DeliveryOrigin::Manual);
    let elsewhere = new_delivery(&other, DeliveryOrigin::Manual);
    for d in [&first, &elsewhere, &second] {
        store.put_delivery(d).await.unwrap();
    }
    let ids: Vec<DeliveryId> =
        store.deliveries_for_capture(capture.id, usize::MAX).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![second.id, first.id]);
    let newest: Vec<DeliveryId> =
        store.deliveries_for_capture(capture.id, 1).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(newest, vec![second.id], "a limit keeps the newest");
    assert!(store.deliveries_for_capture(CaptureId::new(), usize::MAX).await.unwrap().is_empty());
}

pub async fn attempts_recorded_once_in_order_with_progress(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "attempts").await;
    let d = new_delivery(&capture, DeliveryOrigin::Manual);
    store.put_delivery(&d).await.unwrap();

    let retry_at = Timestamp::from_micros(d.created_at.micros() + 2_000_000);
    let failed = new_attempt(d.id, 1, Some(503));
    let progress = DeliveryProgress {
        state: DeliveryState::Pending,
        attempts: 1,
        next_attempt_at: Some(retry_at),
        updated_at: Timestamp::from_micros(d.created_at.micros() + 1),
    };
    assert!(store.record_attempt(&failed, &progress).await.unwrap());
    let after = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempts, after.next_attempt_at), (DeliveryState::Pending, 1, Some(retry_at)));
    assert_eq!(after.updated_at, progress.updated_at);
    assert_eq!(after.request, d.request, "an attempt must not change the request");

    let ok = new_attempt(d.id, 2, Some(200));
    let done = DeliveryProgress {
        state: DeliveryState::Succeeded,
        attempts: 2,
        next_attempt_at: None,
        updated_at: Timestamp::from_micros(d.created_at.micros() + 3_000_000),
    };
    assert!(store.record_attempt(&ok, &done).await.unwrap());
    // The same attempt again (a worker retrying its write) is kept once.
    let mut again = ok.clone();
    again.response_status = Some(201);
    store.record_attempt(&again, &done).await.unwrap();
    assert_eq!(store.attempts(d.id).await.unwrap(), vec![failed, ok]);
    let finished = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((finished.state, finished.attempts, finished.next_attempt_at), (DeliveryState::Succeeded, 2, None));

    let stray = new_attempt(DeliveryId::new(), 1, None);
    assert!(matches!(store.record_attempt(&stray, &done).await, Err(StoreError::NotFound { entity: "delivery" })));
    assert!(store.attempts(stray.delivery_id).await.unwrap().is_empty());
}

pub async fn due_deliveries_are_pending_and_due_earliest_first(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "due deliveries").await;
    // Far in the past, so deliveries of other cases sharing this store are not due before them.
    let base = 1_000_000_000_000_000i64;
    let at = |s: i64| Timestamp::from_micros(base + s * 1_000_000);
    let mut ds = Vec::new();
    for due in [30, 10, 20, 500] {
        let mut d = new_delivery(&capture, DeliveryOrigin::Manual);
        d.next_attempt_at = Some(at(due));
        store.put_delivery(&d).await.unwrap();
        ds.push(d);
    }
    let mut finished = new_delivery(&capture, DeliveryOrigin::Manual);
    finished.state = DeliveryState::Succeeded;
    finished.next_attempt_at = Some(at(5));
    store.put_delivery(&finished).await.unwrap();

    let ids = |v: Vec<Delivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(store.due_deliveries(at(100), 10).await.unwrap()), vec![ds[1].id, ds[2].id, ds[0].id]);
    assert_eq!(ids(store.due_deliveries(at(100), 2).await.unwrap()), vec![ds[1].id, ds[2].id], "limit");
    assert!(store.due_deliveries(at(9), 10).await.unwrap().is_empty(), "nothing due yet");

    // Rescheduled past `now`, and finished: neither is due any more.
    let later = DeliveryProgress {
        state: DeliveryState::Pending,
        attempts: 1,
        next_attempt_at: Some(at(400)),
        updated_at: at(10),
    };
    store.record_attempt(&new_attempt(ds[1].id, 1, Some(500)), &later).await.unwrap();
    let dead =
        DeliveryProgress { state: DeliveryState::DeadLettered, attempts: 1, next_attempt_at: None, updated_at: at(20) };
    store.record_attempt(&new_attempt(ds[2].id, 1, Some(500)), &dead).await.unwrap();
    assert_eq!(ids(store.due_deliveries(at(100), 10).await.unwrap()), vec![ds[0].id]);
    assert_eq!(ids(store.due_deliveries(at(450), 10).await.unwrap()), vec![ds[0].id, ds[1].id]);
}

pub async fn cancel_stops_a_pending_delivery_only(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "cancel").await;
    let d = new_delivery(&capture, DeliveryOrigin::Manual);
    store.put_delivery(&d).await.unwrap();
    let at = Timestamp::from_micros(d.created_at.micros() + 5);
    assert!(store.cancel_delivery(d.id, at).await.unwrap());
    let cancelled = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (cancelled.state, cancelled.next_attempt_at, cancelled.updated_at),
        (DeliveryState::Cancelled, None, at)
    );
    assert!(!store.cancel_delivery(d.id, at).await.unwrap(), "already cancelled");
    assert!(
        store.due_deliveries(Timestamp::from_micros(i64::MAX), usize::MAX).await.unwrap().iter().all(|x| x.id != d.id)
    );

    // An attempt that was in flight when the cancel came is kept, but does not revive it.
    let late = DeliveryProgress { state: DeliveryState::Succeeded, attempts: 1, next_attempt_at: None, updated_at: at };
    assert!(!store.record_attempt(&new_attempt(d.id, 1, Some(200)), &late).await.unwrap());
    assert_eq!(store.delivery(d.id).await.unwrap().unwrap().state, DeliveryState::Cancelled);
    assert_eq!(store.attempts(d.id).await.unwrap().len(), 1);

    let mut done = new_delivery(&capture, DeliveryOrigin::Manual);
    done.state = DeliveryState::Succeeded;
    store.put_delivery(&done).await.unwrap();
    assert!(!store.cancel_delivery(done.id, at).await.unwrap(), "a finished delivery stays finished");
    assert_eq!(store.delivery(done.id).await.unwrap().unwrap().state, DeliveryState::Succeeded);
    assert!(matches!(
        store.cancel_delivery(DeliveryId::new(), at).await,
        Err(StoreError::NotFound { entity: "delivery" })
    ));
}

pub async fn deleting_a_capture_deletes_its_deliveries(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (ep, capture) = endpoint_with_capture(&store, "delete deliveries").await;
    let kept_capture = new_capture(&ep);
    store.put_captures(std::slice::from_ref(&kept_capture)).await.unwrap();
    let gone = new_delivery(&capture, DeliveryOrigin::Manual);
    let kept = new_delivery(&kept_capture, DeliveryOrigin::Manual);
    for d in [&gone, &kept] {
        store.put_delivery(d).await.unwrap();
        let progress = DeliveryProgress {
            state: DeliveryState::Pending,
            attempts: 1,
            next_attempt_at: d.next_attempt_at,
            updated_at: d.created_at,
        };
        store.record_attempt(&new_attempt(d.id, 1, Some(502)), &progress).await.unwrap();
    }
    store.delete_capture(capture.id).await.unwrap();
    assert_eq!(store.delivery(gone.id).await.unwrap(), None);
    assert!(store.attempts(gone.id).await.unwrap().is_empty());
    assert!(store.deliveries_for_capture(capture.id, usize::MAX).await.unwrap().is_empty());
    assert_eq!(
        store.delivery(kept.id).await.unwrap(),
        Some(kept.clone()).map(|mut k| {
            k.attempts = 1;
            k
        })
    );
    assert_eq!(store.attempts(kept.id).await.unwrap().len(), 1);
}

pub async fn a_due_delivery_is_claimed_once_until_its_lease_ends(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "claim").await;
    let base = 1_100_000_000_000_000i64;
    let at = |s: i64| Timestamp::from_micros(base + s * 1_000_000);
    let mut d = new_delivery(&capture, DeliveryOrigin::Manual);
    d.next_attempt_at = Some(at(0));
    store.put_delivery(&d).await.unwrap();

    assert!(!store.claim_delivery(d.id, 0, at(-1), at(30)).await.unwrap(), "not due yet");
    assert!(!store.claim_delivery(d.id, 1, at(1), at(30)).await.unwrap(), "another attempt count: stale");
    assert!(store.claim_delivery(d.id, 0, at(1), at(30)).await.unwrap(), "due and as seen");
    assert!(!store.claim_delivery(d.id, 0, at(2), at(31)).await.unwrap(), "a second worker does not get it");
    assert_eq!(store.delivery(d.id).await.unwrap().unwrap().next_attempt_at, Some(at(30)), "leased");
    let due = |now| {
        let store = store.clone();
        async move { store.due_deliveries(now, 100).await.unwrap().iter().any(|x| x.id == d.id) }
    };
    assert!(!due(at(29)).await, "not due while leased");
    // The claimer died: after the lease it is due again, and claimable again.
    assert!(due(at(31)).await);
    assert!(store.claim_delivery(d.id, 0, at(31), at(60)).await.unwrap());

    store.cancel_delivery(d.id, at(32)).await.unwrap();
    assert!(!store.claim_delivery(d.id, 0, at(100), at(130)).await.unwrap(), "a cancelled delivery is not claimed");
    assert!(!store.claim_delivery(DeliveryId::new(), 0, at(1), at(30)).await.unwrap(), "unknown");
}

pub async fn the_first_record_of_an_attempt_number_wins(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "first attempt wins").await;
    let d = new_delivery(&capture, DeliveryOrigin::Manual);
    store.put_delivery(&d).await.unwrap();
    let t = d.created_at.micros();
    let first = DeliveryProgress {
        state: DeliveryState::Pending,
        attempts: 1,
        next_attempt_at: Some(Timestamp::from_micros(t + 5_000_000)),
        updated_at: Timestamp::from_micros(t + 1),
    };
    assert!(store.record_attempt(&new_attempt(d.id, 1, Some(503)), &first).await.unwrap());
    // A second worker that made attempt 1 too (its lease ran out) reports success: too late.
    let late = DeliveryProgress {
        state: DeliveryState::Succeeded,
        attempts: 1,
        next_attempt_at: None,
        updated_at: Timestamp::from_micros(t + 2),
    };
    assert!(!store.record_attempt(&new_attempt(d.id, 1, Some(200)), &late).await.unwrap());
    let now = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((now.state, now.next_attempt_at), (DeliveryState::Pending, first.next_attempt_at));
    let attempts = store.attempts(d.id).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.response_status).collect::<Vec<_>>(), vec![Some(503)]);
}

/// The batch forms the replay worker uses answer as the single ones would, one answer per item.
pub async fn batches_of_deliveries_claims_and_attempts_answer_each_in_order(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "batches").await;
    let base = 1_200_000_000_000_000i64;
    let at = |s: i64| Timestamp::from_micros(base + s * 1_000_000);
    let ds: Vec<Delivery> = (0..3)
        .map(|_| {
            let mut d = new_delivery(&capture, DeliveryOrigin::Manual);
            d.next_attempt_at = Some(at(0));
            d
        })
        .collect();
    store.put_deliveries(&ds).await.unwrap();
    store.put_deliveries(&ds[..1]).await.unwrap();
    let unknown = DeliveryId::new();
    let read = store.deliveries(&[ds[2].id, unknown, ds[0].id]).await.unwrap();
    assert_eq!(
        read.iter().map(|d| d.as_ref().map(|d| d.id)).collect::<Vec<_>>(),
        vec![Some(ds[2].id), None, Some(ds[0].id)]
    );
    assert_eq!(read[0].as_ref().unwrap().request, ds[2].request, "stored whole");

    let claims = [(ds[0].id, 0), (ds[1].id, 1), (unknown, 0), (ds[2].id, 0)];
    assert_eq!(store.claim_deliveries(&claims, at(1), at(30)).await.unwrap(), vec![true, false, false, true]);
    assert_eq!(store.claim_deliveries(&claims[..1], at(2), at(31)).await.unwrap(), vec![false], "leased");

    let done = |n: i64| DeliveryProgress {
        state: DeliveryState::Succeeded,
        attempts: 1,
        next_attempt_at: None,
        updated_at: at(n),
    };
    store.cancel_delivery(ds[1].id, at(3)).await.unwrap();
    let batch = vec![
        (new_attempt(ds[0].id, 1, Some(200)), done(4)),
        (new_attempt(unknown, 1, Some(200)), done(4)),
        (new_attempt(ds[1].id, 1, Some(200)), done(4)),
        (new_attempt(ds[2].id, 1, Some(200)), done(4)),
    ];
    assert_eq!(store.record_attempts(&batch).await.unwrap(), vec![Some(true), None, Some(false), Some(true)]);
    assert_eq!(store.record_attempts(&batch[..1]).await.unwrap(), vec![Some(false)], "the first record wins");
    for (d, state) in
        [(&ds[0], DeliveryState::Succeeded), (&ds[1], DeliveryState::Cancelled), (&ds[2], DeliveryState::Succeeded)]
    {
        assert_eq!(store.delivery(d.id).await.unwrap().unwrap().state, state);
        assert_eq!(store.attempts(d.id).await.unwrap().len(), 1, "the attempt is kept even when cancelled");
    }
    assert!(store.record_attempts(&[]).await.unwrap().is_empty());
    assert!(store.claim_deliveries(&[], at(1), at(2)).await.unwrap().is_empty());
}

pub async fn forwarding_rules_set_replaced_cleared_and_deleted_with_the_endpoint(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "forwarding").await;
    let ep = new_endpoint(team.id, "forwarding");
    let other = new_endpoint(team.id, "other");
    store.create_endpoint(&ep).await.unwrap();
    store.create_endpoint(&other).await.unwrap();
    assert!(store.forwarding_rules(ep.id).await.unwrap().is_empty());
    let rules = vec![
        ForwardingRule {
            id: "staging".into(),
            target: "https://staging.example.com/hooks".into(),
            method: Some("POST".into()),
            path_prefix: Some("/stripe".into()),
            header: Some(HeaderMatch { name: "Stripe-Signature".into(), contains: "v1=".into() }),
            event_types: vec!["charge.*".into(), "invoice.paid".into()],
        },
        ForwardingRule {
            id: "laptop".into(),
            target: "http://127.0.0.1:3000".into(),
            method: None,
            path_prefix: None,
            header: None,
            event_types: Vec::new(),
        },
    ];
    store.set_forwarding_rules(ep.id, &rules).await.unwrap();
    assert_eq!(store.forwarding_rules(ep.id).await.unwrap(), rules, "in the order set");
    assert!(store.forwarding_rules(other.id).await.unwrap().is_empty(), "rules belong to one endpoint");
    store.set_forwarding_rules(ep.id, &rules[1..]).await.unwrap();
    assert_eq!(store.forwarding_rules(ep.id).await.unwrap(), rules[1..], "replaced, not merged");
    store.set_forwarding_rules(ep.id, &[]).await.unwrap();
    assert!(store.forwarding_rules(ep.id).await.unwrap().is_empty(), "an empty list clears them");
    assert!(matches!(
        store.set_forwarding_rules(EndpointId::new(), &rules).await,
        Err(StoreError::NotFound { entity: "endpoint" })
    ));
    store.set_forwarding_rules(ep.id, &rules).await.unwrap();
    store.delete_endpoint(ep.id).await.unwrap();
    assert!(store.forwarding_rules(ep.id).await.unwrap().is_empty(), "deleted with the endpoint");
}

fn scenario() -> Vec<hookmetry_core::scenario::ScenarioRule> {
    use hookmetry_core::scenario::*;
    let reply = |status: u16| Reply { status, headers: Vec::new(), body: String::new(), delay_ms: 0, timeout: false };
    vec![
        ScenarioRule {
            id: "flaky".into(),
            when: RequestMatch {
                method: Some("POST".into()),
                path_prefix: Some("/stripe".into()),
                header: Some(HeaderMatch { name: "Stripe-Signature".into(), contains: "v1=".into() }),
                event_types: vec!["charge.*".into()],
            },
            answer: ScenarioAnswer::Sequence {
                steps: vec![
                    reply(500),
                    Reply { headers: vec![("Retry-After".into(), "30".into())], ..reply(429) },
                    Reply { body: "ok ✓".into(), delay_ms: 40, ..reply(200) },
                ],
                then: SequenceEnd::Stick,
            },
        },
        ScenarioRule {
            id: "rest".into(),
            when: RequestMatch::default(),
            answer: ScenarioAnswer::Mix {
                choices: vec![MixChoice { share_bp: 1050, reply: Reply { timeout: true, ..reply(200) } }],
                rest: reply(204),
            },
        },
    ]
}

pub async fn scenarios_caps_expiry_and_rule_answers_round_trip(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "scenarios").await;
    let expires = Timestamp::from_micros(Timestamp::now().micros() + 3_600_000_000);
    let ep = Endpoint {
        scenario: scenario(),
        max_captures: Some(250),
        expires_at: Some(expires),
        ..new_endpoint(team.id, "scenarios")
    };
    store.create_endpoint(&ep).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(ep.clone()));
    assert_eq!(store.endpoint_by_token(&ep.token).await.unwrap(), Some(ep.clone()));

    let changed =
        Endpoint { scenario: scenario()[1..].to_vec(), max_captures: Some(3), expires_at: None, ..ep.clone() };
    store.update_endpoint(&changed).await.unwrap();
    assert_eq!(store.endpoints(team.id).await.unwrap(), vec![changed.clone()]);
    let cleared = Endpoint { scenario: Vec::new(), max_captures: None, ..changed };
    store.update_endpoint(&cleared).await.unwrap();
    assert_eq!(store.endpoint(ep.id).await.unwrap(), Some(cleared));

    let mut capture = new_capture(&ep);
    capture.answered =
        Some(Answered { status: 504, delay_ms: 30_000, rule_id: Some("flaky".into()), step: Some(7), timed_out: true });
    store.put_captures(std::slice::from_ref(&capture)).await.unwrap();
    assert_eq!(store.capture(capture.id).await.unwrap(), Some(capture.clone()), "by id");
    for without_bodies in [false, true] {
        let page = CapturePage { limit: 10, before: None, filter: CaptureFilter::default(), without_bodies };
        let listed = store.captures(ep.id, &page).await.unwrap();
        assert_eq!(listed.items[0].answered, capture.answered, "in listings");
    }
}

pub async fn counters_count_each_request_once_reset_and_go_with_the_endpoint(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "counters").await;
    let ep = new_endpoint(team.id, "counters");
    let other = new_endpoint(team.id, "other");
    store.create_endpoint(&ep).await.unwrap();
    store.create_endpoint(&other).await.unwrap();
    assert!(store.counters(ep.id).await.unwrap().is_empty());

    // Ingest nodes count at once: every caller gets its own value, none twice.
    let bumps: Vec<_> = (0..24)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.bump_counter(ep.id, "rule:a_b").await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for b in bumps {
        got.push(b.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=24).collect::<Vec<_>>());
    assert_eq!(store.bump_counter(ep.id, "captures").await.unwrap(), 1);
    assert_eq!(store.bump_counter(ep.id, "rule:ab").await.unwrap(), 1);
    assert_eq!(store.bump_counter(other.id, "rule:a_b").await.unwrap(), 1, "counters belong to one endpoint");
    assert_eq!(
        store.counters(ep.id).await.unwrap(),
        vec![("captures".to_string(), 1), ("rule:a_b".to_string(), 24), ("rule:ab".to_string(), 1)]
    );

    // `_` is no wildcard: resetting `rule:a_b` leaves `rule:ab`.
    store.reset_counters(ep.id, "rule:a_b").await.unwrap();
    assert_eq!(store.counters(ep.id).await.unwrap(), vec![("captures".to_string(), 1), ("rule:ab".to_string(), 1)]);
    assert_eq!(store.bump_counter(ep.id, "rule:a_b").await.unwrap(), 1, "starts over after a reset");
    store.reset_counters(ep.id, "rule:").await.unwrap();
    assert_eq!(store.counters(ep.id).await.unwrap(), vec![("captures".to_string(), 1)]);
    store.reset_counters(ep.id, "").await.unwrap();
    assert!(store.counters(ep.id).await.unwrap().is_empty());
    assert_eq!(store.counters(other.id).await.unwrap(), vec![("rule:a_b".to_string(), 1)], "untouched");

    assert!(matches!(
        store.bump_counter(EndpointId::new(), "captures").await,
        Err(StoreError::NotFound { entity: "endpoint" })
    ));
    store.bump_counter(ep.id, "captures").await.unwrap();
    store.delete_endpoint(ep.id).await.unwrap();
    assert!(store.counters(ep.id).await.unwrap().is_empty(), "deleted with the endpoint");
    assert!(matches!(store.bump_counter(ep.id, "captures").await, Err(StoreError::NotFound { entity: "endpoint" })));
}

pub async fn expired_endpoints_are_listed_soonest_first(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "expiry").await;
    let now = Timestamp::now();
    let at = |secs: i64| Some(Timestamp::from_micros(now.micros() + secs * 1_000_000));
    let later = Endpoint { expires_at: at(-60), ..new_endpoint(team.id, "later") };
    let sooner = Endpoint { expires_at: at(-120), ..new_endpoint(team.id, "sooner") };
    let future = Endpoint { expires_at: at(3600), ..new_endpoint(team.id, "future") };
    let never = new_endpoint(team.id, "never");
    for ep in [&later, &sooner, &future, &never] {
        store.create_endpoint(ep).await.unwrap();
    }
    // Other cases' rows may be listed too: only this team's are asserted.
    let ours = |list: Vec<Endpoint>| list.into_iter().filter(|e| e.team_id == team.id).collect::<Vec<_>>();
    assert_eq!(ours(store.expired_endpoints(now, 1000).await.unwrap()), vec![sooner.clone(), later.clone()]);
    assert_eq!(store.expired_endpoints(now, 1).await.unwrap().len(), 1, "at most the limit");
    let moved = Endpoint { expires_at: at(7200), ..later.clone() };
    store.update_endpoint(&moved).await.unwrap();
    assert_eq!(ours(store.expired_endpoints(now, 1000).await.unwrap()), vec![sooner.clone()], "an update moves it");
    store.delete_endpoint(sooner.id).await.unwrap();
    assert!(ours(store.expired_endpoints(now, 1000).await.unwrap()).is_empty(), "a delete removes it");
}

pub async fn listener_cursors_only_move_forward_per_name(h: &dyn StoreHarness) {
    let store = h.open().await;
    let team = new_team(&store, "listeners").await;
    let ep = new_endpoint(team.id, "listeners");
    let other = new_endpoint(team.id, "other listeners");
    store.create_endpoint(&ep).await.unwrap();
    store.create_endpoint(&other).await.unwrap();
    let (first, second, third) = (CaptureId::new(), CaptureId::new(), CaptureId::new());
    assert_eq!(store.listener_cursor(ep.id, "alice").await.unwrap(), None, "no cursor before a first advance");

    let at = Timestamp::from_micros(1_700_000_000_000_000);
    store.advance_listener(ep.id, "alice", second, at).await.unwrap();
    let cursor = store.listener_cursor(ep.id, "alice").await.unwrap().expect("cursor after an advance");
    assert_eq!((cursor.capture_id, cursor.updated_at), (second, at));

    let later = Timestamp::from_micros(at.micros() + 5);
    store.advance_listener(ep.id, "alice", first, later).await.unwrap();
    assert_eq!(
        store.listener_cursor(ep.id, "alice").await.unwrap().map(|c| c.capture_id),
        Some(second),
        "an older capture does not move the cursor back"
    );
    store.advance_listener(ep.id, "alice", third, later).await.unwrap();
    let cursor = store.listener_cursor(ep.id, "alice").await.unwrap().unwrap();
    assert_eq!((cursor.capture_id, cursor.updated_at), (third, later));

    assert_eq!(store.listener_cursor(ep.id, "bob").await.unwrap(), None, "cursors are per name");
    assert_eq!(store.listener_cursor(other.id, "alice").await.unwrap(), None, "cursors are per endpoint");
    assert!(matches!(
        store.advance_listener(EndpointId::new(), "alice", first, at).await,
        Err(StoreError::NotFound { entity: "endpoint" })
    ));
    store.delete_endpoint(ep.id).await.unwrap();
    assert_eq!(store.listener_cursor(ep.id, "alice").await.unwrap(), None, "deleted with the endpoint");
}

pub async fn listener_deliveries_keep_their_origin(h: &dyn StoreHarness) {
    let store = h.open().await;
    let (_, capture) = endpoint_with_capture(&store, "listener origin").await;
    for (name, missed) in [("alice", false), ("bob-2", true)] {
        let mut d = new_delivery(&capture, DeliveryOrigin::Listener { name: name.into(), missed });
        d.id = DeliveryOrigin::listener_delivery_id(capture.id, name);
        d.next_attempt_at = None;
        store.put_delivery(&d).await.unwrap();
        assert_eq!(store.delivery(d.id).await.unwrap(), Some(d));
    }
    // A listener's delivery is never due: the listener sends it, not a replay worker.
    let due = store.due_deliveries(Timestamp::now(), 10_000).await.unwrap();
    assert!(due.iter().all(|d| d.capture_id != capture.id), "{due:?}");
}

/// A listener name is its first claimer's: the claim repeats for it, is refused to other tokens,
/// and an endpoint holds a limited number of names. Claims go with the endpoint.
pub async fn listener_names_belong_to_the_token_that_claimed_them(h: &dyn StoreHarness) {
    use crate::ListenerClaim::{Full, Owned, Taken};
    let store = h.open().await;
    let team = new_team(&store, "listener claims").await;
    let ep = new_endpoint(team.id, "listener claims");
    let other = new_endpoint(team.id, "other listener claims");
    store.create_endpoint(&ep).await.unwrap();
    store.create_endpoint(&other).await.unwrap();
    let (alice, bob) = (TokenId::new(), TokenId::new());
    let at = Timestamp::now();
    let claim = |endpoint: EndpointId, name: &'static str, owner: TokenId, limit: usize| {
        let store = store.clone();
        async move { store.claim_listener(endpoint, name, owner, limit, at).await }
    };

    assert_eq!(claim(ep.id, "laptop", alice, 2).await.unwrap(), Owned, "first claim");
    assert_eq!(claim(ep.id, "laptop", alice, 2).await.unwrap(), Owned, "the owner again");
    assert_eq!(claim(ep.id, "laptop", bob, 2).await.unwrap(), Taken { owner: alice }, "another token");
    assert_eq!(claim(ep.id, "ci", bob, 2).await.unwrap(), Owned, "another name");
    assert_eq!(claim(ep.id, "third", alice, 2).await.unwrap(), Full { limit: 2 }, "a new name past the limit");
    assert_eq!(claim(ep.id, "laptop", alice, 2).await.unwrap(), Owned, "full, the owner still owns its name");
    assert_eq!(claim(ep.id, "ci", alice, 2).await.unwrap(), Taken { owner: bob }, "full, a taken name is taken");
    assert_eq!(claim(ep.id, "laptop", alice, 0).await.unwrap(), Owned, "a limit of 0 still answers the owner");
    assert_eq!(claim(ep.id, "third", alice, 3).await.unwrap(), Owned, "a higher limit admits a new name");

    assert_eq!(claim(other.id, "laptop", bob, 1).await.unwrap(), Owned, "names are per endpoint");
    assert_eq!(claim(other.id, "laptop", alice, 1).await.unwrap(), Taken { owner: bob });
    assert_eq!(claim(other.id, "ci", bob, 1).await.unwrap(), Full { limit: 1 }, "limits are per endpoint");
    assert!(matches!(
        claim(EndpointId::new(), "laptop", alice, 2).await,
        Err(StoreError::NotFound { entity: "endpoint" })
    ));

    drop(store);
    let store = h.open().await;
    let at = Timestamp::now();
    assert_eq!(
        store.claim_listener(ep.id, "laptop", bob, 10, at).await.unwrap(),
        Taken { owner: alice },
        "claims survive a restart"
    );
    store.delete_endpoint(ep.id).await.unwrap();
    assert!(matches!(
        store.claim_listener(ep.id, "laptop", bob, 10, at).await,
        Err(StoreError::NotFound { entity: "endpoint" })
    ));
    // The same id again, only to see that no claim of the deleted endpoint is left.
    store.create_endpoint(&Endpoint { token: capture_token(), ..ep.clone() }).await.unwrap();
    assert_eq!(store.claim_listener(ep.id, "laptop", bob, 1, at).await.unwrap(), Owned, "claims deleted");
    assert_eq!(store.claim_listener(ep.id, "ci", alice, 1, at).await.unwrap(), Full { limit: 1 }, "and counted anew");
    assert_eq!(store.claim_listener(other.id, "laptop", alice, 1, at).await.unwrap(), Taken { owner: bob });
}

pub async fn one_process_holds_a_listener_lease_at_a_time(h: &dyn StoreHarness) {
    use crate::{LeaseOutcome, ListenerLease};
    let store = h.open().await;
    let team = new_team(&store, "listener leases").await;
    let ep = new_endpoint(team.id, "listener leases");
    store.create_endpoint(&ep).await.unwrap();
    let now = Timestamp::now();
    let secs = |s: i64| Timestamp::from_micros(now.micros() + s * 1_000_000);
    let lease = |holder: &str, from: Timestamp, to: Timestamp| ListenerLease {
        holder: holder.into(),
        description: format!("{holder} pid 1"),
        acquired_at: from,
        expires_at: to,
    };
    let a = lease("a", now, secs(30));
    assert_eq!(store.lease_listener(ep.id, "me", &a, now, false).await.unwrap(), LeaseOutcome::Held(a.clone()));
    let b = lease("b", secs(1), secs(31));
    assert_eq!(
        store.lease_listener(ep.id, "me", &b, secs(1), false).await.unwrap(),
        LeaseOutcome::Busy(a.clone()),
        "a second process is refused while the first one's lease runs"
    );
    let renewed = store.lease_listener(ep.id, "me", &lease("a", secs(10), secs(40)), secs(10), false).await.unwrap();
    assert_eq!(renewed, LeaseOutcome::Held(lease("a", now, secs(40))), "a renewal keeps when it was acquired");
    assert_eq!(
        store.lease_listener(ep.id, "other", &b, secs(1), false).await.unwrap(),
        LeaseOutcome::Held(b.clone()),
        "leases are per name"
    );
    let c = lease("c", secs(41), secs(71));
    assert_eq!(
        store.lease_listener(ep.id, "me", &c, secs(41), false).await.unwrap(),
        LeaseOutcome::Held(c.clone()),
        "an expired lease goes to the next process"
    );
    let d = lease("d", secs(42), secs(72));
    assert_eq!(store.lease_listener(ep.id, "me", &d, secs(42), true).await.unwrap(), LeaseOutcome::Held(d.clone()));
    assert_eq!(
        store.lease_listener(ep.id, "me", &lease("c", secs(43), secs(73)), secs(43), false).await.unwrap(),
        LeaseOutcome::Busy(d.clone()),
        "the process taken over from learns it on its next renewal"
    );
    store.release_listener(ep.id, "me", "c").await.unwrap();
    assert_eq!(
        store.lease_listener(ep.id, "me", &c, secs(44), false).await.unwrap(),
        LeaseOutcome::Busy(d.clone()),
        "only the holder releases"
    );
    store.release_listener(ep.id, "me", "d").await.unwrap();
    let e = lease("e", secs(45), secs(75));
    assert_eq!(store.lease_listener(ep.id, "me", &e, secs(45), false).await.unwrap(), LeaseOutcome::Held(e));
    assert!(matches!(
        store.lease_listener(EndpointId::new(), "me", &a, now, false).await,
        Err(StoreError::NotFound { entity: "endpoint" })
    ));
    store.delete_endpoint(ep.id).await.unwrap();
    store.create_endpoint(&Endpoint { token: capture_token(), ..ep.clone() }).await.unwrap();
    assert_eq!(
        store.lease_listener(ep.id, "me", &a, secs(46), false).await.unwrap(),
        LeaseOutcome::Held(a),
        "deleting the endpoint deleted its leases"
    );
}

pub async fn health_is_ok(h: &dyn StoreHarness) {
    let store = h.open().await;
    store.health().await.unwrap();
}

fn page(limit: u32, before: Option<CaptureId>) -> CapturePage {
    CapturePage { limit, before, ..Default::default() }
}

async fn new_team(store: &Arc<dyn Store>, name: &str) -> Team {
    let team = Team { id: TeamId::new(), name: name.into(), retention_days: 7, created_at: Timestamp::now() };
    store.create_team(&team).await.unwrap();
    team
}

fn new_token(team: TeamId, role: Role, instance_admin: bool) -> ApiToken {
    ApiToken {
        id: TokenId::new(),
        team_id: team,
        role,
        name: format!("{role} token"),
        instance_admin,
        hash: hash_token(&new_api_token()),
        created_at: Timestamp::now(),
        last_used_at: None,
        revoked: false,
    }
}

fn new_endpoint(team: TeamId, name: &str) -> Endpoint {
    Endpoint {
        id: EndpointId::new(),
        team_id: team,
        name: name.into(),
        token: capture_token(),
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

fn custom_response() -> CustomResponse {
    CustomResponse {
        status: 418,
        headers: vec![("x-teapot".into(), "yes".into()), ("x-teapot".into(), "still".into())],
        body: "{\"short\": \"and stout\"} ✓".into(),
        delay_ms: 250,
    }
}

fn new_capture(endpoint: &Endpoint) -> CapturedRequest {
    let id = CaptureId::new();
    let mut body_sha256 = [0x5a; 32];
    body_sha256[..16].copy_from_slice(id.as_bytes());
    CapturedRequest {
        id,
        endpoint_id: endpoint.id,
        team_id: endpoint.team_id,
        method: "POST".into(),
        path: "/hook".into(),
        query: Some("n=1".into()),
        headers: vec![Header::new("content-type", "application/json")],
        body: Bytes::from(format!("{{\"capture\":\"{id}\"}}")),
        body_sha256,
        remote_addr: "192.0.2.7".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::now(),
        answered: Some(Answered::plain(202, 15)),
    }
}

async fn endpoint_with_capture(store: &Arc<dyn Store>, name: &str) -> (Endpoint, CapturedRequest) {
    let team = new_team(store, name).await;
    let ep = new_endpoint(team.id, name);
    store.create_endpoint(&ep).await.unwrap();
    let capture = new_capture(&ep);
    store.put_captures(std::slice::from_ref(&capture)).await.unwrap();
    (ep, capture)
}

fn new_delivery(capture: &CapturedRequest, origin: DeliveryOrigin) -> Delivery {
    let now = Timestamp::now();
    Delivery {
        id: DeliveryId::new(),
        team_id: capture.team_id,
        endpoint_id: capture.endpoint_id,
        capture_id: capture.id,
        origin,
        request: OutgoingRequest {
            method: capture.method.clone(),
            url: format!("http://receiver.invalid:3000{}", capture.path),
            headers: capture.headers.clone(),
            body: capture.body.clone(),
            body_sha256: capture.body_sha256,
        },
        edited: false,
        resigned: false,
        state: DeliveryState::Pending,
        attempts: 0,
        max_attempts: 5,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
        trace_parent: None,
        retry_like: None,
    }
}

/// A 2xx status succeeds, any other fails with `Status`, `None` is a connection that failed.
fn new_attempt(delivery: DeliveryId, number: u32, status: Option<u16>) -> Attempt {
    let error = match status {
        Some(200..=299) => None,
        Some(_) => Some(AttemptError::Status),
        None => Some(AttemptError::Connect),
    };
    Attempt {
        delivery_id: delivery,
        number,
        started_at: Timestamp::from_micros(1_700_000_000_000_000 + i64::from(number)),
        latency_ms: 12 + u64::from(number),
        response_status: status,
        response_headers: vec![Header::new("Retry-After", "2"), Header::new("x-dup", "a"), Header::new("x-dup", "b")],
        response_body: Bytes::from_static(b"{\"ok\":false}\xff"),
        response_truncated: number == 1,
        error,
        error_message: error.map(|e| format!("attempt {number}: {}", e.as_str())),
    }
}

/// Field by field, so a mismatch names the field and never prints a 5 MiB body.
#[track_caller]
fn assert_same_capture(got: &CapturedRequest, want: &CapturedRequest) {
    let id = want.id;
    assert_eq!(got.id, want.id);
    assert_eq!(got.endpoint_id, want.endpoint_id, "capture {id}: endpoint_id");
    assert_eq!(got.team_id, want.team_id, "capture {id}: team_id");
    assert_eq!(got.method, want.method, "capture {id}: method");
    assert_eq!(got.path, want.path, "capture {id}: path");
    assert_eq!(got.query, want.query, "capture {id}: query");
    assert_eq!(got.headers, want.headers, "capture {id}: headers");
    assert!(
        got.body == want.body,
        "capture {id}: body differs ({} bytes stored, {} bytes sent)",
        got.body.len(),
        want.body.len()
    );
    assert_eq!(got.body_sha256, want.body_sha256, "capture {id}: body_sha256");
    assert_eq!(got.remote_addr, want.remote_addr, "capture {id}: remote_addr");
    assert_eq!(got.http_version, want.http_version, "capture {id}: http_version");
    assert_eq!(got.received_at, want.received_at, "capture {id}: received_at");
}
