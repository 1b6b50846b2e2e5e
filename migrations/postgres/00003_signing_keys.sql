-- Signing keys: the private key is sealed with the system secret (AES-256-GCM);
-- at most one active key per algorithm.

-- +goose Up
CREATE TABLE signing_keys (
    kid text NOT NULL,
    alg text NOT NULL,
    use text DEFAULT 'sig' NOT NULL,
    private_key bytea NOT NULL,
    public_jwk text NOT NULL,
    state text NOT NULL,
    activated_at timestamp with time zone NOT NULL,
    retired_at timestamp with time zone,
    publish_until timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (kid),
    CONSTRAINT signing_keys_alg CHECK (alg IN ('RS256', 'ES256')),
    CONSTRAINT signing_keys_state CHECK (state IN ('active', 'retired'))
);
-- Instances that start or rotate together cannot leave two active keys of one alg.
CREATE UNIQUE INDEX signing_keys_active_alg_key ON signing_keys (alg) WHERE state = 'active';

-- +goose Down
DROP TABLE signing_keys;
