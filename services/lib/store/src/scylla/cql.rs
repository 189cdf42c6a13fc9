//! Every CQL statement the ScyllaDB store sends, in one place so the schema and each query can be
//! reviewed together: the schema's statements are the `migrations/*.cql` files included here.
//! Nothing outside this module writes CQL text.
//!
//! Conventions:
//! - Ids are `uuid` (UUIDv7, time-ordered; within one UUID version ScyllaDB orders `uuid` values
//!   byte-wise, which is the order of `CaptureId`'s `Ord`).
//! - Times are `bigint` microseconds since the Unix epoch: CQL `timestamp` only keeps
//!   milliseconds, and the domain types carry microseconds that must round-trip exactly.
//! - `day` is whole days since the Unix epoch (UTC) of the capture id's embedded time; see
//!   `paging::capture_day`.
//! - Statements name tables without a keyspace: the session `USE`s the configured keyspace.
//! - The only text built at run time is `create_keyspace` / `drop_keyspace`, from a keyspace name
//!   the options parser has already restricted to `[A-Za-z0-9_]` and datacenter names it has
//!   restricted likewise. Every value is a bind marker.

use super::options::Replication;

/// The schema-version bookkeeping table. Created before any migration runs, outside the
/// numbered migrations, so its own shape never depends on a version.
pub const CREATE_SCHEMA_VERSION: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    component   text PRIMARY KEY,
    version     int,
    migrated_at bigint
)";
pub const SELECT_SCHEMA_VERSION: &str = "SELECT version FROM schema_version WHERE component = 'store'";
pub const UPSERT_SCHEMA_VERSION: &str =
    "INSERT INTO schema_version (component, version, migrated_at) VALUES ('store', ?, ?)";

/// The columns `CaptureRow` reads from either capture table, in its order. `body` is null in
/// `captures_by_endpoint` rows written since version 8, which hold `body_size` instead.
macro_rules! capture_columns {
    () => {
        "capture_id, endpoint_id, team_id, method, path, query, headers, body, body_sha256, \
         remote_addr, http_version, received_at, verdict, verification, body_size, answered, answered_by"
    };
}

