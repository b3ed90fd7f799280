-- Work orders (工单): settings, the category tree, tickets with their tags
-- and watchers, and the conversation (public replies and internal notes).

-- One row: the priority matrix (nine codes, urgency-major) and the window
-- in which a resolved ticket may be reopened.
CREATE TABLE ticket_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    priority_matrix TEXT NOT NULL,
    reopen_days INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);

-- Products and issue kinds, as a tree; `path` is the names from the root
-- joined by " / ", unique so siblings cannot share a name.
CREATE TABLE ticket_categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER REFERENCES ticket_categories (id),
    name TEXT NOT NULL,
    name_en TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ticket_categories_path_uq ON ticket_categories (path);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    ticket_type TEXT NOT NULL,
    service_kind TEXT,
    category_id INTEGER REFERENCES ticket_categories (id),
    urgency TEXT NOT NULL,
    impact TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_reason TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers (id),
    organization_id INTEGER REFERENCES organizations (id),
    expectation TEXT NOT NULL DEFAULT '',
    wanted_by DATE,
    call_direction TEXT,
    call_seconds INTEGER,
    status TEXT NOT NULL,
    team_id INTEGER REFERENCES teams (id),
    assignee_id INTEGER REFERENCES agents (id),
    resolution_category TEXT,
    resolution TEXT NOT NULL DEFAULT '',
    merged_into_id INTEGER REFERENCES tickets (id),
    parent_id INTEGER REFERENCES tickets (id),
    first_response_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tickets_status_idx ON tickets (status, id);
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id, status, id);
CREATE INDEX tickets_team_idx ON tickets (team_id, status, id);
CREATE INDEX tickets_customer_idx ON tickets (customer_id, id);
CREATE INDEX tickets_organization_idx ON tickets (organization_id, id);
CREATE INDEX tickets_updated_idx ON tickets (updated_at, id);
CREATE INDEX tickets_priority_idx ON tickets (priority, id);
CREATE INDEX tickets_parent_idx ON tickets (parent_id, id);

CREATE TABLE ticket_tags (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag_idx ON ticket_tags (tag, ticket_id);

CREATE TABLE ticket_watchers (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    PRIMARY KEY (ticket_id, agent_id)
);

-- The conversation: append-only like the audit log; a reply the customer
-- saw is evidence and is never edited.
CREATE TABLE ticket_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL,
    author_kind TEXT NOT NULL,
    author_agent_id INTEGER REFERENCES agents (id),
    author_customer_id INTEGER REFERENCES customers (id),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ticket_messages_ticket_idx ON ticket_messages (ticket_id, id);

-- The service plan (服务方案): what will be done, by whom, by when.
CREATE TABLE ticket_plan_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    title TEXT NOT NULL,
    owner_id INTEGER REFERENCES agents (id),
    due_on DATE,
    done_at TEXT,
    done_by INTEGER REFERENCES agents (id),
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ticket_plan_steps_ticket_idx ON ticket_plan_steps (ticket_id, id);

-- Related tickets, stored once per pair with the smaller id first.
CREATE TABLE ticket_links (
    low_id INTEGER NOT NULL REFERENCES tickets (id),
    high_id INTEGER NOT NULL REFERENCES tickets (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (low_id, high_id)
);
CREATE INDEX ticket_links_high_idx ON ticket_links (high_id, low_id);

-- Canned replies and macros (快捷回复): a text with placeholders, and the
-- changes applying it makes to a ticket.
CREATE TABLE macros (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT 'reply',
    set_status TEXT,
    set_team_id INTEGER REFERENCES teams (id),
    set_assignee_id INTEGER REFERENCES agents (id),
    add_tags TEXT NOT NULL DEFAULT '',
    resolution_category TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX macros_name_uq ON macros (name);

-- An agent's saved queue views: a name and the queue's query string.
CREATE TABLE saved_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX saved_views_agent_name_uq ON saved_views (agent_id, name);

-- What an agent should look at: a mention in a note or reply, for now.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL,
    by_agent_id INTEGER REFERENCES agents (id),
    excerpt TEXT NOT NULL DEFAULT '',
    read_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX notifications_agent_idx ON notifications (agent_id, id);
