//! Every statement of [`cql`], prepared once per handle.

use ::scylla::client::session::Session;
use ::scylla::statement::prepared::PreparedStatement;

use super::cql;
use super::errors::prepare_error;
use crate::Result;

/// Declares the prepared statements: one field per `cql` constant.
macro_rules! statements {
    ($($field:ident = $cql:ident,)*) => {
        pub(super) struct Statements {
            $(pub(super) $field: PreparedStatement,)*
        }

        impl Statements {
            pub(super) async fn prepare(session: &Session) -> Result<Self> {
                Ok(Self { $($field: prepare(session, cql::$cql).await?,)* })
            }
        }

        #[cfg(test)]
        const PREPARED: &[&str] = &[$(cql::$cql,)*];
    };
}

statements! {
    select_schema_version = SELECT_SCHEMA_VERSION,
    insert_team = INSERT_TEAM,
    select_team = SELECT_TEAM,
    select_teams = SELECT_TEAMS,
    update_retention = UPDATE_RETENTION,
    insert_token_hash = INSERT_TOKEN_HASH,
    delete_token_hash = DELETE_TOKEN_HASH,
    insert_token = INSERT_TOKEN,
    insert_token_by_team = INSERT_TOKEN_BY_TEAM,
    select_token = SELECT_TOKEN,
    select_token_id_by_hash = SELECT_TOKEN_ID_BY_HASH,
    select_token_ids_by_team = SELECT_TOKEN_IDS_BY_TEAM,
    touch_token = TOUCH_TOKEN,
    revoke_token = REVOKE_TOKEN,
    any_token = ANY_TOKEN,
    insert_endpoint_token = INSERT_ENDPOINT_TOKEN,
    delete_endpoint_token = DELETE_ENDPOINT_TOKEN,
    insert_endpoint = INSERT_ENDPOINT,
    insert_endpoint_by_team = INSERT_ENDPOINT_BY_TEAM,
    update_endpoint = UPDATE_ENDPOINT,
    select_endpoint = SELECT_ENDPOINT,
    select_endpoint_id_by_token = SELECT_ENDPOINT_ID_BY_TOKEN,
    select_endpoint_ids_by_team = SELECT_ENDPOINT_IDS_BY_TEAM,
    delete_endpoint = DELETE_ENDPOINT,
    delete_endpoint_by_team = DELETE_ENDPOINT_BY_TEAM,
    select_counter = SELECT_COUNTER,
    insert_counter = INSERT_COUNTER,
    bump_counter = BUMP_COUNTER,
    select_counters = SELECT_COUNTERS,
    reset_counter = RESET_COUNTER,
    delete_counters = DELETE_COUNTERS,
    insert_expiry = INSERT_EXPIRY,
    delete_expiry = DELETE_EXPIRY,
    select_expired = SELECT_EXPIRED,
    select_capture_exists = SELECT_CAPTURE_EXISTS,
    insert_capture_by_id = INSERT_CAPTURE_BY_ID,
    insert_capture_by_endpoint = INSERT_CAPTURE_BY_ENDPOINT,
    insert_capture_day = INSERT_CAPTURE_DAY,
    select_capture = SELECT_CAPTURE,
    insert_capture_by_event = INSERT_CAPTURE_BY_EVENT,
    insert_capture_by_resource = INSERT_CAPTURE_BY_RESOURCE,
    select_captures_by_event = SELECT_CAPTURES_BY_EVENT,
    select_captures_by_resource_before = SELECT_CAPTURES_BY_RESOURCE_BEFORE,
    select_capture_answer = SELECT_CAPTURE_ANSWER,
    select_event_shape = SELECT_EVENT_SHAPE,
    select_event_shapes = SELECT_EVENT_SHAPES,
    insert_event_shape = INSERT_EVENT_SHAPE,
    delete_event_shapes = DELETE_EVENT_SHAPES,
    update_schema_change = UPDATE_SCHEMA_CHANGE,
    select_schema_change = SELECT_SCHEMA_CHANGE,
    select_capture_body = SELECT_CAPTURE_BODY,
    select_capture_location = SELECT_CAPTURE_LOCATION,
    select_capture_days = SELECT_CAPTURE_DAYS,
    select_captures_in_day = SELECT_CAPTURES_IN_DAY,
    select_captures_in_day_before = SELECT_CAPTURES_IN_DAY_BEFORE,
    select_capture_ids_in_day = SELECT_CAPTURE_IDS_IN_DAY,
    update_verification_by_id = UPDATE_VERIFICATION_BY_ID,
    update_verification_by_endpoint = UPDATE_VERIFICATION_BY_ENDPOINT,
    select_verification = SELECT_VERIFICATION,
    delete_capture_by_id = DELETE_CAPTURE_BY_ID,
    delete_capture_by_endpoint = DELETE_CAPTURE_BY_ENDPOINT,
    delete_capture_day_partition = DELETE_CAPTURE_DAY_PARTITION,
    delete_capture_days = DELETE_CAPTURE_DAYS,
    insert_delivery = INSERT_DELIVERY,
    select_delivery = SELECT_DELIVERY,
    select_delivery_state = SELECT_DELIVERY_STATE,
    update_delivery_progress = UPDATE_DELIVERY_PROGRESS,
    delete_delivery = DELETE_DELIVERY,
    claim_delivery = CLAIM_DELIVERY,
    insert_delivery_by_capture = INSERT_DELIVERY_BY_CAPTURE,
    select_delivery_ids_by_capture = SELECT_DELIVERY_IDS_BY_CAPTURE,
    delete_deliveries_by_capture = DELETE_DELIVERIES_BY_CAPTURE,
    insert_attempt = INSERT_ATTEMPT,
    select_attempt_exists = SELECT_ATTEMPT_EXISTS,
    select_attempts = SELECT_ATTEMPTS,
    delete_attempts = DELETE_ATTEMPTS,
    insert_due = INSERT_DUE,
    delete_due = DELETE_DUE,
    select_due = SELECT_DUE,
    upsert_forwarding = UPSERT_FORWARDING,
    select_forwarding = SELECT_FORWARDING,
    delete_forwarding = DELETE_FORWARDING,
    select_listener_cursor = SELECT_LISTENER_CURSOR,
    insert_listener_cursor = INSERT_LISTENER_CURSOR,
    delete_listener_cursors_before = DELETE_LISTENER_CURSORS_BEFORE,
    delete_listener_cursors = DELETE_LISTENER_CURSORS,
    select_listener_owner = SELECT_LISTENER_OWNER,
    count_listeners = COUNT_LISTENERS,
    insert_listener = INSERT_LISTENER,
    delete_listeners = DELETE_LISTENERS,
    select_lease = SELECT_LEASE,
    insert_lease = INSERT_LEASE,
    replace_lease = REPLACE_LEASE,
    release_lease = RELEASE_LEASE,
    delete_leases = DELETE_LEASES,
}