/// `MIGRATIONS[i]` takes the schema from version i to i + 1; each entry is a list of statements
/// run in order. Append only: a released migration never changes. Every statement must be safe
/// to run again (a crash between a statement and the version update re-runs the migration):
/// `CREATE … IF NOT EXISTS` is; a later `ALTER TABLE … ADD` must treat "already exists" as done.
pub const MIGRATIONS: &[&[&str]] = &[
    // Version 1.
    &[
        // Teams are few; `teams()` scans this table.
        include_str!("migrations/0001_01_teams.cql"),
        // API tokens by id: the one mutable copy (touch, revoke). Only the hash of the secret.
        include_str!("migrations/0001_02_tokens.cql"),
        // Authentication looks tokens up by hash; the row also reserves the hash (LWT on create).
        include_str!("migrations/0001_03_tokens_by_hash.cql"),
        // A team's tokens, oldest first.
        include_str!("migrations/0001_04_tokens_by_team.cql"),
        // Endpoints by id: the one mutable copy. `response` and `verification` are JSON.
        include_str!("migrations/0001_05_endpoints.cql"),
        // Ingest resolves `/h/<token>` here; the row also reserves the token (LWT on create).
        include_str!("migrations/0001_06_endpoints_by_token.cql"),
        // A team's endpoints, oldest first.
        include_str!("migrations/0001_07_endpoints_by_team.cql"),
        // Point reads of one capture (inspector, replay source, verification, idempotency check).
        // `day` locates the capture's row in `captures_by_endpoint`. Rows carry a TTL.
        include_str!("migrations/0001_08_captures_by_id.cql"),
        // An endpoint's captures newest first, one partition per endpoint and day so partitions
        // stay bounded. Same columns as `captures_by_id`; rows carry a TTL.
        include_str!("migrations/0001_09_captures_by_endpoint.cql"),
        // The days on which an endpoint has captures, newest first: paging visits only these
        // partitions instead of probing every calendar day back to the endpoint's creation.
        // Rows carry a TTL a little longer than the captures they point to.
        include_str!("migrations/0001_10_capture_days.cql"),
    ],
    // Version 2: deliveries and their attempts. Rows carry the TTL of the capture they deliver.
    &[
        // The one mutable copy of a delivery: the request as sent, and its progress.
        include_str!("migrations/0002_01_deliveries.cql"),
        // A capture's deliveries, newest first (UUIDv7 ids sort by time).
        include_str!("migrations/0002_02_deliveries_by_capture.cql"),
        // Attempts of one delivery in order; one small partition per delivery.
        include_str!("migrations/0002_03_delivery_attempts.cql"),
        // Pending deliveries by due time, spread over a fixed number of shards so no partition
        // takes every write; the replay worker reads each shard up to now. A row may outlive its
        // delivery's pending state (no transaction ties them): readers check the delivery itself.
        include_str!("migrations/0002_04_deliveries_due.cql"),
    ],
    // Version 3: an endpoint's forwarding rules, as JSON; read by the processor once per batch
    // per endpoint, written by the rule editor.
    &[include_str!("migrations/0003_01_forwarding_rules.cql")],
    // Version 4: where each named `hookmetry listen` of an endpoint stands. One partition per
    // endpoint (deleted with it); within it a listener's rows sort newest capture first, so the
    // first row is the cursor. Moving forward inserts the new capture and range-deletes the older
    // rows: no lightweight transaction, and a late report of an older capture adds a row below
    // the first, which never becomes the cursor (and goes with the next advance).
    &[include_str!("migrations/0004_01_listener_cursors.cql")],
    // Version 5: the W3C `traceparent` of the span that made a delivery, so every attempt (also
    // one a scan starts after a restart) continues the trace. Null when traces are not exported.
    // Run again after a crash, the column exists: the migration runner takes that as done.
    &[include_str!("migrations/0005_01_deliveries_add_trace_parent.cql")],
    // Version 6: which token holds each listener name of an endpoint. One partition per endpoint
    // (deleted with it, and counted to bound how many names it has); a name is claimed with a
    // lightweight transaction, so two tokens racing for it cannot both win.
    &[include_str!("migrations/0006_01_listeners.cql")],
    // Version 7: which `hookmetry listen` process runs each named listener, until when. Taken
    // and renewed with lightweight transactions that compare the holder read before, so two
    // listeners starting at once cannot both hold a name.
    &[include_str!("migrations/0007_01_listener_leases.cql")],
    // Version 8: listings read no bodies. `captures_by_endpoint` rows are written with the
    // body's size instead of the body, which stays in `captures_by_id` alone (a listing that
    // returns bodies or filters on them reads them there, by id). A row would otherwise carry
    // its body through every listing read of its partition, whether the listing returns it or
    // not. Rows written before keep their body until their TTL ends; their size is its length.
    // `captures_by_id` gets the column too so one row type reads both tables. Run again after a
    // crash, the columns exist: the migration runner takes that as done.
    &[
        include_str!("migrations/0008_01_captures_by_endpoint_add_body_size.cql"),
        include_str!("migrations/0008_02_captures_by_id_add_body_size.cql"),
    ],
    // Version 9: event identity. Where a custom sender names its events, as JSON beside the
    // endpoint's other settings; what ingest answered each capture (status, configured delay), a
    // tuple in both capture tables; and two index tables written with each verification result: the
    // captures naming one provider event id (redelivery groups, one partition per endpoint and
    // event), and the captures about one resource with their event's creation time (ordering, one
    // partition per endpoint and resource). A capture's event identity itself travels in its
    // `verification` JSON. Index rows carry the capture's TTL; a row left behind by a later
    // result naming another event is skipped by readers, which check the capture's current
    // result. The learned shape of each event type's bodies per endpoint (one partition per
    // endpoint, deleted with it) and what each capture changed in it (a `captures_by_id` cell
    // with the row's TTL). Run again after a crash, the columns exist: taken as done.
    &[
        include_str!("migrations/0009_01_endpoints_add_event_fields.cql"),
        include_str!("migrations/0009_02_captures_by_id_add_answered.cql"),
        include_str!("migrations/0009_03_captures_by_endpoint_add_answered.cql"),
        include_str!("migrations/0009_04_captures_by_event.cql"),
        include_str!("migrations/0009_05_captures_by_resource.cql"),
        include_str!("migrations/0009_06_event_shapes.cql"),
        include_str!("migrations/0009_07_captures_by_id_add_schema_change.cql"),
        // Unwritten: the tables keep the same columns, so one row type reads both.
        include_str!("migrations/0009_08_captures_by_endpoint_add_schema_change.cql"),
    ],
    // Version 10: response scenarios, request caps and expiry. An endpoint's scenario rules as
    // JSON beside its other settings, its `max_captures` and `expires_at` (micros). Which rule
    // answered each capture, a `(rule_id, step, timed_out)` tuple in both capture tables beside
    // `answered` (null in rows written before, and for answers no rule chose: those read as plain
    // answers). Per-endpoint counters (a sequence's position, a `gone after` count, the captures
    // counted against the cap), one partition per endpoint deleted with it, changed only by
    // lightweight transactions so every ingest node gets its own value. Endpoints by expiry, for
    // the sweeper: a fixed number of bucket partitions (`rows::EXPIRY_BUCKETS`, by endpoint id)
    // clustered soonest first; a row is written before its endpoint gains that expiry and removed
    // after it loses it, so a half-done change leaves an extra row (readers check the endpoint
    // and skip it), never a missing one. Run again after a crash, the columns and tables exist:
    // taken as done.
    &[
        include_str!("migrations/0010_01_endpoints_add_scenario.cql"),
        include_str!("migrations/0010_02_endpoints_add_max_captures.cql"),
        include_str!("migrations/0010_03_endpoints_add_expires_at.cql"),
        include_str!("migrations/0010_04_captures_by_id_add_answered_by.cql"),
        include_str!("migrations/0010_05_captures_by_endpoint_add_answered_by.cql"),
        include_str!("migrations/0010_06_endpoint_counters.cql"),
        include_str!("migrations/0010_07_endpoints_by_expiry.cql"),
    ],
    // Version 11: deliveries that retry on a provider's documented schedule, `(provider, speed)`;
    // null for the instance's backoff. Run again after a crash, the column exists: taken as done.
    &[include_str!("migrations/0011_01_deliveries_add_retry_like.cql")],
];

/// Every table the schema creates, for the sanity checks below and in tests.
pub const TABLES: &[&str] = &[
    "schema_version",
    "teams",
    "tokens",
    "tokens_by_hash",
    "tokens_by_team",
    "endpoints",
    "endpoints_by_token",
    "endpoints_by_team",
    "captures_by_id",
    "captures_by_endpoint",
    "capture_days",
    "deliveries",
    "deliveries_by_capture",
    "delivery_attempts",
    "deliveries_due",
    "forwarding_rules",
    "listener_cursors",
    "listeners",
    "listener_leases",
    "captures_by_event",
    "captures_by_resource",
    "event_shapes",
    "endpoint_counters",
    "endpoints_by_expiry",
];

// ---- teams ----------------------------------------------------------------------------------

pub const INSERT_TEAM: &str =
    "INSERT INTO teams (id, name, retention_days, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS";
pub const SELECT_TEAM: &str = "SELECT id, name, retention_days, created_at FROM teams WHERE id = ?";
/// A full scan; teams are few.
pub const SELECT_TEAMS: &str = "SELECT id, name, retention_days, created_at FROM teams";
pub const UPDATE_RETENTION: &str = "UPDATE teams SET retention_days = ? WHERE id = ? IF EXISTS";

