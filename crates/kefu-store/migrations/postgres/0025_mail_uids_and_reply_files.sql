-- Messages taken in from an IMAP folder, by the server's UID, recorded in
-- the transaction that keeps the message: one whose commit landed but
-- whose \Seen flag did not is known by its UID on the next pass and only
-- flagged, never fetched or taken in again.
CREATE TABLE imap_uids (
    mailbox_id BIGINT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    folder TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, folder, uid_validity, uid)
);

-- An agent's emailed reply carries the files attached to its message.
ALTER TABLE outbox ADD COLUMN ticket_message_id BIGINT REFERENCES ticket_messages (id) ON DELETE SET NULL;