/// Everything but a lightweight transaction may be retried and speculatively executed: the
/// plain writes here set fixed values, so running one twice changes nothing.
async fn prepare(session: &Session, cql: &'static str) -> Result<PreparedStatement> {
    let mut st = session.prepare(cql).await.map_err(|e| prepare_error(cql, &e))?;
    st.set_is_idempotent(!cql.contains(" IF "));
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_prepared_and_every_prepared_one_is_listed() {
        let mut prepared = PREPARED.to_vec();
        prepared.sort_unstable();
        let mut listed: Vec<&str> =
            cql::STATEMENTS.iter().copied().filter(|s| *s != cql::UPSERT_SCHEMA_VERSION).collect();
        listed.sort_unstable();
        assert_eq!(prepared, listed, "a statement in cql::STATEMENTS is not prepared, or the reverse");
    }

    #[test]
    fn only_lightweight_transactions_are_not_idempotent() {
        let lwt: Vec<&str> = PREPARED.iter().copied().filter(|s| s.contains(" IF ")).collect();
        assert_eq!(lwt.len(), 19, "{lwt:#?}");
        for s in lwt {
            assert!(
                s.ends_with("IF NOT EXISTS")
                    || s.ends_with("IF EXISTS")
                    || s.contains(" IF token_id")
                    || s.contains(" IF endpoint_id")
                    || s.contains(" IF state = 'pending'")
                    || s.ends_with(" IF holder = ?")
                    || s.ends_with(" IF n = ?"),
                "{s}"
            );
        }
    }
}
