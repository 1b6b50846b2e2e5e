-- What `gatehouse import` brings from another system: the mapping of source
-- user ids to Gatehouse users, and users' accounts at upstream identity
-- providers (see the PostgreSQL twin). Column types are the ones GORM's SQLite
-- dialect derives from the models. No comments inside CREATE TABLE: GORM's
-- SQLite migrator parses it.

-- +goose Up
CREATE TABLE `imported_users` (
    `source` text,
    `external_id` text,
    `user_id` uuid NOT NULL,
    `created_at` datetime NOT NULL,
    PRIMARY KEY (`source`,`external_id`),
    CONSTRAINT `fk_imported_users_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
CREATE INDEX `imported_users_user_id_idx` ON `imported_users`(`user_id`);

CREATE TABLE `external_identities` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `provider` text NOT NULL,
    `account_id` text NOT NULL,
    `source` text NOT NULL DEFAULT "",
    `created_at` datetime NOT NULL,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_external_identities_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
CREATE UNIQUE INDEX `external_identities_provider_account_key` ON `external_identities`(`provider`,`account_id`);
CREATE INDEX `external_identities_user_id_idx` ON `external_identities`(`user_id`);

-- +goose Down
DROP TABLE `external_identities`;
DROP TABLE `imported_users`;
