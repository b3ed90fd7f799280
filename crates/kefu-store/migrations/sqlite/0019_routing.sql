-- Routing (派单): how each team hands out tickets, and the agent it chose
-- last (round robin's turn).
CREATE TABLE team_routing (
    team_id INTEGER PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    strategy TEXT NOT NULL DEFAULT 'manual',
    last_agent_id INTEGER,
    updated_at TEXT NOT NULL
);

-- Each agent's capacity (most open tickets; none: no limit) and skills.
CREATE TABLE agent_routing (
    agent_id INTEGER PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    capacity INTEGER,
    skills TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

-- Rules that send work to a team (VIP customers to the VIP desk,
-- complaints to the complaints team): ordered, the first whose
-- conditions all hold applies to a ticket that has no team yet.
CREATE TABLE routing_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    ticket_types TEXT NOT NULL DEFAULT '',
    priorities TEXT NOT NULL DEFAULT '',
    grades TEXT NOT NULL DEFAULT '',
    channels TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX routing_rules_name_uq ON routing_rules (name);

-- A ticket waiting for the router: open, nobody assigned; when to look
-- at it (again: a team with nobody available is retried shortly).
ALTER TABLE tickets ADD COLUMN route_at TEXT;
CREATE INDEX tickets_route_idx ON tickets (route_at) WHERE route_at IS NOT NULL;
