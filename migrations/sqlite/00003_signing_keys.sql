-- Signing keys: the private key is sealed with the system secret (AES-256-GCM);
-- at most one active key per algorithm.
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
CREATE TABLE `signing_keys` (
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
-- Instances that start or rotate together cannot leave two active keys of one alg.
CREATE UNIQUE INDEX `signing_keys_active_alg_key` ON `signing_keys`(`alg`) WHERE state = 'active';

-- +goose Down
DROP TABLE `signing_keys`;
