-- What each capture's provider says about its event, and where a custom sender names it.
-- The type and id have their own columns because captures are filtered by them (and grouped
-- by id for redeliveries); the rest of the event is in the `verification` JSON. NULL for rows
-- written before this version, which are checked again when their endpoint's settings change.
ALTER TABLE endpoints ADD COLUMN event_fields TEXT;
ALTER TABLE captures ADD COLUMN event_type TEXT;
ALTER TABLE captures ADD COLUMN event_id TEXT;
CREATE INDEX captures_by_endpoint_event_type ON captures (endpoint_id, event_type, id DESC)
    WHERE event_type IS NOT NULL;
CREATE INDEX captures_by_endpoint_event_id ON captures (endpoint_id, event_id, id DESC)
    WHERE event_id IS NOT NULL;
-- What ingest answered (status, configured delay): a provider's retry after a non-2xx or slow
-- answer is told from a true duplicate. NULL for captures from before it was recorded.
ALTER TABLE captures ADD COLUMN answered_status INTEGER;
ALTER TABLE captures ADD COLUMN answered_delay_ms INTEGER;
-- The event's creation time and the resource it is about: a capture whose event is older than
-- one already received for the same resource arrived out of order.
ALTER TABLE captures ADD COLUMN event_created_at INTEGER;
ALTER TABLE captures ADD COLUMN event_resource TEXT;
CREATE INDEX captures_by_endpoint_event_resource ON captures (endpoint_id, event_resource, event_created_at)
    WHERE event_resource IS NOT NULL AND event_created_at IS NOT NULL;
-- The learned JSON shape of each event type's bodies per endpoint (opaque JSON), and what each
-- capture changed in it. Shapes go with their endpoint.
CREATE TABLE event_shapes (
    endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    shape       TEXT NOT NULL,
    samples     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
) STRICT, WITHOUT ROWID;
ALTER TABLE captures ADD COLUMN schema_change TEXT;
