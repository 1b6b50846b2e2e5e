-- Mail bodies at rest: the verification and reset links in queued mail must not
-- be readable in a database dump. sealed_body holds both bodies sealed with the
-- system secret (AES-256-GCM, bound to the row's id); text_body and html_body
-- stay empty for new rows. Rows queued before this version keep their plain
-- bodies and are still sent. Sent and failed rows need no body: clear those now.

-- +goose Up
ALTER TABLE mail_outbox ADD COLUMN sealed_body bytea;
UPDATE mail_outbox SET text_body = '', html_body = '' WHERE status <> 'pending';

-- +goose Down
ALTER TABLE mail_outbox DROP COLUMN sealed_body;
