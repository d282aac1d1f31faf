-- Issue 10 tells the two OCR steps apart: the grader's own (`ocr-local`) and the cloud one
-- (`ocr-vision`). The one OCR step before them, `ocr`, was an external reader: the cloud one.
-- The outcome JSON would read either way (the name `ocr` is kept as an alias); it is rewritten
-- too so that one page never says two things.
UPDATE scan_pages SET identified_by = 'ocr-vision' WHERE identified_by = 'ocr';
UPDATE scan_pages
SET outcome = REPLACE(outcome, '"identified_by":"ocr"', '"identified_by":"ocr-vision"')
WHERE outcome LIKE '%"identified_by":"ocr"%';
