-- Mail bodies at rest (see the PostgreSQL twin): sealed_body holds both bodies
-- sealed with the system secret; sent and failed rows lose their bodies.
-- Column types are the ones GORM's SQLite dialect derives from the models.

-- +goose Up
ALTER TABLE `mail_outbox` ADD `sealed_body` blob;
UPDATE `mail_outbox` SET `text_body` = '', `html_body` = '' WHERE `status` <> 'pending';

-- +goose Down
ALTER TABLE `mail_outbox` DROP COLUMN `sealed_body`;
