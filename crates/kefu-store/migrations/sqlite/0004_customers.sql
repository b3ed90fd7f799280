-- The customer archive (客户档案): organizations, customers, their contact
-- points, tags and orders.

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    region TEXT NOT NULL DEFAULT '',
    industry TEXT NOT NULL DEFAULT '',
    company_size TEXT NOT NULL DEFAULT 'unknown',
    notes TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX organizations_name_key_uq ON organizations (name_key);
CREATE UNIQUE INDEX organizations_external_id_uq ON organizations (external_id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    gender TEXT NOT NULL DEFAULT 'unknown',
    birthday TEXT,
    language TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    organization_id INTEGER REFERENCES organizations (id),
    province TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    district TEXT NOT NULL DEFAULT '',
    street TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    industry TEXT NOT NULL DEFAULT '',
    company_size TEXT NOT NULL DEFAULT 'unknown',
    grade TEXT NOT NULL DEFAULT 'c',
    notes TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    erased_at TEXT,
    merged_into_id INTEGER REFERENCES customers (id),
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX customers_external_id_uq ON customers (external_id);
CREATE INDEX customers_name_key_idx ON customers (name_key, id);
CREATE INDEX customers_organization_idx ON customers (organization_id, id);
CREATE INDEX customers_updated_idx ON customers (updated_at, id);
CREATE INDEX customers_grade_idx ON customers (grade, id);

-- How a customer is reached or recognised; the one identity lookup reads
-- (kind, value), so every channel finds the same person.
CREATE TABLE contact_points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX contact_points_lookup_idx ON contact_points (kind, value, customer_id);
CREATE UNIQUE INDEX contact_points_customer_value_uq ON contact_points (customer_id, kind, value);

CREATE TABLE customer_tags (
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_tag_idx ON customer_tags (tag, customer_id);

-- 消费信息: what a customer bought; amounts in the currency's minor unit.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    ordered_at TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    product TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX orders_external_id_uq ON orders (external_id);
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at);

-- Files uploaded for import, kept while the agent maps and checks them.
CREATE TABLE import_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    file_name TEXT NOT NULL,
    format TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX import_uploads_agent_idx ON import_uploads (agent_id, id);

-- Custom fields an administrator adds to the customer record, and each
-- customer's values: one row per value (several for multiselect fields).
CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    label_zh TEXT NOT NULL,
    label_en TEXT NOT NULL,
    kind TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '[]',
    required INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX custom_fields_key_uq ON custom_fields (key);

CREATE TABLE customer_field_values (
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    field_id INTEGER NOT NULL REFERENCES custom_fields (id),
    value TEXT NOT NULL,
    PRIMARY KEY (customer_id, field_id, value)
);
CREATE INDEX customer_field_values_lookup_idx ON customer_field_values (field_id, value, customer_id);