// ---- tokens ---------------------------------------------------------------------------------

pub const INSERT_TOKEN_HASH: &str = "INSERT INTO tokens_by_hash (hash, token_id) VALUES (?, ?) IF NOT EXISTS";
/// Undoes a hash reservation whose token id turned out to be taken.
pub const DELETE_TOKEN_HASH: &str = "DELETE FROM tokens_by_hash WHERE hash = ? IF token_id = ?";
pub const INSERT_TOKEN: &str = "INSERT INTO tokens \
     (id, team_id, role, name, instance_admin, hash, created_at, last_used_at, revoked) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS";
pub const INSERT_TOKEN_BY_TEAM: &str = "INSERT INTO tokens_by_team (team_id, created_at, token_id) VALUES (?, ?, ?)";
pub const SELECT_TOKEN: &str = "SELECT id, team_id, role, name, instance_admin, hash, created_at, last_used_at, \
     revoked FROM tokens WHERE id = ?";
pub const SELECT_TOKEN_ID_BY_HASH: &str = "SELECT token_id FROM tokens_by_hash WHERE hash = ?";
pub const SELECT_TOKEN_IDS_BY_TEAM: &str = "SELECT token_id FROM tokens_by_team WHERE team_id = ?";
/// Plain write after a read found the token: tokens are never deleted, so this cannot resurrect
/// one, and it keeps the per-request touch off Paxos.
pub const TOUCH_TOKEN: &str = "UPDATE tokens SET last_used_at = ? WHERE id = ?";
pub const REVOKE_TOKEN: &str = "UPDATE tokens SET revoked = true WHERE id = ? IF EXISTS";
/// Stops at the first row found.
pub const ANY_TOKEN: &str = "SELECT id FROM tokens LIMIT 1";

// ---- endpoints ------------------------------------------------------------------------------

pub const INSERT_ENDPOINT_TOKEN: &str =
    "INSERT INTO endpoints_by_token (token, endpoint_id) VALUES (?, ?) IF NOT EXISTS";
/// Releases a token, only if it still points at this endpoint.
pub const DELETE_ENDPOINT_TOKEN: &str = "DELETE FROM endpoints_by_token WHERE token = ? IF endpoint_id = ?";
pub const INSERT_ENDPOINT: &str = "INSERT INTO endpoints \
     (id, team_id, name, token, response, verification, handshakes, event_fields, scenario, max_captures, \
      expires_at, created_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS";
pub const INSERT_ENDPOINT_BY_TEAM: &str =
    "INSERT INTO endpoints_by_team (team_id, created_at, endpoint_id) VALUES (?, ?, ?)";
/// `IF EXISTS` so an update racing a delete cannot leave a half-row behind.
pub const UPDATE_ENDPOINT: &str = "UPDATE endpoints SET name = ?, response = ?, verification = ?, handshakes = ?, \
     event_fields = ?, scenario = ?, max_captures = ?, expires_at = ? WHERE id = ? IF EXISTS";
pub const SELECT_ENDPOINT: &str = "SELECT id, team_id, name, token, response, verification, handshakes, event_fields, \
     scenario, max_captures, expires_at, created_at FROM endpoints WHERE id = ?";
pub const SELECT_ENDPOINT_ID_BY_TOKEN: &str = "SELECT endpoint_id FROM endpoints_by_token WHERE token = ?";
pub const SELECT_ENDPOINT_IDS_BY_TEAM: &str = "SELECT endpoint_id FROM endpoints_by_team WHERE team_id = ?";
pub const DELETE_ENDPOINT: &str = "DELETE FROM endpoints WHERE id = ? IF EXISTS";
pub const DELETE_ENDPOINT_BY_TEAM: &str =
    "DELETE FROM endpoints_by_team WHERE team_id = ? AND created_at = ? AND endpoint_id = ?";

/// A counter's value as the last lightweight transaction left it: a serial read (the statement's
/// consistency is set to the serial level when prepared), so it sees every committed bump.
pub const SELECT_COUNTER: &str = "SELECT n FROM endpoint_counters WHERE endpoint_id = ? AND key = ?";
/// The first bump of a counter. Not applied, the result carries the existing row's `n`.
pub const INSERT_COUNTER: &str = "INSERT INTO endpoint_counters (endpoint_id, key, n) VALUES (?, ?, ?) IF NOT EXISTS";
/// Compare-and-set on the value read just before. Not applied, the result carries the current `n`
/// (none when a reset removed the row).
pub const BUMP_COUNTER: &str = "UPDATE endpoint_counters SET n = ? WHERE endpoint_id = ? AND key = ? IF n = ?";
/// Every counter of an endpoint, by key; one small partition (a key per counting rule, and one
/// for the cap).
pub const SELECT_COUNTERS: &str = "SELECT key, n FROM endpoint_counters WHERE endpoint_id = ?";
/// A lightweight transaction like the bumps it resets: a plain delete's timestamp would not be
/// ordered against their Paxos ballots.
pub const RESET_COUNTER: &str = "DELETE FROM endpoint_counters WHERE endpoint_id = ? AND key = ? IF EXISTS";
/// With the endpoint. A bump in flight while the endpoint is deleted can leave a row behind,
/// under an id never used again.
pub const DELETE_COUNTERS: &str = "DELETE FROM endpoint_counters WHERE endpoint_id = ?";

pub const INSERT_EXPIRY: &str = "INSERT INTO endpoints_by_expiry (bucket, expires_at, endpoint_id) VALUES (?, ?, ?)";
pub const DELETE_EXPIRY: &str =
    "DELETE FROM endpoints_by_expiry WHERE bucket = ? AND expires_at = ? AND endpoint_id = ?";
