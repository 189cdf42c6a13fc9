
    CREATE TABLE listener_cursors (
        endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        capture_id  BLOB NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, name)
    ) STRICT;
    