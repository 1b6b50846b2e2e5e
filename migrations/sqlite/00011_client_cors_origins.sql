-- The origins each client allows its browser code to call the token, userinfo
-- and revocation endpoints from, indexed for CORS preflights; and no secret hash
-- for private_key_jwt and none clients (see the PostgreSQL twin).
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
CREATE TABLE `client_cors_origins` (
    `origin` text,
    `client_id` text,
    PRIMARY KEY (`origin`, `client_id`),
    CONSTRAINT `fk_client_cors_origins_client` FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON DELETE CASCADE
);
CREATE INDEX `client_cors_origins_client_id_idx` ON `client_cors_origins`(`client_id`);

-- Existing clients: the origin of each http(s) redirect URI is its text up to the
-- first '/', '?' or '#' after "://", in lower case, without a default port.
INSERT OR IGNORE INTO `client_cors_origins` (`origin`, `client_id`)
WITH u AS (
    SELECT c.`id` AS client_id, lower(j.value) AS v
    FROM `clients` c, json_each(c.`redirect_uris`) j
    WHERE lower(j.value) LIKE 'http://%' OR lower(j.value) LIKE 'https://%'
), r AS (
    SELECT client_id, substr(v, 1, instr(v, '://') + 2) AS scheme, substr(v, instr(v, '://') + 3) || '/' AS rest FROM u
), a AS (
    SELECT client_id, scheme, substr(rest, 1, instr(rest, '/') - 1) || '?' AS auth FROM r
), b AS (
    SELECT client_id, scheme, substr(auth, 1, instr(auth, '?') - 1) || '#' AS auth FROM a
), o AS (
    SELECT client_id, scheme || substr(auth, 1, instr(auth, '#') - 1) AS origin FROM b
)
SELECT DISTINCT CASE
        WHEN origin LIKE 'https://%:443' THEN substr(origin, 1, length(origin) - 4)
        WHEN origin LIKE 'http://%:80' THEN substr(origin, 1, length(origin) - 3)
        ELSE origin END, client_id
FROM o WHERE origin NOT LIKE '%://' AND origin NOT LIKE '%@%'
UNION
SELECT DISTINCT j.value, c.`id` FROM `clients` c, json_each(c.`allowed_cors_origins`) j;

UPDATE `clients` SET `secret_hash` = '' WHERE `token_endpoint_auth_method` IN ('private_key_jwt', 'none') AND `secret_hash` <> '';

-- +goose Down
DROP TABLE `client_cors_origins`;