/// One bucket's endpoints due at or before a time, soonest first.
pub const SELECT_EXPIRED: &str =
    "SELECT expires_at, endpoint_id FROM endpoints_by_expiry WHERE bucket = ? AND expires_at <= ? LIMIT ?";

// ---- captures -------------------------------------------------------------------------------

/// The idempotency check of `put_captures` (a row without `received_at` is a leftover of a
/// verification update racing a delete, and counts as absent).
pub const SELECT_CAPTURE_EXISTS: &str = "SELECT received_at FROM captures_by_id WHERE capture_id = ?";
pub const INSERT_CAPTURE_BY_ID: &str = "INSERT INTO captures_by_id \
     (capture_id, endpoint_id, team_id, day, method, path, query, headers, body, body_size, body_sha256, \
      remote_addr, http_version, received_at, answered, answered_by) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?";
/// Without the body: listings read these rows, and the body is in `captures_by_id`.
pub const INSERT_CAPTURE_BY_ENDPOINT: &str = "INSERT INTO captures_by_endpoint \
     (endpoint_id, day, capture_id, team_id, method, path, query, headers, body_size, body_sha256, \
      remote_addr, http_version, received_at, answered, answered_by) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?";
/// The body of a listed capture, for a listing that returns bodies or filters on them.
pub const SELECT_CAPTURE_BODY: &str = "SELECT body FROM captures_by_id WHERE capture_id = ?";
pub const INSERT_CAPTURE_DAY: &str = "INSERT INTO capture_days (endpoint_id, day) VALUES (?, ?) USING TTL ?";
pub const SELECT_CAPTURE: &str = concat!("SELECT ", capture_columns!(), " FROM captures_by_id WHERE capture_id = ?");
/// Where a capture's listing row is and how long it has left, for updates and deletes that must
/// touch both tables (`TTL(received_at)` is null when the row has no TTL).
pub const SELECT_CAPTURE_LOCATION: &str =
    "SELECT endpoint_id, day, received_at, TTL(received_at) FROM captures_by_id WHERE capture_id = ?";
/// Days with captures, newest first, at or before a day (`2147483647` for "any").
pub const SELECT_CAPTURE_DAYS: &str = "SELECT day FROM capture_days WHERE endpoint_id = ? AND day <= ? LIMIT ?";
/// One page of a day partition, newest first.
pub const SELECT_CAPTURES_IN_DAY: &str =
    concat!("SELECT ", capture_columns!(), " FROM captures_by_endpoint WHERE endpoint_id = ? AND day = ?");
/// The same, strictly older than a cursor.
pub const SELECT_CAPTURES_IN_DAY_BEFORE: &str = concat!(
    "SELECT ",
    capture_columns!(),
    " FROM captures_by_endpoint WHERE endpoint_id = ? AND day = ? AND capture_id < ?"
);
/// Ids only, for deleting an endpoint's captures from `captures_by_id`.
pub const SELECT_CAPTURE_IDS_IN_DAY: &str =
    "SELECT capture_id FROM captures_by_endpoint WHERE endpoint_id = ? AND day = ?";
/// Verification cells get the row's remaining TTL, so they never outlive the capture.
pub const UPDATE_VERIFICATION_BY_ID: &str =
    "UPDATE captures_by_id USING TTL ? SET verdict = ?, verification = ? WHERE capture_id = ?";
pub const UPDATE_VERIFICATION_BY_ENDPOINT: &str = "UPDATE captures_by_endpoint USING TTL ? \
     SET verdict = ?, verification = ? WHERE endpoint_id = ? AND day = ? AND capture_id = ?";
/// Index rows of a capture's event and resource, with the capture's remaining TTL.
pub const INSERT_CAPTURE_BY_EVENT: &str =
    "INSERT INTO captures_by_event (endpoint_id, event_id, capture_id) VALUES (?, ?, ?) USING TTL ?";
pub const INSERT_CAPTURE_BY_RESOURCE: &str = "INSERT INTO captures_by_resource \
     (endpoint_id, resource, capture_id, event_created_at) VALUES (?, ?, ?, ?) USING TTL ?";
/// A redelivery group's captures, oldest first; readers check each capture's current result.
pub const SELECT_CAPTURES_BY_EVENT: &str =
    "SELECT capture_id FROM captures_by_event WHERE endpoint_id = ? AND event_id = ? LIMIT ?";
/// Captures about a resource received before a cursor, with their events' creation times.
pub const SELECT_CAPTURES_BY_RESOURCE_BEFORE: &str = "SELECT capture_id, event_created_at FROM captures_by_resource \
     WHERE endpoint_id = ? AND resource = ? AND capture_id < ? LIMIT ?";
/// What a group member needs besides its result: when it arrived and what it was answered.
pub const SELECT_CAPTURE_ANSWER: &str = "SELECT received_at, answered, answered_by, verdict, verification \
     FROM captures_by_id WHERE capture_id = ?";
pub const SELECT_EVENT_SHAPE: &str = "SELECT endpoint_id, event_type, shape, samples, updated_at FROM event_shapes \
     WHERE endpoint_id = ? AND event_type = ?";
pub const SELECT_EVENT_SHAPES: &str =
    "SELECT endpoint_id, event_type, shape, samples, updated_at FROM event_shapes WHERE endpoint_id = ? LIMIT ?";
pub const INSERT_EVENT_SHAPE: &str =
    "INSERT INTO event_shapes (endpoint_id, event_type, shape, samples, updated_at) VALUES (?, ?, ?, ?, ?)";
