-- Full-text search of tickets: subject, description and conversation,
-- segmented into words by Kefu (jieba for Chinese, stemmed English) and
-- indexed as a tsvector with GIN. Tables named fts_* are each engine's own
-- full-text index and differ between SQLite and PostgreSQL.
CREATE TABLE fts_tickets (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    document TEXT NOT NULL,
    terms TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED
);
CREATE INDEX fts_tickets_terms_idx ON fts_tickets USING GIN (terms);
