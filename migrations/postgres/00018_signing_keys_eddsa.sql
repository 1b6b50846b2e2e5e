-- Signing keys may be Ed25519 (alg EdDSA, RFC 8037), for JWT access tokens.

-- +goose Up
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_alg;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_alg CHECK (alg IN ('RS256', 'ES256', 'EdDSA'));

-- +goose Down
DELETE FROM signing_keys WHERE alg = 'EdDSA';
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_alg;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_alg CHECK (alg IN ('RS256', 'ES256'));
