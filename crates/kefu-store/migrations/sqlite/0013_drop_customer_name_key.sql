-- The whole-name key was replaced by customer_name_keys (search) and sort_key
-- (order) in migrations 0010 and 0012; nothing reads it any more.
ALTER TABLE customers DROP COLUMN name_key;
