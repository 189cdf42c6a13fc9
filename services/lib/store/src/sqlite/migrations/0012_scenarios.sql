-- Response scenarios (rules that choose each answer), request caps and expiry of endpoints.
-- The scenario is opaque JSON like the custom response; expiry has an index because the sweeper
-- looks for endpoints whose time has come.
ALTER TABLE endpoints ADD COLUMN scenario TEXT;
ALTER TABLE endpoints ADD COLUMN max_captures INTEGER;
ALTER TABLE endpoints ADD COLUMN expires_at INTEGER;
CREATE INDEX endpoints_by_expiry ON endpoints (expires_at) WHERE expires_at IS NOT NULL;
-- Which scenario rule answered a capture, the rule's count that chose the answer, and whether
-- it was a simulated timeout. NULL for captures answered otherwise or from before this version.
ALTER TABLE captures ADD COLUMN answered_rule TEXT;
ALTER TABLE captures ADD COLUMN answered_step INTEGER;
ALTER TABLE captures ADD COLUMN answered_timed_out INTEGER;
-- Per-endpoint counters: requests each counting rule answered (`rule:<id>`), captures accepted
-- (`captures`). Ingest adds one per request in a single statement; they go with the endpoint.
CREATE TABLE endpoint_counters (
    endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, key)
) WITHOUT ROWID;
