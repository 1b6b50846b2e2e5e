-- Client settings for browser apps, resource servers and relying parties that
-- read only the ID token:
--   allowed_cors_origins  origins (besides those of the redirect URIs) whose
--                         browser code may call the token, userinfo and
--                         revocation endpoints
--   resource_server       the client may introspect tokens issued to any client
--   claims_in_id_token    the granted profile and email claims go in the ID token
--                         as well as userinfo

-- +goose Up
ALTER TABLE clients ADD COLUMN allowed_cors_origins text DEFAULT '[]' NOT NULL;
ALTER TABLE clients ADD COLUMN resource_server boolean DEFAULT false NOT NULL;
ALTER TABLE clients ADD COLUMN claims_in_id_token boolean DEFAULT false NOT NULL;

-- +goose Down
ALTER TABLE clients DROP COLUMN claims_in_id_token;
ALTER TABLE clients DROP COLUMN resource_server;
ALTER TABLE clients DROP COLUMN allowed_cors_origins;
