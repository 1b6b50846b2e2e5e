-- Single-use e-mail verification and password reset tokens (stored as SHA-256),
-- and the sign-in failure counters shared by every instance.
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
CREATE TABLE `user_tokens` (
    `id` uuid,
    `user_id` uuid NOT NULL,
    `purpose` text NOT NULL,
    `token_hash` blob NOT NULL,
    `expires_at` datetime NOT NULL,
    `used_at` datetime,
    `created_at` datetime NOT NULL,
    PRIMARY KEY (`id`),
    CONSTRAINT `fk_user_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE,
    CONSTRAINT `user_tokens_purpose` CHECK (purpose IN ('verify_email', 'reset_password'))
);
CREATE UNIQUE INDEX `user_tokens_token_hash_key` ON `user_tokens`(`token_hash`);
CREATE INDEX `user_tokens_user_purpose_idx` ON `user_tokens`(`user_id`,`purpose`);
CREATE INDEX `user_tokens_expires_at_idx` ON `user_tokens`(`expires_at`);

-- One row per throttled key ("account:<user id>", "ip:<address>", …).
CREATE TABLE `sign_in_throttle` (
    `key` text,
    `failures` integer NOT NULL DEFAULT 0,
    `window_started_at` datetime NOT NULL,
    `locked_until` datetime,
    `updated_at` datetime NOT NULL,
    PRIMARY KEY (`key`)
);
CREATE INDEX `sign_in_throttle_window_started_at_idx` ON `sign_in_throttle`(`window_started_at`);

-- +goose Down
DROP TABLE `sign_in_throttle`;
DROP TABLE `user_tokens`;
