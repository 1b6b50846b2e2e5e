-- Clients and fosite's protocol records. Tokens are stored only as their signatures;
-- form and session columns are sealed with the system secret (AES-256-GCM).

-- +goose Up
-- Registered applications; secret_hash is a keyed hash of the secret.
CREATE TABLE clients (
    id text NOT NULL,
    name text DEFAULT '' NOT NULL,
    secret_hash text DEFAULT '' NOT NULL,
    redirect_uris text NOT NULL,
    post_logout_redirect_uris text NOT NULL,
    grant_types text NOT NULL,
    response_types text NOT NULL,
    response_modes text NOT NULL,
    scopes text NOT NULL,
    audience text NOT NULL,
    token_endpoint_auth_method text DEFAULT 'client_secret_basic' NOT NULL,
    token_endpoint_auth_signing_alg text DEFAULT '' NOT NULL,
    public boolean DEFAULT false NOT NULL,
    application_type text DEFAULT 'web' NOT NULL,
    jwks text DEFAULT '' NOT NULL,
    jwks_uri text DEFAULT '' NOT NULL,
    id_token_signed_response_alg text DEFAULT '' NOT NULL,
    access_token_format text DEFAULT '' NOT NULL,
    access_token_lifespan bigint DEFAULT 0 NOT NULL,
    refresh_token_lifespan bigint DEFAULT 0 NOT NULL,
    id_token_lifespan bigint DEFAULT 0 NOT NULL,
    authorization_code_lifespan bigint DEFAULT 0 NOT NULL,
    always_issue_refresh_token boolean DEFAULT false NOT NULL,
    first_party boolean DEFAULT false NOT NULL,
    client_uri text DEFAULT '' NOT NULL,
    logo_uri text DEFAULT '' NOT NULL,
    policy_uri text DEFAULT '' NOT NULL,
    tos_uri text DEFAULT '' NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT clients_pkey PRIMARY KEY (id)
);

