-- Every suffix of each customer's name key that starts a word or a
-- character (from the first 32 characters), so a search for any part of a
-- name is a range scan of this index instead of a scan of the archive.
CREATE TABLE customer_name_keys (
    key TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (key, customer_id)
);
CREATE INDEX customer_name_keys_customer_idx ON customer_name_keys (customer_id);

WITH RECURSIVE suffixes (customer_id, key, position) AS (
    SELECT id, name_key, 1 FROM customers WHERE name_key <> ''
    UNION ALL
    SELECT customer_id, substr(key, 2), position + 1 FROM suffixes
    WHERE length(key) > 1 AND position < 32
)
INSERT INTO customer_name_keys (key, customer_id)
SELECT DISTINCT key, customer_id FROM suffixes WHERE substr(key, 1, 1) <> ' ';
