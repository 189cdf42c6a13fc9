
    ALTER TABLE deliveries ADD COLUMN trace_parent TEXT;
    