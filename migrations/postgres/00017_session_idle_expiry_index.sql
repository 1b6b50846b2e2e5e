-- The janitor deletes sessions past either expiry (expires_at <= now OR
-- idle_expires_at <= now). With an index on each column PostgreSQL answers the
-- OR with a bitmap of both; with only expires_at indexed every batch read the
-- whole table.

-- +goose Up
CREATE INDEX sessions_idle_expires_at_idx ON sessions (idle_expires_at);

-- +goose Down
DROP INDEX sessions_idle_expires_at_idx;
