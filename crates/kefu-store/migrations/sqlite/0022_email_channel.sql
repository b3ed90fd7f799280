-- The email channel. A mailbox is one support address: mail reaches it
-- through the raw-message endpoint (authenticated by the mailbox's token)
-- or by IMAP, and becomes work orders with the mailbox's defaults.
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    team_id INTEGER REFERENCES teams (id) ON DELETE SET NULL,
    ticket_type TEXT NOT NULL DEFAULT 'inquiry',
    language TEXT NOT NULL DEFAULT 'zh-CN',
    imap_host TEXT NOT NULL DEFAULT '',
    imap_port INTEGER NOT NULL DEFAULT 993,
    imap_security TEXT NOT NULL DEFAULT 'tls',
    imap_user TEXT NOT NULL DEFAULT '',
    imap_password TEXT NOT NULL DEFAULT '',
    imap_folder TEXT NOT NULL DEFAULT 'INBOX',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    last_error TEXT NOT NULL DEFAULT '',
    last_checked_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX mailboxes_address_uq ON mailboxes (address);
CREATE UNIQUE INDEX mailboxes_name_uq ON mailboxes (name);

-- Every message received or sent. An incoming Message-ID is received
-- once (the unique index is what makes a second delivery a no-op); the
-- raw source is kept by content (attachment_blobs) as evidence.
CREATE TABLE mail_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    direction TEXT NOT NULL,
    message_id TEXT NOT NULL,
    mailbox_id INTEGER REFERENCES mailboxes (id) ON DELETE SET NULL,
    ticket_id INTEGER REFERENCES tickets (id),
    ticket_message_id INTEGER,
    outcome TEXT NOT NULL,
    from_address TEXT NOT NULL,
    from_name TEXT NOT NULL DEFAULT '',
    to_addresses TEXT NOT NULL DEFAULT '[]',
    cc_addresses TEXT NOT NULL DEFAULT '[]',
    subject TEXT NOT NULL DEFAULT '',
    thread_ids TEXT NOT NULL DEFAULT '',
    automatic TEXT,
    html TEXT,
    remote_images BOOLEAN NOT NULL DEFAULT FALSE,
    inline_files TEXT NOT NULL DEFAULT '{}',
    raw_sha256 TEXT NOT NULL,
    raw_size INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX mail_messages_incoming_uq ON mail_messages (message_id) WHERE direction = 'in';
CREATE INDEX mail_messages_message_id_idx ON mail_messages (message_id);
CREATE INDEX mail_messages_ticket_idx ON mail_messages (ticket_id, id);

-- Messages that could not be read at all, or were held back (a sender
-- over the rate): kept raw with the reason for an admin, never blocking
-- the mailbox.
CREATE TABLE mail_quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id INTEGER REFERENCES mailboxes (id) ON DELETE SET NULL,
    reason TEXT NOT NULL,
    from_address TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    raw_sha256 TEXT NOT NULL,
    raw_size INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
