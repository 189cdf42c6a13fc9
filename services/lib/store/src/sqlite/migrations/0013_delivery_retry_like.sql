ALTER TABLE deliveries ADD COLUMN retry_like_provider TEXT;
ALTER TABLE deliveries ADD COLUMN retry_like_speed INTEGER;
