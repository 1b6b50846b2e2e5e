-- Sign-up that does not tell whether an address is registered (see the
-- PostgreSQL twin). SQLite has no Unicode normalisation, so existing e-mail
-- addresses are not rewritten in NFKC here (README: E-mail addresses).
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
ALTER TABLE `user_tokens` ADD `browser_hash` blob;

-- +goose Down
ALTER TABLE `user_tokens` DROP COLUMN `browser_hash`;
