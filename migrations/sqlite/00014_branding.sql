-- Branding set at run time through the admin API: one row at most, a NULL
-- column meaning "not set, the configuration applies" (see the PostgreSQL twin).
-- Column types are the ones GORM's SQLite dialect derives from the models. No
-- comments inside CREATE TABLE: GORM's SQLite migrator parses it.

-- +goose Up
CREATE TABLE `branding` (
    `id` integer,
    `product_name` text,
    `logo_url` text,
    `favicon_url` text,
    `primary_color` text,
    `support_url` text,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `branding_one_row` CHECK (id = 1)
);

-- +goose Down
DROP TABLE `branding`;
