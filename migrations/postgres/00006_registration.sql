-- Dynamic Client Registration (RFC 7591, RFC 7592): a dynamically registered client
-- keeps the keyed hash of its registration access token, never the token.

-- +goose Up
ALTER TABLE clients ADD COLUMN registration_token_hash text DEFAULT '' NOT NULL;

-- +goose Down
ALTER TABLE clients DROP COLUMN registration_token_hash;