pub const DELETE_EVENT_SHAPES: &str = "DELETE FROM event_shapes WHERE endpoint_id = ?";
/// With the row's remaining TTL, like verification cells.
pub const UPDATE_SCHEMA_CHANGE: &str = "UPDATE captures_by_id USING TTL ? SET schema_change = ? WHERE capture_id = ?";
pub const SELECT_SCHEMA_CHANGE: &str = "SELECT received_at, schema_change FROM captures_by_id WHERE capture_id = ?";
pub const SELECT_VERIFICATION: &str =
    "SELECT received_at, verdict, verification FROM captures_by_id WHERE capture_id = ?";
pub const DELETE_CAPTURE_BY_ID: &str = "DELETE FROM captures_by_id WHERE capture_id = ?";
pub const DELETE_CAPTURE_BY_ENDPOINT: &str =
    "DELETE FROM captures_by_endpoint WHERE endpoint_id = ? AND day = ? AND capture_id = ?";
/// One partition tombstone per day when an endpoint is deleted.
pub const DELETE_CAPTURE_DAY_PARTITION: &str = "DELETE FROM captures_by_endpoint WHERE endpoint_id = ? AND day = ?";
pub const DELETE_CAPTURE_DAYS: &str = "DELETE FROM capture_days WHERE endpoint_id = ?";

// ---- health ---------------------------------------------------------------------------------

// ---- deliveries -----------------------------------------------------------------------------

macro_rules! delivery_columns {
    () => {
        "delivery_id, team_id, endpoint_id, capture_id, origin, method, url, headers, body, body_sha256, edited, \
         resigned, state, attempts, max_attempts, next_attempt_at, created_at, updated_at, trace_parent, retry_like"
    };
}
macro_rules! attempt_columns {
    () => {
        "delivery_id, number, started_at, latency_ms, response_status, response_headers, response_body, \
         response_truncated, error, error_message"
    };
}

pub const INSERT_DELIVERY: &str = concat!(
    "INSERT INTO deliveries (",
    delivery_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
);
pub const SELECT_DELIVERY: &str = concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE delivery_id = ?");
pub const SELECT_DELIVERY_STATE: &str = "SELECT state, next_attempt_at FROM deliveries WHERE delivery_id = ?";
pub const UPDATE_DELIVERY_PROGRESS: &str = "UPDATE deliveries USING TTL ? \
     SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ? WHERE delivery_id = ?";
pub const DELETE_DELIVERY: &str = "DELETE FROM deliveries WHERE delivery_id = ?";
/// A lightweight transaction, on purpose: it is what lets several replay workers scan one store
/// and attempt each due retry once. Replay is not the capture hot path.
pub const CLAIM_DELIVERY: &str = "UPDATE deliveries USING TTL ? SET next_attempt_at = ? WHERE delivery_id = ? \
     IF state = 'pending' AND attempts = ? AND next_attempt_at = ?";
pub const INSERT_DELIVERY_BY_CAPTURE: &str =
    "INSERT INTO deliveries_by_capture (capture_id, delivery_id) VALUES (?, ?) USING TTL ?";
pub const SELECT_DELIVERY_IDS_BY_CAPTURE: &str = "SELECT delivery_id FROM deliveries_by_capture WHERE capture_id = ?";
pub const DELETE_DELIVERIES_BY_CAPTURE: &str = "DELETE FROM deliveries_by_capture WHERE capture_id = ?";
pub const INSERT_ATTEMPT: &str = concat!(
    "INSERT INTO delivery_attempts (",
    attempt_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
);
pub const SELECT_ATTEMPT_EXISTS: &str = "SELECT number FROM delivery_attempts WHERE delivery_id = ? AND number = ?";
pub const SELECT_ATTEMPTS: &str =
    concat!("SELECT ", attempt_columns!(), " FROM delivery_attempts WHERE delivery_id = ?");
pub const DELETE_ATTEMPTS: &str = "DELETE FROM delivery_attempts WHERE delivery_id = ?";
pub const INSERT_DUE: &str = "INSERT INTO deliveries_due (shard, due, delivery_id) VALUES (?, ?, ?) USING TTL ?";
pub const DELETE_DUE: &str = "DELETE FROM deliveries_due WHERE shard = ? AND due = ? AND delivery_id = ?";
pub const SELECT_DUE: &str = "SELECT due, delivery_id FROM deliveries_due WHERE shard = ? AND due <= ? LIMIT ?";

pub const UPSERT_FORWARDING: &str = "INSERT INTO forwarding_rules (endpoint_id, rules) VALUES (?, ?)";
pub const SELECT_FORWARDING: &str = "SELECT rules FROM forwarding_rules WHERE endpoint_id = ?";
pub const DELETE_FORWARDING: &str = "DELETE FROM forwarding_rules WHERE endpoint_id = ?";

pub const SELECT_LISTENER_CURSOR: &str =
    "SELECT capture_id, updated_at FROM listener_cursors WHERE endpoint_id = ? AND name = ? LIMIT 1";
pub const INSERT_LISTENER_CURSOR: &str =
    "INSERT INTO listener_cursors (endpoint_id, name, capture_id, updated_at) VALUES (?, ?, ?, ?)";
pub const DELETE_LISTENER_CURSORS_BEFORE: &str =
    "DELETE FROM listener_cursors WHERE endpoint_id = ? AND name = ? AND capture_id < ?";
pub const DELETE_LISTENER_CURSORS: &str = "DELETE FROM listener_cursors WHERE endpoint_id = ?";

pub const SELECT_LISTENER_OWNER: &str = "SELECT owner FROM listeners WHERE endpoint_id = ? AND name = ?";
/// One small partition: an endpoint has at most the API's limit of names (plus racing claims).
pub const COUNT_LISTENERS: &str = "SELECT COUNT(*) FROM listeners WHERE endpoint_id = ?";
/// Not applied, the result carries the existing row, whose `owner` says who won.
pub const INSERT_LISTENER: &str =
    "INSERT INTO listeners (endpoint_id, name, owner, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS";
