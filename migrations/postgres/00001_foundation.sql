-- Users, browser sessions and accounts (user-to-client links).

-- +goose Up
CREATE TABLE users (
    id uuid NOT NULL,
    email text NOT NULL,
    email_verified boolean DEFAULT false NOT NULL,
    password_hash text DEFAULT '' NOT NULL,
    name text DEFAULT '' NOT NULL,
    given_name text DEFAULT '' NOT NULL,
    family_name text DEFAULT '' NOT NULL,
    picture text DEFAULT '' NOT NULL,
    locale text DEFAULT '' NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    failed_sign_ins bigint DEFAULT 0 NOT NULL,
    locked_until timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    -- E-mail is stored normalised, so the unique index below is case-insensitive.
    CONSTRAINT users_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id uuid NOT NULL,
    token_hash bytea NOT NULL,
    user_id uuid NOT NULL,
    auth_time timestamp with time zone NOT NULL,
    amr text DEFAULT '' NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    idle_expires_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    ip text DEFAULT '' NOT NULL,
    user_agent text DEFAULT '' NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE accounts (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    client_id text NOT NULL,
    granted_scopes text DEFAULT '' NOT NULL,
    consent_remembered boolean DEFAULT false NOT NULL,
    first_authorized_at timestamp with time zone NOT NULL,
    last_authorized_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT fk_accounts_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX accounts_user_client_key ON accounts (user_id, client_id);
CREATE INDEX accounts_client_id_idx ON accounts (client_id);

-- +goose Down
DROP TABLE accounts;
DROP TABLE sessions;
DROP TABLE users;
