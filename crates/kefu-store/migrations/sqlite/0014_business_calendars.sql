-- Business calendars: working hours per weekday (Monday first, written
-- `09:00-12:00, 13:00-18:00`, empty for a day off) in one time zone, and
-- dated holidays and make-up working days. SLA targets run on them.
CREATE TABLE business_calendars (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    mon TEXT NOT NULL DEFAULT '',
    tue TEXT NOT NULL DEFAULT '',
    wed TEXT NOT NULL DEFAULT '',
    thu TEXT NOT NULL DEFAULT '',
    fri TEXT NOT NULL DEFAULT '',
    sat TEXT NOT NULL DEFAULT '',
    sun TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX business_calendars_name_uq ON business_calendars (name);

CREATE TABLE calendar_days (
    calendar_id INTEGER NOT NULL REFERENCES business_calendars (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (calendar_id, day)
);