pub const DELETE_LISTENERS: &str = "DELETE FROM listeners WHERE endpoint_id = ?";

pub const SELECT_LEASE: &str = "SELECT holder, description, acquired_at, expires_at FROM listener_leases \
     WHERE endpoint_id = ? AND name = ?";
/// Not applied, the result carries the existing row, whose `holder` says who has it.
pub const INSERT_LEASE: &str = "INSERT INTO listener_leases (endpoint_id, name, holder, description, acquired_at, \
     expires_at) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS";
/// Compare-and-set on the holder read just before.
pub const REPLACE_LEASE: &str = "UPDATE listener_leases SET holder = ?, description = ?, acquired_at = ?, \
     expires_at = ? WHERE endpoint_id = ? AND name = ? IF holder = ?";
pub const RELEASE_LEASE: &str = "DELETE FROM listener_leases WHERE endpoint_id = ? AND name = ? IF holder = ?";
pub const DELETE_LEASES: &str = "DELETE FROM listener_leases WHERE endpoint_id = ?";

/// A single-partition read in the store's keyspace at the configured consistency.
pub const HEALTH: &str = SELECT_SCHEMA_VERSION;

/// Every statement the store prepares, for the sanity checks (and `ScyllaStore::open`, which
/// prepares each one so a schema mismatch fails at start, not at the first request).
pub const STATEMENTS: &[&str] = &[
    SELECT_LEASE,
    INSERT_LEASE,
    REPLACE_LEASE,
    RELEASE_LEASE,
    DELETE_LEASES,
    SELECT_SCHEMA_VERSION,
    UPSERT_SCHEMA_VERSION,
    INSERT_TEAM,
    SELECT_TEAM,
    SELECT_TEAMS,
    UPDATE_RETENTION,
    INSERT_TOKEN_HASH,
    DELETE_TOKEN_HASH,
    INSERT_TOKEN,
    INSERT_TOKEN_BY_TEAM,
    SELECT_TOKEN,
    SELECT_TOKEN_ID_BY_HASH,
    SELECT_TOKEN_IDS_BY_TEAM,
    TOUCH_TOKEN,
    REVOKE_TOKEN,
    ANY_TOKEN,
    INSERT_ENDPOINT_TOKEN,
    DELETE_ENDPOINT_TOKEN,
    INSERT_ENDPOINT,
    INSERT_ENDPOINT_BY_TEAM,
    UPDATE_ENDPOINT,
    SELECT_ENDPOINT,
    SELECT_ENDPOINT_ID_BY_TOKEN,
    SELECT_ENDPOINT_IDS_BY_TEAM,
    DELETE_ENDPOINT,
    DELETE_ENDPOINT_BY_TEAM,
    SELECT_COUNTER,
    INSERT_COUNTER,
    BUMP_COUNTER,
    SELECT_COUNTERS,
    RESET_COUNTER,
    DELETE_COUNTERS,
    INSERT_EXPIRY,
    DELETE_EXPIRY,
    SELECT_EXPIRED,
    SELECT_CAPTURE_EXISTS,
    INSERT_CAPTURE_BY_ID,
    INSERT_CAPTURE_BY_ENDPOINT,
    INSERT_CAPTURE_DAY,
    SELECT_CAPTURE,
    INSERT_CAPTURE_BY_EVENT,
    INSERT_CAPTURE_BY_RESOURCE,
    SELECT_CAPTURES_BY_EVENT,
    SELECT_CAPTURES_BY_RESOURCE_BEFORE,
    SELECT_CAPTURE_ANSWER,
    SELECT_EVENT_SHAPE,
    SELECT_EVENT_SHAPES,
    INSERT_EVENT_SHAPE,
    DELETE_EVENT_SHAPES,
    UPDATE_SCHEMA_CHANGE,
    SELECT_SCHEMA_CHANGE,
    SELECT_CAPTURE_BODY,
    SELECT_CAPTURE_LOCATION,
    SELECT_CAPTURE_DAYS,
    SELECT_CAPTURES_IN_DAY,
    SELECT_CAPTURES_IN_DAY_BEFORE,
    SELECT_CAPTURE_IDS_IN_DAY,
    UPDATE_VERIFICATION_BY_ID,
    UPDATE_VERIFICATION_BY_ENDPOINT,
    SELECT_VERIFICATION,
    DELETE_CAPTURE_BY_ID,
    DELETE_CAPTURE_BY_ENDPOINT,
    DELETE_CAPTURE_DAY_PARTITION,
    DELETE_CAPTURE_DAYS,
    INSERT_DELIVERY,
    SELECT_DELIVERY,
    SELECT_DELIVERY_STATE,
    UPDATE_DELIVERY_PROGRESS,
    DELETE_DELIVERY,
    CLAIM_DELIVERY,
    INSERT_DELIVERY_BY_CAPTURE,
    SELECT_DELIVERY_IDS_BY_CAPTURE,
    DELETE_DELIVERIES_BY_CAPTURE,
    INSERT_ATTEMPT,
    SELECT_ATTEMPT_EXISTS,
    SELECT_ATTEMPTS,
    DELETE_ATTEMPTS,
    INSERT_DUE,
    DELETE_DUE,
    SELECT_DUE,
    UPSERT_FORWARDING,
    SELECT_FORWARDING,
    DELETE_FORWARDING,
    SELECT_LISTENER_CURSOR,
    INSERT_LISTENER_CURSOR,
    DELETE_LISTENER_CURSORS_BEFORE,
    DELETE_LISTENER_CURSORS,
    SELECT_LISTENER_OWNER,
    COUNT_LISTENERS,
    INSERT_LISTENER,
    DELETE_LISTENERS,
];

