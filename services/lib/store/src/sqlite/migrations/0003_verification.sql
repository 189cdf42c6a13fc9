
    ALTER TABLE endpoints ADD COLUMN verification TEXT;
    ALTER TABLE endpoints ADD COLUMN handshakes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE captures ADD COLUMN verdict TEXT;
    ALTER TABLE captures ADD COLUMN verification TEXT;
    