-- Names in pinyin order and names that sound alike: both keys are
-- computed by kefu_domain::name when a customer is written; rows stored
-- before this migration get them from `kefu migrate` right after it.
ALTER TABLE customers ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN name_sound TEXT NOT NULL DEFAULT '';
CREATE INDEX customers_sort_key_idx ON customers (sort_key, id);
CREATE INDEX customers_organization_sound_idx ON customers (organization_id, name_sound);
DROP INDEX customers_name_key_idx;
