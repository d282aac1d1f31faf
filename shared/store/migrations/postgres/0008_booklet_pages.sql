-- Issue 12: booklet pages carry codes as answer-sheet pages do, so a scanned booklet page is
-- recognised (and a written answer on it attributed to its student). Rows registered before
-- are answer-sheet pages.
ALTER TABLE sheets ADD COLUMN kind TEXT NOT NULL DEFAULT 'sheet';
ALTER TABLE sheets ADD COLUMN booklet_page INTEGER;
ALTER TABLE sheets ADD COLUMN answer_boxes_json TEXT;
