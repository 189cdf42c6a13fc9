
    CREATE TABLE teams (
        id             BLOB PRIMARY KEY NOT NULL,
        name           TEXT NOT NULL,
        retention_days INTEGER NOT NULL,
        created_at     INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE tokens (
        id             BLOB PRIMARY KEY NOT NULL,
        team_id        BLOB NOT NULL REFERENCES teams (id),
        hash           BLOB NOT NULL UNIQUE,
        role           TEXT NOT NULL,
        name           TEXT NOT NULL,
        instance_admin INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        last_used_at   INTEGER,
        revoked        INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tokens_by_team ON tokens (team_id, created_at);

    CREATE TABLE endpoints (
        id         BLOB PRIMARY KEY NOT NULL,
        team_id    BLOB NOT NULL REFERENCES teams (id),
        name       TEXT NOT NULL,
        token      TEXT NOT NULL UNIQUE,
        response   TEXT, -- CustomResponse as JSON, NULL for the default response
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX endpoints_by_team ON endpoints (team_id, created_at);

    CREATE TABLE captures (
        id           BLOB PRIMARY KEY NOT NULL,
        endpoint_id  BLOB NOT NULL,
        team_id      BLOB NOT NULL,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        query        TEXT, -- NULL when the request had no `?`, '' when it had an empty one
        headers      BLOB NOT NULL, -- see `encode_headers`
        body         BLOB NOT NULL,
        body_sha256  BLOB NOT NULL,
        remote_addr  TEXT NOT NULL,
        http_version TEXT NOT NULL,
        received_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX captures_by_endpoint ON captures (endpoint_id, id DESC);
    