-- Sign-in through upstream identity providers (internal/federation). An
-- external identity now remembers the address the provider last gave
-- (email), when it was last used to sign in (last_sign_in_at), and, only when
-- the operator asks a provider's tokens to be kept, the upstream access and
-- refresh tokens sealed with the system secret and bound to the row's id
-- (sealed_tokens).

-- +goose Up
ALTER TABLE external_identities ADD COLUMN email text DEFAULT '' NOT NULL;
ALTER TABLE external_identities ADD COLUMN last_sign_in_at timestamp with time zone;
ALTER TABLE external_identities ADD COLUMN sealed_tokens bytea;

-- +goose Down
ALTER TABLE external_identities DROP COLUMN sealed_tokens;
ALTER TABLE external_identities DROP COLUMN last_sign_in_at;
ALTER TABLE external_identities DROP COLUMN email;
