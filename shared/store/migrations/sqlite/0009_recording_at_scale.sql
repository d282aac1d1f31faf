-- Issue 11: no query reads scans by status; the index only cost every status change an index
-- write. (The marks' foreign key stays: SQLite checks it in-process, without locks, and the
-- Postgres flavour keeps the same rule as statement-level triggers.)
DROP INDEX scans_by_status;
