-- What `gatehouse import` brings from another system. imported_users maps a
-- user's id in the source ("better-auth") to the Gatehouse user it became, so
-- that applications can translate ids they stored; the admin API serves it
-- read-only. external_identities keeps a user's accounts at upstream identity
-- providers (GitHub, Google, …), one row per provider and the provider's
-- account id, for federation to link later.

-- +goose Up
CREATE TABLE imported_users (
    source text NOT NULL,
    external_id text NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT imported_users_pkey PRIMARY KEY (source, external_id),
    CONSTRAINT fk_imported_users_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX imported_users_user_id_idx ON imported_users (user_id);

CREATE TABLE external_identities (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    provider text NOT NULL,
    account_id text NOT NULL,
    source text DEFAULT '' NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT external_identities_pkey PRIMARY KEY (id),
    CONSTRAINT fk_external_identities_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX external_identities_provider_account_key ON external_identities (provider, account_id);
CREATE INDEX external_identities_user_id_idx ON external_identities (user_id);

-- +goose Down
DROP TABLE external_identities;
DROP TABLE imported_users;
