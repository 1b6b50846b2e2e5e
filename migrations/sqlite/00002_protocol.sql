-- Clients and fosite's protocol records. Tokens are stored only as their signatures;
-- form and session columns are sealed with the system secret (AES-256-GCM).
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
-- Registered applications; secret_hash is a keyed hash of the secret.
CREATE TABLE `clients` (
    `id` text,
    `name` text NOT NULL DEFAULT "",
    `secret_hash` text NOT NULL DEFAULT "",
    `redirect_uris` text NOT NULL,
    `post_logout_redirect_uris` text NOT NULL,
    `grant_types` text NOT NULL,
    `response_types` text NOT NULL,
    `response_modes` text NOT NULL,
    `scopes` text NOT NULL,
    `audience` text NOT NULL,
    `token_endpoint_auth_method` text NOT NULL DEFAULT "client_secret_basic",
    `token_endpoint_auth_signing_alg` text NOT NULL DEFAULT "",
    `public` numeric NOT NULL DEFAULT false,
    `application_type` text NOT NULL DEFAULT "web",
    `jwks` text NOT NULL DEFAULT "",
    `jwks_uri` text NOT NULL DEFAULT "",
    `id_token_signed_response_alg` text NOT NULL DEFAULT "",
    `access_token_format` text NOT NULL DEFAULT "",
    `access_token_lifespan` integer NOT NULL DEFAULT 0,
    `refresh_token_lifespan` integer NOT NULL DEFAULT 0,
    `id_token_lifespan` integer NOT NULL DEFAULT 0,
    `authorization_code_lifespan` integer NOT NULL DEFAULT 0,
    `always_issue_refresh_token` numeric NOT NULL DEFAULT false,
    `first_party` numeric NOT NULL DEFAULT false,
    `client_uri` text NOT NULL DEFAULT "",
    `logo_uri` text NOT NULL DEFAULT "",
    `policy_uri` text NOT NULL DEFAULT "",
    `tos_uri` text NOT NULL DEFAULT "",
    `created_at` datetime NOT NULL,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`)
);

-- Authorization codes, keyed by the code's signature; active is false once redeemed.
CREATE TABLE `authorization_codes` (
    `signature` text,
    `request_id` text NOT NULL,
    `requested_at` datetime NOT NULL,
    `client_id` text NOT NULL,
    `subject` text NOT NULL DEFAULT "",
    `requested_scopes` text NOT NULL,
    `granted_scopes` text NOT NULL,
    `requested_audience` text NOT NULL,
    `granted_audience` text NOT NULL,
    `active` numeric NOT NULL DEFAULT true,
    `expires_at` datetime NOT NULL,
    `form` blob NOT NULL,
    `session` blob NOT NULL,
    PRIMARY KEY (`signature`),
    CONSTRAINT `fk_authorization_codes_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `authorization_codes_request_id_idx` ON `authorization_codes`(`request_id`);
CREATE INDEX `authorization_codes_client_id_idx` ON `authorization_codes`(`client_id`);
CREATE INDEX `authorization_codes_subject_idx` ON `authorization_codes`(`subject`);
CREATE INDEX `authorization_codes_expires_at_idx` ON `authorization_codes`(`expires_at`);

-- Access tokens, keyed by the token's signature.
CREATE TABLE `access_tokens` (
    `signature` text,
    `request_id` text NOT NULL,
    `requested_at` datetime NOT NULL,
    `client_id` text NOT NULL,
    `subject` text NOT NULL DEFAULT "",
    `requested_scopes` text NOT NULL,
    `granted_scopes` text NOT NULL,
    `requested_audience` text NOT NULL,
    `granted_audience` text NOT NULL,
    `active` numeric NOT NULL DEFAULT true,
    `expires_at` datetime NOT NULL,
    `form` blob NOT NULL,
    `session` blob NOT NULL,
    PRIMARY KEY (`signature`),
    CONSTRAINT `fk_access_tokens_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `access_tokens_request_id_idx` ON `access_tokens`(`request_id`);
CREATE INDEX `access_tokens_client_id_idx` ON `access_tokens`(`client_id`);
CREATE INDEX `access_tokens_subject_idx` ON `access_tokens`(`subject`);
CREATE INDEX `access_tokens_expires_at_idx` ON `access_tokens`(`expires_at`);

-- Refresh tokens, keyed by the token's signature; rotated_at is set on first use.
CREATE TABLE `refresh_tokens` (
    `signature` text,
    `request_id` text NOT NULL,
    `requested_at` datetime NOT NULL,
    `client_id` text NOT NULL,
    `subject` text NOT NULL DEFAULT "",
    `requested_scopes` text NOT NULL,
    `granted_scopes` text NOT NULL,
    `requested_audience` text NOT NULL,
    `granted_audience` text NOT NULL,
    `active` numeric NOT NULL DEFAULT true,
    `expires_at` datetime NOT NULL,
    `form` blob NOT NULL,
    `session` blob NOT NULL,
    `access_token_signature` text NOT NULL DEFAULT "",
    `rotated_at` datetime,
    PRIMARY KEY (`signature`),
    CONSTRAINT `fk_refresh_tokens_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `refresh_tokens_request_id_idx` ON `refresh_tokens`(`request_id`);
CREATE INDEX `refresh_tokens_client_id_idx` ON `refresh_tokens`(`client_id`);
CREATE INDEX `refresh_tokens_subject_idx` ON `refresh_tokens`(`subject`);
CREATE INDEX `refresh_tokens_expires_at_idx` ON `refresh_tokens`(`expires_at`);

-- PKCE requests, keyed by the authorization code's signature.
CREATE TABLE `pkce_requests` (
    `signature` text,
    `request_id` text NOT NULL,
    `requested_at` datetime NOT NULL,
    `client_id` text NOT NULL,
    `subject` text NOT NULL DEFAULT "",
    `requested_scopes` text NOT NULL,
    `granted_scopes` text NOT NULL,
    `requested_audience` text NOT NULL,
    `granted_audience` text NOT NULL,
    `active` numeric NOT NULL DEFAULT true,
    `expires_at` datetime NOT NULL,
    `form` blob NOT NULL,
    `session` blob NOT NULL,
    PRIMARY KEY (`signature`),
    CONSTRAINT `fk_pkce_requests_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `pkce_requests_request_id_idx` ON `pkce_requests`(`request_id`);
CREATE INDEX `pkce_requests_client_id_idx` ON `pkce_requests`(`client_id`);
CREATE INDEX `pkce_requests_subject_idx` ON `pkce_requests`(`subject`);
CREATE INDEX `pkce_requests_expires_at_idx` ON `pkce_requests`(`expires_at`);

-- OpenID Connect requests, keyed by the SHA-256 of the authorization code (never the code).
CREATE TABLE `oidc_requests` (
    `signature` text,
    `request_id` text NOT NULL,
    `requested_at` datetime NOT NULL,
    `client_id` text NOT NULL,
    `subject` text NOT NULL DEFAULT "",
    `requested_scopes` text NOT NULL,
    `granted_scopes` text NOT NULL,
    `requested_audience` text NOT NULL,
    `granted_audience` text NOT NULL,
    `active` numeric NOT NULL DEFAULT true,
    `expires_at` datetime NOT NULL,
    `form` blob NOT NULL,
    `session` blob NOT NULL,
    PRIMARY KEY (`signature`),
    CONSTRAINT `fk_oidc_requests_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `oidc_requests_request_id_idx` ON `oidc_requests`(`request_id`);
CREATE INDEX `oidc_requests_client_id_idx` ON `oidc_requests`(`client_id`);
CREATE INDEX `oidc_requests_subject_idx` ON `oidc_requests`(`subject`);
CREATE INDEX `oidc_requests_expires_at_idx` ON `oidc_requests`(`expires_at`);

-- Pushed authorization requests (RFC 9126), keyed by the SHA-256 of the request_uri.
CREATE TABLE `par_requests` (
    `signature` text,
    `request_id` text NOT NULL,
    `requested_at` datetime NOT NULL,
    `client_id` text NOT NULL,
    `subject` text NOT NULL DEFAULT "",
    `requested_scopes` text NOT NULL,
    `granted_scopes` text NOT NULL,
    `requested_audience` text NOT NULL,
    `granted_audience` text NOT NULL,
    `active` numeric NOT NULL DEFAULT true,
    `expires_at` datetime NOT NULL,
    `form` blob NOT NULL,
    `session` blob NOT NULL,
    `response_types` text NOT NULL,
    `handled_response_types` text NOT NULL,
    `redirect_uri` text NOT NULL DEFAULT "",
    `state` text NOT NULL DEFAULT "",
    `response_mode` text NOT NULL DEFAULT "",
    `default_response_mode` text NOT NULL DEFAULT "",
    PRIMARY KEY (`signature`),
    CONSTRAINT `fk_par_requests_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `par_requests_request_id_idx` ON `par_requests`(`request_id`);
CREATE INDEX `par_requests_client_id_idx` ON `par_requests`(`client_id`);
CREATE INDEX `par_requests_subject_idx` ON `par_requests`(`subject`);
CREATE INDEX `par_requests_expires_at_idx` ON `par_requests`(`expires_at`);

-- JTIs of private_key_jwt client assertions (SHA-256 of the jti), kept until the
-- assertion expires so it cannot be replayed.
CREATE TABLE `client_assertion_jtis` (
    `signature` text,
    `expires_at` datetime NOT NULL,
    PRIMARY KEY (`signature`)
);
CREATE INDEX `client_assertion_jtis_expires_at_idx` ON `client_assertion_jtis`(`expires_at`);

-- +goose Down
DROP TABLE `client_assertion_jtis`;
DROP TABLE `par_requests`;
DROP TABLE `oidc_requests`;
DROP TABLE `pkce_requests`;
DROP TABLE `refresh_tokens`;
DROP TABLE `access_tokens`;
DROP TABLE `authorization_codes`;
DROP TABLE `clients`;
