-- Signing keys may be Ed25519 (alg EdDSA, RFC 8037), for JWT access tokens.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt.

-- +goose Up
CREATE TABLE `signing_keys_new` (
    `kid` text,
    `alg` text NOT NULL,
    `use` text NOT NULL DEFAULT "sig",
    `private_key` blob NOT NULL,
    `public_jwk` text NOT NULL,
    `state` text NOT NULL,
    `activated_at` datetime NOT NULL,
    `retired_at` datetime,
    `publish_until` datetime,
    `created_at` datetime NOT NULL,
    PRIMARY KEY (`kid`),
    CONSTRAINT `signing_keys_alg` CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    CONSTRAINT `signing_keys_state` CHECK (state IN ('active', 'retired'))
);
INSERT INTO `signing_keys_new` (`kid`, `alg`, `use`, `private_key`, `public_jwk`, `state`, `activated_at`, `retired_at`, `publish_until`, `created_at`)
    SELECT `kid`, `alg`, `use`, `private_key`, `public_jwk`, `state`, `activated_at`, `retired_at`, `publish_until`, `created_at` FROM `signing_keys`;
DROP TABLE `signing_keys`;
ALTER TABLE `signing_keys_new` RENAME TO `signing_keys`;
CREATE UNIQUE INDEX `signing_keys_active_alg_key` ON `signing_keys`(`alg`) WHERE state = 'active';

-- +goose Down
CREATE TABLE `signing_keys_new` (
    `kid` text,
    `alg` text NOT NULL,
    `use` text NOT NULL DEFAULT "sig",
    `private_key` blob NOT NULL,
    `public_jwk` text NOT NULL,
    `state` text NOT NULL,
    `activated_at` datetime NOT NULL,
    `retired_at` datetime,
    `publish_until` datetime,
    `created_at` datetime NOT NULL,
    PRIMARY KEY (`kid`),
    CONSTRAINT `signing_keys_alg` CHECK (alg IN ('RS256', 'ES256')),
    CONSTRAINT `signing_keys_state` CHECK (state IN ('active', 'retired'))
);
INSERT INTO `signing_keys_new` (`kid`, `alg`, `use`, `private_key`, `public_jwk`, `state`, `activated_at`, `retired_at`, `publish_until`, `created_at`)
    SELECT `kid`, `alg`, `use`, `private_key`, `public_jwk`, `state`, `activated_at`, `retired_at`, `publish_until`, `created_at` FROM `signing_keys` WHERE `alg` <> 'EdDSA';
DROP TABLE `signing_keys`;
ALTER TABLE `signing_keys_new` RENAME TO `signing_keys`;
CREATE UNIQUE INDEX `signing_keys_active_alg_key` ON `signing_keys`(`alg`) WHERE state = 'active';
