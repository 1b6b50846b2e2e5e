-- Proving an existing account by a mailed link, and the acr of an external
-- identity's last sign-in (see the PostgreSQL twin).
-- SQLite cannot change a CHECK constraint in place, so user_tokens is rebuilt
-- with the new one and its rows copied. Column types are the ones GORM's
-- SQLite dialect derives from the models.

-- +goose Up
CREATE TABLE `user_tokens_new` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `purpose` text NOT NULL,
    `token_hash` blob NOT NULL,
    `expires_at` datetime NOT NULL,
    `used_at` datetime,
    `created_at` datetime NOT NULL,
    `browser_hash` blob,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_user_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE,
    CONSTRAINT `user_tokens_purpose` CHECK (purpose IN ('verify_email', 'reset_password', 'link_account'))
);
INSERT INTO `user_tokens_new` (`id`, `user_id`, `purpose`, `token_hash`, `expires_at`, `used_at`, `created_at`, `browser_hash`)
    SELECT `id`, `user_id`, `purpose`, `token_hash`, `expires_at`, `used_at`, `created_at`, `browser_hash` FROM `user_tokens`;
DROP TABLE `user_tokens`;
ALTER TABLE `user_tokens_new` RENAME TO `user_tokens`;
CREATE UNIQUE INDEX `user_tokens_token_hash_key` ON `user_tokens`(`token_hash`);
CREATE INDEX `user_tokens_user_purpose_idx` ON `user_tokens`(`user_id`,`purpose`);
CREATE INDEX `user_tokens_expires_at_idx` ON `user_tokens`(`expires_at`);
ALTER TABLE `external_identities` ADD `last_acr` text NOT NULL DEFAULT "";

-- +goose Down
ALTER TABLE `external_identities` DROP COLUMN `last_acr`;
CREATE TABLE `user_tokens_old` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `purpose` text NOT NULL,
    `token_hash` blob NOT NULL,
    `expires_at` datetime NOT NULL,
    `used_at` datetime,
    `created_at` datetime NOT NULL,
    `browser_hash` blob,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_user_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE,
    CONSTRAINT `user_tokens_purpose` CHECK (purpose IN ('verify_email', 'reset_password'))
);
INSERT INTO `user_tokens_old` (`id`, `user_id`, `purpose`, `token_hash`, `expires_at`, `used_at`, `created_at`, `browser_hash`)
    SELECT `id`, `user_id`, `purpose`, `token_hash`, `expires_at`, `used_at`, `created_at`, `browser_hash` FROM `user_tokens`
    WHERE `purpose` <> 'link_account';
DROP TABLE `user_tokens`;
ALTER TABLE `user_tokens_old` RENAME TO `user_tokens`;
CREATE UNIQUE INDEX `user_tokens_token_hash_key` ON `user_tokens`(`token_hash`);
CREATE INDEX `user_tokens_user_purpose_idx` ON `user_tokens`(`user_id`,`purpose`);
CREATE INDEX `user_tokens_expires_at_idx` ON `user_tokens`(`expires_at`);
