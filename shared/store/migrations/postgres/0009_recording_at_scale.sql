-- Issue 11: recording at national scale (8 writers, thousands of sheets a second into one
-- Postgres).
--
-- No query reads scans by status, and the index made every status change (received → graded)
-- a non-HOT update that rewrote all of the row's index entries.
DROP INDEX scans_by_status;

-- A row-level foreign key checks (and key-share locks) the page once per mark: 90 index probes
-- and 90 row locks for every page recorded. The same rule, checked once per statement over the
-- statement's rows (marks arrive by COPY, a chunk's pages at once).
ALTER TABLE marks DROP CONSTRAINT marks_page_id_fkey;

CREATE FUNCTION marks_name_existing_pages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_marks m
               WHERE NOT EXISTS (SELECT 1 FROM scan_pages p WHERE p.id = m.page_id)) THEN
        RAISE EXCEPTION 'marks name a page that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER marks_name_existing_pages
    AFTER INSERT ON marks REFERENCING NEW TABLE AS new_marks
    FOR EACH STATEMENT EXECUTE FUNCTION marks_name_existing_pages();

CREATE FUNCTION marks_keep_their_pages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_pages p JOIN marks m ON m.page_id = p.id) THEN
        RAISE EXCEPTION 'a deleted page still has marks'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER marks_keep_their_pages
    AFTER DELETE ON scan_pages REFERENCING OLD TABLE AS old_pages
    FOR EACH STATEMENT EXECUTE FUNCTION marks_keep_their_pages();
