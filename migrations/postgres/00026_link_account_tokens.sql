-- Proving an existing account by a mailed link before an upstream identity
-- is linked to it (internal/federation): user_tokens may now hold
-- link_account tokens, single-use and short-lived like the others, whose
-- browser_hash binds them to the pending link of the browser that asked.

-- +goose Up
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose CHECK (purpose IN ('verify_email', 'reset_password', 'link_account'));

-- +goose Down
DELETE FROM user_tokens WHERE purpose = 'link_account';
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose CHECK (purpose IN ('verify_email', 'reset_password'));
