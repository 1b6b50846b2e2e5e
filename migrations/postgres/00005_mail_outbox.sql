-- The mail outbox: mail is written here, in the transaction of whatever caused
-- it, and sent by a worker with retries, so an SMTP outage loses nothing.

-- +goose Up
CREATE TABLE mail_outbox (
    id uuid NOT NULL,
    to_address text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text DEFAULT '' NOT NULL,
    status text DEFAULT 'pending' NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    locked_until timestamp with time zone,
    -- The last send error; never the body, which carries one-time links.
    last_error text DEFAULT '' NOT NULL,
    created_at timestamp with time zone NOT NULL,
    sent_at timestamp with time zone,
    CONSTRAINT mail_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT mail_outbox_status CHECK (status IN ('pending', 'sent', 'failed'))
);
-- Workers claim due messages: status = 'pending' AND next_attempt_at <= now.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
-- Clean-up deletes sent messages by age.
CREATE INDEX mail_outbox_sent_at_idx ON mail_outbox (sent_at);

-- +goose Down
DROP TABLE mail_outbox;
