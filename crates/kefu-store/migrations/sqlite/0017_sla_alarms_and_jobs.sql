-- Warnings and escalation: a policy may warn a set time before a target is
-- due (besides at a share of it), and escalates a breach along a chain of
-- steps (JSON: after_minutes, action, team_id).
ALTER TABLE sla_policies ADD COLUMN warn_before_minutes INTEGER;
ALTER TABLE sla_policies ADD COLUMN escalation TEXT NOT NULL DEFAULT '[]';

-- A ticket's alarm: when the background sweep must next look at it, and
-- what already fired (the due time warned about, the due time whose breach
-- was escalated, the chain steps run since), so nothing fires twice.
ALTER TABLE tickets ADD COLUMN sla_timer_at TEXT;
ALTER TABLE tickets ADD COLUMN sla_warned_due_at TEXT;
ALTER TABLE tickets ADD COLUMN sla_breached_due_at TEXT;
ALTER TABLE tickets ADD COLUMN sla_escalation_steps INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tickets_sla_timer_idx ON tickets (sla_timer_at) WHERE sla_timer_at IS NOT NULL;

-- Durable background work (webhook deliveries, later mail and surveys):
-- claimed with a lease so a crashed worker's jobs run again, retried with
-- backoff, kept after they end as a log.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    run_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_by TEXT,
    locked_until TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_due_idx ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_kind_idx ON jobs (kind, id);
