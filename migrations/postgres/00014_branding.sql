-- Branding set at run time through the admin API (PUT /admin/branding): one
-- row at most. A NULL column is not set, so the configured value (branding.* in
-- the configuration) applies; what this row sets wins over the configuration.
-- Every instance reloads it when a change is announced (NOTIFY
-- gatehouse_branding).

-- +goose Up
CREATE TABLE branding (
    id bigint NOT NULL,
    product_name text,
    logo_url text,
    favicon_url text,
    primary_color text,
    support_url text,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT branding_pkey PRIMARY KEY (id),
    CONSTRAINT branding_one_row CHECK (id = 1)
);

-- +goose Down
DROP TABLE branding;
