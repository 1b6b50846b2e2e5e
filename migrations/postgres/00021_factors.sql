-- Second factors and passkeys (one credentials model), recovery codes, the
-- WebAuthn user handle, and each client's MFA policy.
--
-- user_factors holds one row per authenticator app (kind 'totp') or passkey
-- (kind 'webauthn'). A TOTP secret is sealed with the system secret, bound to
-- the row id. last_step is the last accepted RFC 6238 time step: a conditional
-- UPDATE ... WHERE last_step < $step refuses a replayed code on every instance.
-- confirmed_at is NULL while a TOTP enrolment waits for its first code.
-- credential_id is the WebAuthn credential id (NULLs do not collide), with its
-- COSE public key, AAGUID, signature counter and flags.
--
-- recovery_codes keeps the SHA-256 of each single-use recovery code.
--
-- users.webauthn_handle is the random user handle passkeys store instead of
-- anything personal; NULL until the user's first passkey.
--
-- clients.mfa_policy: '' follows the server setting; 'optional', 'required' or
-- 'if_enrolled' override it for the client.

-- +goose Up
CREATE TABLE user_factors (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    secret_sealed bytea,
    last_step bigint DEFAULT 0 NOT NULL,
    confirmed_at timestamp with time zone,
    credential_id bytea,
    public_key bytea,
    aaguid bytea,
    sign_count bigint DEFAULT 0 NOT NULL,
    backup_eligible boolean DEFAULT false NOT NULL,
    backup_state boolean DEFAULT false NOT NULL,
    user_verified boolean DEFAULT false NOT NULL,
    transports text DEFAULT '' NOT NULL,
    attestation_type text DEFAULT '' NOT NULL,
    last_used_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT user_factors_pkey PRIMARY KEY (id),
    CONSTRAINT fk_user_factors_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_factors_kind CHECK (kind IN ('totp', 'webauthn'))
);
CREATE INDEX user_factors_user_id_idx ON user_factors (user_id);
CREATE UNIQUE INDEX user_factors_credential_id_key ON user_factors (credential_id);

CREATE TABLE recovery_codes (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    code_hash bytea NOT NULL,
    used_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT recovery_codes_pkey PRIMARY KEY (id),
    CONSTRAINT fk_recovery_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);
CREATE UNIQUE INDEX recovery_codes_user_code_key ON recovery_codes (user_id, code_hash);

ALTER TABLE users ADD COLUMN webauthn_handle bytea;
CREATE UNIQUE INDEX users_webauthn_handle_key ON users (webauthn_handle);

ALTER TABLE clients ADD COLUMN mfa_policy text DEFAULT '' NOT NULL;

-- +goose Down
ALTER TABLE clients DROP COLUMN mfa_policy;
DROP INDEX users_webauthn_handle_key;
ALTER TABLE users DROP COLUMN webauthn_handle;
DROP TABLE recovery_codes;
DROP TABLE user_factors;
