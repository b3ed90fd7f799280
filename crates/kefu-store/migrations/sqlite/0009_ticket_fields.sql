-- Custom fields on work orders: a field belongs on customer records or on
-- tickets, and a ticket's values live one row per value like a customer's.
ALTER TABLE custom_fields ADD COLUMN applies_to TEXT NOT NULL DEFAULT 'customer';

CREATE TABLE ticket_field_values (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    field_id INTEGER NOT NULL REFERENCES custom_fields (id),
    value TEXT NOT NULL,
    PRIMARY KEY (ticket_id, field_id, value)
);
CREATE INDEX ticket_field_values_lookup_idx ON ticket_field_values (field_id, value, ticket_id);