/// `CREATE KEYSPACE IF NOT EXISTS` with the configured replication. With `tablets_off`, the
/// keyspace asks ScyllaDB for vnodes (`tablets = {'enabled': false}`): ScyllaDB does not support
/// lightweight transactions in tablet keyspaces, and creating teams, tokens and endpoints uses
/// them. Servers that do not know tablets reject that clause; the caller retries without it.
pub fn create_keyspace(keyspace: &str, replication: &Replication, tablets_off: bool) -> String {
    let map = match replication {
        Replication::Factor(rf) => format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {rf}}}"),
        Replication::Datacenters(dcs) => {
            let dcs: Vec<String> = dcs.iter().map(|(dc, rf)| format!("'{dc}': {rf}")).collect();
            format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
        }
        Replication::Simple(rf) => format!("{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"),
    };
    let tablets = if tablets_off { " AND tablets = {'enabled': false}" } else { "" };
    format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {map}{tablets}")
}

/// Whether `statement` adds a column (`ALTER TABLE … ADD …`): run again after a crash, it fails
/// because the column exists, which [`column_exists`] recognises.
pub fn adds_column(statement: &str) -> bool {
    let words: Vec<String> = statement.split_whitespace().take(4).map(str::to_ascii_uppercase).collect();
    words.len() == 4 && words[0] == "ALTER" && words[1] == "TABLE" && words[3] == "ADD"
}

/// Whether a server's error message for an `ALTER TABLE … ADD` says the column is already there
/// (ScyllaDB and Cassandra: "Invalid column name … because it conflicts with an existing
/// column"; some versions: "… already exists").
pub fn column_exists(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("conflicts with an existing column") || m.contains("already exists")
}

