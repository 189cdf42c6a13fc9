
    CREATE TABLE forwarding_rules (
        endpoint_id BLOB PRIMARY KEY NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        rules       TEXT NOT NULL
    ) STRICT;
    