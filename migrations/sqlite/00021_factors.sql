-- Second factors and passkeys, recovery codes, the WebAuthn user handle and
-- each client's MFA policy (see the PostgreSQL twin for every column's
-- meaning). Column types are the ones GORM's SQLite dialect derives from the
-- models. No comments inside CREATE TABLE: GORM's SQLite migrator parses it.

-- +goose Up
CREATE TABLE `user_factors` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `kind` text NOT NULL,
    `name` text NOT NULL,
    `secret_sealed` blob,
    `last_step` integer NOT NULL DEFAULT 0,
    `confirmed_at` datetime,
    `credential_id` blob,
    `public_key` blob,
    `aaguid` blob,
    `sign_count` integer NOT NULL DEFAULT 0,
    `backup_eligible` numeric NOT NULL DEFAULT false,
    `backup_state` numeric NOT NULL DEFAULT false,
    `user_verified` numeric NOT NULL DEFAULT false,
    `transports` text NOT NULL DEFAULT "",
    `attestation_type` text NOT NULL DEFAULT "",
    `last_used_at` datetime,
    `created_at` datetime NOT NULL,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_user_factors_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE,
    CONSTRAINT `user_factors_kind` CHECK (kind IN ('totp', 'webauthn'))
);
CREATE INDEX `user_factors_user_id_idx` ON `user_factors`(`user_id`);
CREATE UNIQUE INDEX `user_factors_credential_id_key` ON `user_factors`(`credential_id`);

CREATE TABLE `recovery_codes` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `code_hash` blob NOT NULL,
    `used_at` datetime,
    `created_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_recovery_codes_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
CREATE INDEX `recovery_codes_user_id_idx` ON `recovery_codes`(`user_id`);
CREATE UNIQUE INDEX `recovery_codes_user_code_key` ON `recovery_codes`(`user_id`,`code_hash`);

ALTER TABLE `users` ADD `webauthn_handle` blob;
CREATE UNIQUE INDEX `users_webauthn_handle_key` ON `users`(`webauthn_handle`);

ALTER TABLE `clients` ADD `mfa_policy` text NOT NULL DEFAULT "";

-- +goose Down
ALTER TABLE `clients` DROP COLUMN `mfa_policy`;
DROP INDEX `users_webauthn_handle_key`;
ALTER TABLE `users` DROP COLUMN `webauthn_handle`;
DROP TABLE `recovery_codes`;
DROP TABLE `user_factors`;
