-- Proving an existing account by a mailed link before an upstream identity
-- is linked to it (internal/federation): user_tokens may now hold
-- link_account tokens, single-use and short-lived like the others, whose
-- browser_hash binds them to the pending link of the browser that asked. An
-- external identity keeps the acr the provider's ID token named at its last
-- sign-in (last_acr, '' for none).

-- +goose Up
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose CHECK (purpose IN ('verify_email', 'reset_password', 'link_account'));
ALTER TABLE external_identities ADD COLUMN last_acr text DEFAULT '' NOT NULL;

-- +goose Down
ALTER TABLE external_identities DROP COLUMN last_acr;
DELETE FROM user_tokens WHERE purpose = 'link_account';
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose CHECK (purpose IN ('verify_email', 'reset_password'));