/// Only the test harness drops keyspaces.
pub fn drop_keyspace(keyspace: &str) -> String {
    format!("DROP KEYSPACE IF EXISTS {keyspace}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words after FROM / INTO / UPDATE / TABLE that name a table, in order.
    fn tables_named(cql: &str) -> Vec<String> {
        let words: Vec<&str> = cql.split(|c: char| c.is_whitespace() || c == '(').filter(|w| !w.is_empty()).collect();
        let mut out = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let upper = w.to_ascii_uppercase();
            let next = match upper.as_str() {
                "FROM" | "INTO" | "UPDATE" => words.get(i + 1),
                // CREATE TABLE IF NOT EXISTS name
                "TABLE" => words.get(i + 4).filter(|_| words.get(i + 1).is_some_and(|w| w.eq_ignore_ascii_case("IF"))),
                _ => None,
            };
            if let Some(name) = next {
                out.push(name.to_string());
            }
        }
        out
    }

    fn all_schema() -> Vec<&'static str> {
        let mut all = vec![CREATE_SCHEMA_VERSION];
        all.extend(MIGRATIONS.iter().flat_map(|m| m.iter().copied()));
        all
    }

    #[test]
    fn the_schema_creates_exactly_the_listed_tables() {
        let created: Vec<String> = all_schema().iter().flat_map(|s| tables_named(s)).collect();
        assert_eq!(created, TABLES, "TABLES must list what the schema creates, in order");
        for ddl in all_schema() {
            if adds_column(ddl) {
                // Made idempotent by the runner (`column_exists`); only of tables created before.
                let table = ddl.split_whitespace().nth(2).unwrap();
                assert!(TABLES.contains(&table), "ALTER of an unknown table: {ddl}");
                assert_eq!(ddl.split_whitespace().count(), 6, "one column per ALTER: {ddl}");
            } else {
                assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS "), "not idempotent: {ddl}");
            }
        }
    }

    #[test]
    fn a_column_added_twice_is_recognised() {
        assert!(adds_column("ALTER TABLE deliveries ADD trace_parent text"));
        assert!(adds_column("alter table deliveries add x int"));
        assert!(!adds_column("ALTER TABLE deliveries DROP trace_parent"));
        assert!(!adds_column("CREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY)"));
        assert!(column_exists("Invalid column name trace_parent because it conflicts with an existing column"));
        assert!(column_exists("Column with name trace_parent already exists"));
        assert!(!column_exists("unconfigured table deliveries"));
    }

    #[test]
    fn delivery_columns_are_the_table_columns() {
        let mut table: Vec<String> = MIGRATIONS[1][0]
            .split_once('(')
            .unwrap()
            .1
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(')'))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        table.extend(
            all_schema()
                .iter()
                .filter(|s| adds_column(s) && s.contains(" deliveries "))
                .map(|s| s.split_whitespace().nth(4).unwrap().to_string()),
        );
        let selected: Vec<String> = delivery_columns!().split(',').map(|c| c.trim().to_string()).collect();
        assert_eq!(selected, table, "delivery_columns! must name every deliveries column, in table order");
    }

    #[test]
    fn every_statement_is_non_empty_and_references_only_schema_tables() {
        assert!(!STATEMENTS.is_empty());
        for stmt in STATEMENTS {
            let trimmed = stmt.trim();
            assert!(!trimmed.is_empty());
            assert!(!trimmed.ends_with(';'), "the driver sends one statement; no `;`: {stmt}");
            let verb = trimmed.split_whitespace().next().unwrap().to_ascii_uppercase();
            assert!(["SELECT", "INSERT", "UPDATE", "DELETE"].contains(&verb.as_str()), "unexpected verb: {stmt}");
            let tables = tables_named(stmt);
            assert_eq!(tables.len(), 1, "one table per statement: {stmt}");
            for t in &tables {
                assert!(TABLES.contains(&t.as_str()), "`{t}` is not created by the schema: {stmt}");
            }
            let opens = stmt.matches('(').count();
            assert_eq!(opens, stmt.matches(')').count(), "unbalanced parentheses: {stmt}");
            assert!(!stmt.contains("{"), "unformatted placeholder: {stmt}");
        }
        let mut unique = STATEMENTS.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), STATEMENTS.len(), "a statement is listed twice");
    }

    #[test]
    fn inserts_bind_one_marker_per_column_and_hot_path_has_no_lwt() {
        for stmt in STATEMENTS.iter().filter(|s| s.starts_with("INSERT")) {
            let cols = stmt.split_once('(').unwrap().1.split_once(')').unwrap().0.split(',').count();
            let values = stmt.split("VALUES").nth(1).unwrap();
            let values = values.split_once('(').unwrap().1.split_once(')').unwrap().0.split(',').count();
            assert_eq!(cols, values, "{stmt}");
        }
        // The processor's and ingest's statements never go through Paxos.
        for hot in [
            SELECT_CAPTURE_EXISTS,
            INSERT_CAPTURE_BY_ID,
            INSERT_CAPTURE_BY_ENDPOINT,
            INSERT_CAPTURE_DAY,
            UPDATE_VERIFICATION_BY_ID,
            UPDATE_VERIFICATION_BY_ENDPOINT,
            SELECT_ENDPOINT_ID_BY_TOKEN,
            SELECT_ENDPOINT,
            SELECT_TOKEN_ID_BY_HASH,
            SELECT_TOKEN,
            TOUCH_TOKEN,
            SELECT_CAPTURES_IN_DAY,
            SELECT_CAPTURES_IN_DAY_BEFORE,
            SELECT_CAPTURE_DAYS,
        ] {
            assert!(!hot.contains(" IF "), "hot-path statement uses a lightweight transaction: {hot}");
        }
        // Writes of capture data always carry a TTL, so retention holds without a sweep.
        for ttl in [INSERT_CAPTURE_BY_ID, INSERT_CAPTURE_BY_ENDPOINT, INSERT_CAPTURE_DAY] {
            assert!(ttl.ends_with("USING TTL ?"), "{ttl}");
        }
        for ttl in [UPDATE_VERIFICATION_BY_ID, UPDATE_VERIFICATION_BY_ENDPOINT] {
            assert!(ttl.contains("USING TTL ?"), "{ttl}");
        }
    }

    #[test]
    fn both_capture_tables_have_the_same_columns() {
        let columns = |ddl: &str| -> Vec<String> {
            let body = ddl.split_once('(').unwrap().1;
            let mut cols: Vec<String> = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("PRIMARY") && !l.starts_with(')'))
                .map(|l| l.split_whitespace().next().unwrap().to_string())
                .filter(|c| c != "day")
                .collect();
            cols.sort();
            cols
        };
        // As created, plus the columns later versions added.
        let table = |name: &str| -> Vec<String> {
            let ddl = MIGRATIONS[0].iter().find(|s| s.contains(&format!("{name} ("))).unwrap();
            let mut cols = columns(ddl);
            cols.extend(
                all_schema()
                    .iter()
                    .filter(|s| adds_column(s) && s.split_whitespace().nth(2) == Some(name))
                    .map(|s| s.split_whitespace().nth(4).unwrap().to_string()),
            );
            cols.sort();
            cols
        };
        let (by_id, by_endpoint) = (table("captures_by_id"), table("captures_by_endpoint"));
        assert_eq!(by_id, by_endpoint);
        let mut selected: Vec<String> = capture_columns!().split(',').map(|c| c.trim().to_string()).collect();
        // Read by its own point query only (`SELECT_SCHEMA_CHANGE`), never by listings.
        selected.push("schema_change".into());
        selected.sort();
        assert_eq!(by_id, selected, "capture_columns! must select every capture column");
    }

    #[test]
    fn counters_change_only_by_lightweight_transactions() {
        // Mixing plain writes into a counter's Paxos history would let their timestamps reorder
        // it; the endpoint's delete, a partition tombstone, is the one exception.
        for lwt in [INSERT_COUNTER, BUMP_COUNTER, RESET_COUNTER] {
            assert!(lwt.contains(" IF "), "{lwt}");
        }
        let writes: Vec<&&str> = STATEMENTS
            .iter()
            .filter(|s| s.contains(" endpoint_counters ") && !s.starts_with("SELECT") && !s.contains(" IF "))
            .collect();
        assert_eq!(writes, [&DELETE_COUNTERS]);
        assert!(DELETE_COUNTERS.ends_with("WHERE endpoint_id = ?"), "the whole partition");
        assert!(BUMP_COUNTER.ends_with("IF n = ?"), "a compare-and-set on the value read");
    }

    #[test]
    fn version_10_reads_the_expiry_index_soonest_first_by_bucket() {
        let ddl = MIGRATIONS[9].iter().find(|s| s.contains("endpoints_by_expiry")).unwrap();
        assert!(ddl.contains("PRIMARY KEY ((bucket), expires_at, endpoint_id)"), "{ddl}");
        assert!(ddl.contains("CLUSTERING ORDER BY (expires_at ASC, endpoint_id ASC)"), "{ddl}");
        assert!(SELECT_EXPIRED.contains("WHERE bucket = ? AND expires_at <= ? LIMIT ?"), "{SELECT_EXPIRED}");
    }

    #[test]
    fn keyspace_statements() {
        assert_eq!(
            create_keyspace("hm", &Replication::Factor(3), true),
            "CREATE KEYSPACE IF NOT EXISTS hm WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'replication_factor': 3} AND tablets = {'enabled': false}"
        );
        assert_eq!(
            create_keyspace("hm", &Replication::Datacenters(vec![("dc1".into(), 3), ("dc2".into(), 2)]), false),
            "CREATE KEYSPACE IF NOT EXISTS hm WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"
        );
        assert_eq!(
            create_keyspace("hm", &Replication::Simple(1), false),
            "CREATE KEYSPACE IF NOT EXISTS hm WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        assert_eq!(drop_keyspace("hm_test"), "DROP KEYSPACE IF EXISTS hm_test");
    }
}
