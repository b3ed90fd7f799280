-- SLA policies: ordered by position, the first whose conditions hold
-- applies. Conditions are comma-separated codes (empty: any); targets are
-- working minutes on the policy's business calendar.
CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    calendar_id INTEGER NOT NULL REFERENCES business_calendars (id),
    ticket_types TEXT NOT NULL DEFAULT '',
    priorities TEXT NOT NULL DEFAULT '',
    grades TEXT NOT NULL DEFAULT '',
    channels TEXT NOT NULL DEFAULT '',
    organization_ids TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    first_response_minutes INTEGER,
    next_response_minutes INTEGER,
    resolution_minutes INTEGER,
    pause_when_pending BOOLEAN NOT NULL DEFAULT TRUE,
    warn_percent INTEGER NOT NULL DEFAULT 75,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX sla_policies_name_uq ON sla_policies (name);
CREATE INDEX sla_policies_calendar_idx ON sla_policies (calendar_id);

-- A ticket's SLA: the policy it fell under, its targets' due times, and
-- the clocks they come from (a customer message waiting for an answer;
-- the working time the resolution clock spent stopped while pending).
ALTER TABLE tickets ADD COLUMN sla_policy_id INTEGER REFERENCES sla_policies (id) ON DELETE SET NULL;
ALTER TABLE tickets ADD COLUMN first_response_due_at TEXT;
ALTER TABLE tickets ADD COLUMN next_response_due_at TEXT;
ALTER TABLE tickets ADD COLUMN resolution_due_at TEXT;
ALTER TABLE tickets ADD COLUMN awaiting_reply_since TEXT;
ALTER TABLE tickets ADD COLUMN sla_paused_since TEXT;
ALTER TABLE tickets ADD COLUMN sla_paused_seconds INTEGER NOT NULL DEFAULT 0;
-- The next due time of a target still running, and when it turns at risk:
-- what queues sort and filter on ("breached", "at risk now").
ALTER TABLE tickets ADD COLUMN sla_next_due_at TEXT;
ALTER TABLE tickets ADD COLUMN sla_warn_at TEXT;
CREATE INDEX tickets_sla_policy_idx ON tickets (sla_policy_id);
CREATE INDEX tickets_sla_next_due_idx ON tickets (sla_next_due_at, id);
CREATE INDEX tickets_sla_warn_idx ON tickets (sla_warn_at, id);
