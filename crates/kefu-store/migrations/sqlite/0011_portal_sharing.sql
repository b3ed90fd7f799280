-- An organization may let its members see each other's requests in the
-- customer portal (a company's IT contacts following one another's work).
ALTER TABLE organizations ADD COLUMN portal_shared INTEGER NOT NULL DEFAULT 0;
