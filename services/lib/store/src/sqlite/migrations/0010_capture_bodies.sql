
    -- Bodies move out of the captures row into their own table. A listing walks captures rows,
    -- and with bodies inline every body sat in the same b-tree pages, so listing a page read
    -- kilobytes of bodies it never returned. `body_size` keeps what listings show.
    --
    -- The table is rebuilt rather than altered (`DROP COLUMN` would rewrite every row as well,
    -- after `body_size` had been filled by rewriting them once already). `capture_bodies` is
    -- created against the new table and follows it through the rename, so deleting a capture
    -- deletes its body (`ON DELETE CASCADE`; every connection enables foreign keys).
    CREATE TABLE captures_v10 (
        id           BLOB PRIMARY KEY NOT NULL,
        endpoint_id  BLOB NOT NULL,
        team_id      BLOB NOT NULL,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        query        TEXT,
        headers      BLOB NOT NULL,
        body_size    INTEGER NOT NULL,
        body_sha256  BLOB NOT NULL,
        remote_addr  TEXT NOT NULL,
        http_version TEXT NOT NULL,
        received_at  INTEGER NOT NULL,
        verdict      TEXT,
        verification TEXT
    ) STRICT;
    INSERT INTO captures_v10
        SELECT id, endpoint_id, team_id, method, path, query, headers, length(body), body_sha256,
               remote_addr, http_version, received_at, verdict, verification
        FROM captures ORDER BY rowid;

    CREATE TABLE capture_bodies (
        capture_id BLOB PRIMARY KEY NOT NULL REFERENCES captures_v10 (id) ON DELETE CASCADE,
        body       BLOB NOT NULL
    ) STRICT;
    INSERT INTO capture_bodies (capture_id, body) SELECT id, body FROM captures ORDER BY rowid;

    DROP TABLE captures;
    ALTER TABLE captures_v10 RENAME TO captures;
    CREATE INDEX captures_by_endpoint ON captures (endpoint_id, id DESC);
    CREATE INDEX captures_by_team_age ON captures (team_id, received_at);
    -- The method and verdict filters otherwise walk the endpoint's captures newest first until a
    -- page matched: a whole million-capture endpoint when nothing does (`GET`, a failed verdict).
    CREATE INDEX captures_by_endpoint_method ON captures (endpoint_id, method, id DESC);
    CREATE INDEX captures_by_endpoint_verdict ON captures (endpoint_id, verdict, id DESC);
