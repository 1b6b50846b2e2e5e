-- Upstream identity providers added at run time through the admin API
-- (/admin/providers); the configuration file's providers are not stored. The
-- columns are internal/federation's ProviderConfig: kind (oidc, google,
-- microsoft, gitlab, github), the button's name, style and logo, the issuer
-- (or Microsoft's tenant), the registration (client_id, and the client secret
-- sealed with the system secret and bound to the row's id), the scopes and
-- allowed domains (JSON arrays), the claim mapping (empty: the standard
-- claim), link_only, trust_mfa, store_tokens and GitHub's endpoints.
-- position orders the buttons after the configured ones. Every instance
-- reloads the list when a change is announced (NOTIFY gatehouse_providers).
-- Removing a row leaves the external identities made through it in place.

-- +goose Up
CREATE TABLE upstream_providers (
    id text NOT NULL,
    kind text NOT NULL,
    name text DEFAULT '' NOT NULL,
    issuer text DEFAULT '' NOT NULL,
    tenant text DEFAULT '' NOT NULL,
    client_id text NOT NULL,
    client_secret_sealed bytea NOT NULL,
    scopes text NOT NULL,
    claim_subject text DEFAULT '' NOT NULL,
    claim_email text DEFAULT '' NOT NULL,
    claim_email_verified text DEFAULT '' NOT NULL,
    claim_name text DEFAULT '' NOT NULL,
    claim_picture text DEFAULT '' NOT NULL,
    style text DEFAULT '' NOT NULL,
    logo_url text DEFAULT '' NOT NULL,
    allowed_domains text NOT NULL,
    link_only boolean DEFAULT false NOT NULL,
    trust_mfa boolean DEFAULT false NOT NULL,
    store_tokens boolean DEFAULT false NOT NULL,
    auth_url text DEFAULT '' NOT NULL,
    token_url text DEFAULT '' NOT NULL,
    api_url text DEFAULT '' NOT NULL,
    position bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT upstream_providers_pkey PRIMARY KEY (id)
);

-- +goose Down
DROP TABLE upstream_providers;
