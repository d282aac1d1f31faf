-- The page's outcome as the grader reported it (the `grader grade --json` object), so that a
-- scan graded before is answered with the same outcome instead of nothing.
ALTER TABLE scan_pages ADD COLUMN outcome TEXT;
