-- The janitor deletes sessions past either expiry; an index on each column
-- keeps that from reading the whole table (see the PostgreSQL twin).

-- +goose Up
CREATE INDEX `sessions_idle_expires_at_idx` ON `sessions`(`idle_expires_at`);

-- +goose Down
DROP INDEX `sessions_idle_expires_at_idx`;
