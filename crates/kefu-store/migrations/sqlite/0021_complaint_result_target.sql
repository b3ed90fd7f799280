-- Complaints carry one more target: the deadline to answer the customer
-- with a result (结果答复), in working minutes from creation; it stops when
-- an agent's reply is marked as the result, or at resolution.
ALTER TABLE sla_policies ADD COLUMN result_minutes INTEGER;
ALTER TABLE tickets ADD COLUMN result_due_at TEXT;
ALTER TABLE tickets ADD COLUMN result_answered_at TEXT;
