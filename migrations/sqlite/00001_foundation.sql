-- Users, browser sessions and accounts (user-to-client links).
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
CREATE TABLE `users` (
    `id` uuid,
    `email` text NOT NULL,
    `email_verified` numeric NOT NULL DEFAULT false,
    `password_hash` text NOT NULL DEFAULT "",
    `name` text NOT NULL DEFAULT "",
    `given_name` text NOT NULL DEFAULT "",
    `family_name` text NOT NULL DEFAULT "",
    `picture` text NOT NULL DEFAULT "",
    `locale` text NOT NULL DEFAULT "",
    `disabled` numeric NOT NULL DEFAULT false,
    `failed_sign_ins` integer NOT NULL DEFAULT 0,
    `locked_until` datetime,
    `created_at` datetime NOT NULL,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `users_email_lower` CHECK (email = lower(email))
);
CREATE UNIQUE INDEX `users_email_key` ON `users`(`email`);

CREATE TABLE `sessions` (
    `id` uuid,
    `token_hash` blob NOT NULL,
    `user_id` uuid NOT NULL,
    `auth_time` datetime NOT NULL,
    `amr` text NOT NULL DEFAULT "",
    `last_seen_at` datetime NOT NULL,
    `idle_expires_at` datetime NOT NULL,
    `expires_at` datetime NOT NULL,
    `ip` text NOT NULL DEFAULT "",
    `user_agent` text NOT NULL DEFAULT "",
    `created_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_sessions_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
CREATE UNIQUE INDEX `sessions_token_hash_key` ON `sessions`(`token_hash`);
CREATE INDEX `sessions_user_id_idx` ON `sessions`(`user_id`);
CREATE INDEX `sessions_expires_at_idx` ON `sessions`(`expires_at`);

CREATE TABLE `accounts` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `client_id` text NOT NULL,
    `granted_scopes` text NOT NULL DEFAULT "",
    `consent_remembered` numeric NOT NULL DEFAULT false,
    `first_authorized_at` datetime NOT NULL,
    `last_authorized_at` datetime NOT NULL,
    `revoked_at` datetime,
    `created_at` datetime NOT NULL,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_accounts_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
CREATE UNIQUE INDEX `accounts_user_client_key` ON `accounts`(`user_id`,`client_id`);
CREATE INDEX `accounts_client_id_idx` ON `accounts`(`client_id`);

-- +goose Down
DROP TABLE `accounts`;
DROP TABLE `sessions`;
DROP TABLE `users`;
