-- An agent's presence on the floor: online, away or offline.
ALTER TABLE agents ADD COLUMN status TEXT NOT NULL DEFAULT 'offline';

-- Optional two-step sign-in with an authenticator app (TOTP).
ALTER TABLE agents ADD COLUMN totp_secret BLOB;
ALTER TABLE agents ADD COLUMN totp_pending_secret BLOB;
ALTER TABLE agents ADD COLUMN totp_last_step INTEGER;

-- A password that was right, waiting for the second step.
CREATE TABLE signin_challenges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE UNIQUE INDEX signin_challenges_token_hash_uq ON signin_challenges (token_hash);
