-- Files attached to work orders. The bytes are stored once per content
-- (SHA-256): on disk below the attachment directory (`content` NULL) or,
-- when the installation keeps files in the database, in `content`.
CREATE TABLE attachment_blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content BLOB,
    created_at TEXT NOT NULL
);

-- One attached file: on a message, or on the ticket itself (a call
-- recording logged with the call). Append-only like the conversation.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    message_id INTEGER REFERENCES ticket_messages (id),
    purpose TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES attachment_blobs (sha256),
    author_kind TEXT NOT NULL,
    author_agent_id INTEGER REFERENCES agents (id),
    author_customer_id INTEGER REFERENCES customers (id),
    created_at TEXT NOT NULL
);
CREATE INDEX attachments_ticket_idx ON attachments (ticket_id, id);
