-- Overdue must be explained (超时须说明): the reason categories an admin
-- offers (one per line; empty: the built-in list), and on each ticket
-- resolved after its SLA ran out, the category and the explanation.
ALTER TABLE ticket_settings ADD COLUMN overdue_reasons TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN overdue_category TEXT;
ALTER TABLE tickets ADD COLUMN overdue_reason TEXT NOT NULL DEFAULT '';
