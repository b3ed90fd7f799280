-- Sending mail: each mailbox may name the SMTP server its replies go
-- through; the outbox carries what a reply needs to thread in the
-- customer's client, and how sending it went.
ALTER TABLE mailboxes ADD COLUMN smtp_host TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN smtp_port BIGINT NOT NULL DEFAULT 587;
ALTER TABLE mailboxes ADD COLUMN smtp_security TEXT NOT NULL DEFAULT 'starttls';
ALTER TABLE mailboxes ADD COLUMN smtp_user TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN smtp_password TEXT NOT NULL DEFAULT '';

ALTER TABLE outbox ADD COLUMN ticket_id BIGINT;
ALTER TABLE outbox ADD COLUMN mailbox_id BIGINT;
ALTER TABLE outbox ADD COLUMN cc_addresses TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN in_reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN references_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN automatic BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE outbox ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_messages ADD COLUMN reply_to TEXT NOT NULL DEFAULT '';
