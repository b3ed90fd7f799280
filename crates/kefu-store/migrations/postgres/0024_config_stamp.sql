-- A stamp that changes with every change to the configuration the hot
-- paths read on each write (SLA policies and their calendars, automation
-- rules, webhooks), so a process can keep that configuration in memory
-- and read only the stamp: the triggers below change it in the same
-- transaction as the change, whoever makes it (this instance, another
-- one, the command line). New stamps come from a sequence, which never
-- hands out a number twice, even when the change is rolled back.
CREATE TABLE config_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stamp BIGINT NOT NULL
);
INSERT INTO config_stamp (id, stamp) VALUES (1, 0);
CREATE SEQUENCE config_stamp_seq;
CREATE FUNCTION bump_config_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_stamp SET stamp = nextval('config_stamp_seq') WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER sla_policies_stamp AFTER INSERT OR UPDATE OR DELETE ON sla_policies
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_stamp();
CREATE TRIGGER business_calendars_stamp AFTER INSERT OR UPDATE OR DELETE ON business_calendars
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_stamp();
CREATE TRIGGER calendar_days_stamp AFTER INSERT OR UPDATE OR DELETE ON calendar_days
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_stamp();
CREATE TRIGGER webhooks_stamp AFTER INSERT OR UPDATE OR DELETE ON webhooks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_stamp();
-- Counting a rule's firings is not a change of configuration.
CREATE TRIGGER automations_stamp AFTER INSERT OR DELETE OR UPDATE OF name, position, active, event, conditions, actions ON automations
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_stamp();