-- Authorization codes, keyed by the code's signature; active is false once redeemed.
CREATE TABLE authorization_codes (
    signature text NOT NULL,
    request_id text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id text NOT NULL,
    subject text DEFAULT '' NOT NULL,
    requested_scopes text NOT NULL,
    granted_scopes text NOT NULL,
    requested_audience text NOT NULL,
    granted_audience text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    form bytea NOT NULL,
    session bytea NOT NULL,
    CONSTRAINT authorization_codes_pkey PRIMARY KEY (signature),
    CONSTRAINT fk_authorization_codes_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX authorization_codes_request_id_idx ON authorization_codes (request_id);
CREATE INDEX authorization_codes_client_id_idx ON authorization_codes (client_id);
CREATE INDEX authorization_codes_subject_idx ON authorization_codes (subject);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

-- Access tokens, keyed by the token's signature.
CREATE TABLE access_tokens (
    signature text NOT NULL,
    request_id text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id text NOT NULL,
    subject text DEFAULT '' NOT NULL,
    requested_scopes text NOT NULL,
    granted_scopes text NOT NULL,
    requested_audience text NOT NULL,
    granted_audience text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    form bytea NOT NULL,
    session bytea NOT NULL,
    CONSTRAINT access_tokens_pkey PRIMARY KEY (signature),
    CONSTRAINT fk_access_tokens_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_request_id_idx ON access_tokens (request_id);
CREATE INDEX access_tokens_client_id_idx ON access_tokens (client_id);
CREATE INDEX access_tokens_subject_idx ON access_tokens (subject);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);

-- Refresh tokens, keyed by the token's signature; rotated_at is set on first use.
CREATE TABLE refresh_tokens (
    signature text NOT NULL,
    request_id text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id text NOT NULL,
    subject text DEFAULT '' NOT NULL,
    requested_scopes text NOT NULL,
    granted_scopes text NOT NULL,
    requested_audience text NOT NULL,
    granted_audience text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    form bytea NOT NULL,
    session bytea NOT NULL,
    access_token_signature text DEFAULT '' NOT NULL,
    rotated_at timestamp with time zone,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (signature),
    CONSTRAINT fk_refresh_tokens_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_request_id_idx ON refresh_tokens (request_id);
CREATE INDEX refresh_tokens_client_id_idx ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_subject_idx ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- PKCE requests, keyed by the authorization code's signature.
CREATE TABLE pkce_requests (
    signature text NOT NULL,
    request_id text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id text NOT NULL,
    subject text DEFAULT '' NOT NULL,
    requested_scopes text NOT NULL,
    granted_scopes text NOT NULL,
    requested_audience text NOT NULL,
    granted_audience text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    form bytea NOT NULL,
    session bytea NOT NULL,
    CONSTRAINT pkce_requests_pkey PRIMARY KEY (signature),
    CONSTRAINT fk_pkce_requests_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX pkce_requests_request_id_idx ON pkce_requests (request_id);
CREATE INDEX pkce_requests_client_id_idx ON pkce_requests (client_id);
CREATE INDEX pkce_requests_subject_idx ON pkce_requests (subject);
CREATE INDEX pkce_requests_expires_at_idx ON pkce_requests (expires_at);

-- OpenID Connect requests, keyed by the SHA-256 of the authorization code (never the code).
CREATE TABLE oidc_requests (
    signature text NOT NULL,
    request_id text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id text NOT NULL,
    subject text DEFAULT '' NOT NULL,
    requested_scopes text NOT NULL,
    granted_scopes text NOT NULL,
    requested_audience text NOT NULL,
    granted_audience text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    form bytea NOT NULL,
    session bytea NOT NULL,
    CONSTRAINT oidc_requests_pkey PRIMARY KEY (signature),
    CONSTRAINT fk_oidc_requests_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX oidc_requests_request_id_idx ON oidc_requests (request_id);
CREATE INDEX oidc_requests_client_id_idx ON oidc_requests (client_id);
CREATE INDEX oidc_requests_subject_idx ON oidc_requests (subject);
CREATE INDEX oidc_requests_expires_at_idx ON oidc_requests (expires_at);

-- Pushed authorization requests (RFC 9126), keyed by the SHA-256 of the request_uri.
CREATE TABLE par_requests (
    signature text NOT NULL,
    request_id text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id text NOT NULL,
    subject text DEFAULT '' NOT NULL,
    requested_scopes text NOT NULL,
    granted_scopes text NOT NULL,
    requested_audience text NOT NULL,
    granted_audience text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    form bytea NOT NULL,
    session bytea NOT NULL,
    response_types text NOT NULL,
    handled_response_types text NOT NULL,
    redirect_uri text DEFAULT '' NOT NULL,
    state text DEFAULT '' NOT NULL,
    response_mode text DEFAULT '' NOT NULL,
    default_response_mode text DEFAULT '' NOT NULL,
    CONSTRAINT par_requests_pkey PRIMARY KEY (signature),
    CONSTRAINT fk_par_requests_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX par_requests_request_id_idx ON par_requests (request_id);
CREATE INDEX par_requests_client_id_idx ON par_requests (client_id);
CREATE INDEX par_requests_subject_idx ON par_requests (subject);
CREATE INDEX par_requests_expires_at_idx ON par_requests (expires_at);

-- JTIs of private_key_jwt client assertions (SHA-256 of the jti), kept until the
-- assertion expires so it cannot be replayed.
CREATE TABLE client_assertion_jtis (
    signature text NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT client_assertion_jtis_pkey PRIMARY KEY (signature)
);
CREATE INDEX client_assertion_jtis_expires_at_idx ON client_assertion_jtis (expires_at);

-- +goose Down
DROP TABLE client_assertion_jtis;
DROP TABLE par_requests;
DROP TABLE oidc_requests;
DROP TABLE pkce_requests;
DROP TABLE refresh_tokens;
DROP TABLE access_tokens;
DROP TABLE authorization_codes;
DROP TABLE clients;
