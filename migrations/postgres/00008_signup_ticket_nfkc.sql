-- Sign-up that does not tell whether an address is registered, and e-mail
-- addresses compared in Unicode NFKC:
--   user_tokens.browser_hash  on a verification token mailed at sign-up, the
--                             SHA-256 of the ticket the signing-up browser keeps
--                             in a cookie; opening the link there signs in
--   users.email               existing addresses rewritten in the form Gatehouse
--                             now stores (storage.NormalizeEmail: NFKC, lower
--                             case) where SQL can compute exactly that form

-- +goose Up
ALTER TABLE user_tokens ADD COLUMN browser_hash bytea;

-- Only addresses with a non-ASCII character can change (ASCII is NFKC already
-- and was stored lower-cased). normalize() needs a UTF8 database and
-- PostgreSQL 13; elsewhere nothing is rewritten. Rewritten are the addresses
-- whose NFKC form is ASCII, lower-cased byte by byte (COLLATE "C"), which is
-- exactly what Go's NormalizeEmail gives them; one whose NFKC form keeps
-- non-ASCII characters, or would collide with another user's address, stays as
-- it is (README: such users are found with the query there and fixed with
-- `gatehouse users update ID --email …`).
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' OR current_setting('server_version_num')::int < 130000 THEN
        RAISE NOTICE 'e-mail addresses not NFKC-normalised: normalize() needs a UTF8 database and PostgreSQL 13 or newer';
        RETURN;
    END IF;
    UPDATE users AS u SET email = c.normalized, updated_at = now()
    FROM (
        SELECT DISTINCT ON (normalized) id, normalized
        FROM (
            SELECT id, email, lower(normalize(email, NFKC) COLLATE "C") AS normalized
            FROM users
            WHERE email !~ '^[\x01-\x7f]*$'
        ) AS candidates
        WHERE normalized <> email AND normalized ~ '^[\x01-\x7f]*$'
        ORDER BY normalized, id
    ) AS c
    WHERE u.id = c.id
      AND NOT EXISTS (SELECT 1 FROM users AS o WHERE o.email = c.normalized);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Rewritten addresses stay rewritten: the old forms are the same addresses.
ALTER TABLE user_tokens DROP COLUMN browser_hash;
