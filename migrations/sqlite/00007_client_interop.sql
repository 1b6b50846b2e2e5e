-- Client settings for browser apps, resource servers and relying parties that
-- read only the ID token (see the PostgreSQL twin for each column's meaning).
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
ALTER TABLE `clients` ADD `allowed_cors_origins` text NOT NULL DEFAULT "[]";
ALTER TABLE `clients` ADD `resource_server` numeric NOT NULL DEFAULT false;
ALTER TABLE `clients` ADD `claims_in_id_token` numeric NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE `clients` DROP COLUMN `claims_in_id_token`;
ALTER TABLE `clients` DROP COLUMN `resource_server`;
ALTER TABLE `clients` DROP COLUMN `allowed_cors_origins`;
