-- The customer portal: customers sign in with a one-time link sent to an
-- email address on their record (no password to forget or leak), and
-- hold sessions of their own, apart from agents'.
CREATE TABLE portal_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE UNIQUE INDEX portal_links_token_hash_uq ON portal_links (token_hash);

CREATE TABLE portal_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE UNIQUE INDEX portal_sessions_token_hash_uq ON portal_sessions (token_hash);
CREATE INDEX portal_sessions_customer_idx ON portal_sessions (customer_id);
