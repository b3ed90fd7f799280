-- A stamp that changes with every change to the configuration the hot
-- paths read on each write (SLA policies and their calendars, automation
-- rules, webhooks), so a process can keep that configuration in memory
-- and read only the stamp: the triggers below change it in the same
-- transaction as the change, whoever makes it (this process, another
-- one, the command line). A new stamp is random, never a counter, so a
-- rolled-back change's stamp does not come back for a different one.
CREATE TABLE config_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stamp INTEGER NOT NULL
);
INSERT INTO config_stamp (id, stamp) VALUES (1, 0);
CREATE TRIGGER sla_policies_stamp_insert AFTER INSERT ON sla_policies
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER sla_policies_stamp_update AFTER UPDATE ON sla_policies
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER sla_policies_stamp_delete AFTER DELETE ON sla_policies
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER business_calendars_stamp_insert AFTER INSERT ON business_calendars
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER business_calendars_stamp_update AFTER UPDATE ON business_calendars
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER business_calendars_stamp_delete AFTER DELETE ON business_calendars
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER calendar_days_stamp_insert AFTER INSERT ON calendar_days
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER calendar_days_stamp_update AFTER UPDATE ON calendar_days
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER calendar_days_stamp_delete AFTER DELETE ON calendar_days
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER webhooks_stamp_insert AFTER INSERT ON webhooks
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER webhooks_stamp_update AFTER UPDATE ON webhooks
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER webhooks_stamp_delete AFTER DELETE ON webhooks
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER automations_stamp_insert AFTER INSERT ON automations
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
-- Counting a rule's firings is not a change of configuration.
CREATE TRIGGER automations_stamp_update AFTER UPDATE OF name, position, active, event, conditions, actions ON automations
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER automations_stamp_delete AFTER DELETE ON automations
BEGIN UPDATE config_stamp SET stamp = random() WHERE id = 1; END;
