
    CREATE TABLE listeners (
        endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        owner       BLOB NOT NULL, -- the token's id
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, name)
    ) STRICT;
    