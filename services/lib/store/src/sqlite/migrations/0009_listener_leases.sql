
    CREATE TABLE listener_leases (
        endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        holder      TEXT NOT NULL,
        description TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, name)
    ) STRICT;
    