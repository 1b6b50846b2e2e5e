-- Single-use e-mail verification and password reset tokens (stored as SHA-256),
-- and the sign-in failure counters shared by every instance.

-- +goose Up
CREATE TABLE user_tokens (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    purpose text NOT NULL,
    token_hash bytea NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT user_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT fk_user_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_tokens_purpose CHECK (purpose IN ('verify_email', 'reset_password'))
);
CREATE UNIQUE INDEX user_tokens_token_hash_key ON user_tokens (token_hash);
CREATE INDEX user_tokens_user_purpose_idx ON user_tokens (user_id, purpose);
CREATE INDEX user_tokens_expires_at_idx ON user_tokens (expires_at);

-- One row per throttled key ("account:<user id>", "ip:<address>", …).
CREATE TABLE sign_in_throttle (
    key text NOT NULL,
    failures bigint DEFAULT 0 NOT NULL,
    window_started_at timestamp with time zone NOT NULL,
    locked_until timestamp with time zone,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT sign_in_throttle_pkey PRIMARY KEY (key)
);
CREATE INDEX sign_in_throttle_window_started_at_idx ON sign_in_throttle (window_started_at);

-- +goose Down
DROP TABLE sign_in_throttle;
DROP TABLE user_tokens;
