-- The origins each client allows its browser code to call the token, userinfo
-- and revocation endpoints from (the origins of its http(s) redirect URIs and its
-- allowed_cors_origins), indexed so that a CORS preflight, which names no client,
-- costs one index lookup. The store rewrites a client's rows with every write of
-- the client. Existing clients are indexed here the way the store does it
-- (storage.Origin): scheme and host in lower case, default port dropped.
--
-- Clients that authenticate with private_key_jwt or none have no use for a
-- secret: a hash stored for one is dropped.

-- +goose Up
CREATE TABLE client_cors_origins (
    origin text NOT NULL,
    client_id text NOT NULL,
    CONSTRAINT client_cors_origins_pkey PRIMARY KEY (origin, client_id),
    CONSTRAINT fk_client_cors_origins_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX client_cors_origins_client_id_idx ON client_cors_origins (client_id);

INSERT INTO client_cors_origins (origin, client_id)
SELECT DISTINCT regexp_replace(lower(substring(u FROM '^[A-Za-z]+://[^/?#]+')), '^(https://[^/]+):443$|^(http://[^/]+):80$', '\1\2'), c.id
FROM clients c, json_array_elements_text(c.redirect_uris::json) AS u
WHERE u ~* '^https?://[^/?#@]+'
UNION
SELECT DISTINCT o, c.id
FROM clients c, json_array_elements_text(c.allowed_cors_origins::json) AS o
ON CONFLICT DO NOTHING;

UPDATE clients SET secret_hash = '' WHERE token_endpoint_auth_method IN ('private_key_jwt', 'none') AND secret_hash <> '';

-- +goose Down
DROP TABLE client_cors_origins;
