-- The mail outbox: mail is written here, in the transaction of whatever caused
-- it, and sent by a worker with retries, so an SMTP outage loses nothing.
-- Column types are the ones GORM's SQLite dialect derives from the models.
-- last_error holds the last send error, never the body (it carries one-time
-- links). No comments inside CREATE TABLE: GORM's SQLite migrator parses it.

-- +goose Up
CREATE TABLE `mail_outbox` (
    `id` uuid,
    `to_address` text NOT NULL,
    `subject` text NOT NULL,
    `text_body` text NOT NULL,
    `html_body` text NOT NULL DEFAULT "",
    `status` text NOT NULL DEFAULT "pending",
    `attempts` integer NOT NULL DEFAULT 0,
    `next_attempt_at` datetime NOT NULL,
    `locked_until` datetime,
    `last_error` text NOT NULL DEFAULT "",
    `created_at` datetime NOT NULL,
    `sent_at` datetime,
    PRIMARY KEY (`id`),
    CONSTRAINT `mail_outbox_status` CHECK (status IN ('pending', 'sent', 'failed'))
);
-- Workers claim due messages: status = 'pending' AND next_attempt_at <= now.
CREATE INDEX `mail_outbox_due_idx` ON `mail_outbox`(`status`,`next_attempt_at`);
-- Clean-up deletes sent messages by age.
CREATE INDEX `mail_outbox_sent_at_idx` ON `mail_outbox`(`sent_at`);

-- +goose Down
DROP TABLE `mail_outbox`;
