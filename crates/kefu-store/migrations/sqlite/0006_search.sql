-- Full-text search of tickets: subject, description and conversation,
-- segmented into words by Kefu (jieba for Chinese, stemmed English) and
-- indexed by FTS5; the row id is the ticket id. Tables named fts_* are each
-- engine's own full-text index and differ between SQLite and PostgreSQL.
CREATE VIRTUAL TABLE fts_tickets USING fts5(document, tokenize = 'unicode61 remove_diacritics 0');
