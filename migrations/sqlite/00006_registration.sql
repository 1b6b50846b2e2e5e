-- Dynamic Client Registration (RFC 7591, RFC 7592): a dynamically registered client
-- keeps the keyed hash of its registration access token, never the token.
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
ALTER TABLE `clients` ADD `registration_token_hash` text NOT NULL DEFAULT "";

-- +goose Down
ALTER TABLE `clients` DROP COLUMN `registration_token_hash`;
