-- What the student-number grid of an anonymous sheet said on this page (NULL: no grid, or
-- not clearly filled in). A sheet printed without a student takes its student from it.
ALTER TABLE scan_pages ADD COLUMN student_number TEXT;
