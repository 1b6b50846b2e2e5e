-- Sign-in through upstream identity providers (see the PostgreSQL twin): the
-- address an external identity last gave, when it last signed in, and its
-- upstream tokens sealed with the system secret when the operator keeps them.
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
ALTER TABLE `external_identities` ADD `email` text NOT NULL DEFAULT "";
ALTER TABLE `external_identities` ADD `last_sign_in_at` datetime;
ALTER TABLE `external_identities` ADD `sealed_tokens` blob;

-- +goose Down
ALTER TABLE `external_identities` DROP COLUMN `sealed_tokens`;
ALTER TABLE `external_identities` DROP COLUMN `last_sign_in_at`;
ALTER TABLE `external_identities` DROP COLUMN `email`;
