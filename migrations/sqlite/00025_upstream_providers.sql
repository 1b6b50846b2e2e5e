-- Upstream identity providers added at run time through the admin API (see
-- the PostgreSQL twin for every column's meaning); the client secret is sealed
-- with the system secret. Column types are the ones GORM's SQLite dialect
-- derives from the models. No comments inside CREATE TABLE: GORM's SQLite
-- migrator parses it.

-- +goose Up
CREATE TABLE `upstream_providers` (
    `id` text,
    `kind` text NOT NULL,
    `name` text NOT NULL DEFAULT "",
    `issuer` text NOT NULL DEFAULT "",
    `tenant` text NOT NULL DEFAULT "",
    `client_id` text NOT NULL,
    `client_secret_sealed` blob NOT NULL,
    `scopes` text NOT NULL,
    `claim_subject` text NOT NULL DEFAULT "",
    `claim_email` text NOT NULL DEFAULT "",
    `claim_email_verified` text NOT NULL DEFAULT "",
    `claim_name` text NOT NULL DEFAULT "",
    `claim_picture` text NOT NULL DEFAULT "",
    `style` text NOT NULL DEFAULT "",
    `logo_url` text NOT NULL DEFAULT "",
    `allowed_domains` text NOT NULL,
    `link_only` numeric NOT NULL DEFAULT false,
    `trust_mfa` numeric NOT NULL DEFAULT false,
    `store_tokens` numeric NOT NULL DEFAULT false,
    `auth_url` text NOT NULL DEFAULT "",
    `token_url` text NOT NULL DEFAULT "",
    `api_url` text NOT NULL DEFAULT "",
    `position` integer NOT NULL DEFAULT 0,
    `created_at` datetime NOT NULL,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`)
);

-- +goose Down
DROP TABLE `upstream_providers`;
