
    CREATE TABLE deliveries (
        id              BLOB PRIMARY KEY NOT NULL,
        team_id         BLOB NOT NULL,
        endpoint_id     BLOB NOT NULL,
        capture_id      BLOB NOT NULL,
        origin          TEXT NOT NULL, -- `manual` or `rule:<id>`
        method          TEXT NOT NULL,
        url             TEXT NOT NULL,
        headers         BLOB NOT NULL, -- see `encode_headers`
        body            BLOB NOT NULL,
        body_sha256     BLOB NOT NULL,
        edited          INTEGER NOT NULL,
        resigned        INTEGER NOT NULL,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        max_attempts    INTEGER NOT NULL,
        next_attempt_at INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX deliveries_by_capture ON deliveries (capture_id, id DESC);
    CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id);
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';

    CREATE TABLE attempts (
        delivery_id        BLOB NOT NULL,
        number             INTEGER NOT NULL,
        started_at         INTEGER NOT NULL,
        latency_ms         INTEGER NOT NULL,
        response_status    INTEGER,
        response_headers   BLOB NOT NULL,
        response_body      BLOB NOT NULL,
        response_truncated INTEGER NOT NULL,
        error              TEXT,
        error_message      TEXT,
        PRIMARY KEY (delivery_id, number)
    ) STRICT;
    