-- Each distinct page geometry once per tenant, keyed by the SHA-256 of its JSON. The pages of
-- an exam share one or a few; a copy in every sheet row made each row some 34 KB.
CREATE TABLE layouts (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    layout_json  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- New sheets name their layout; rows registered before keep it inline in layout_json, which
-- becomes nullable. SQLite cannot drop a NOT NULL constraint, so the table is rebuilt (no
-- table references sheets).
CREATE TABLE sheets_new (
    tenant_id       TEXT NOT NULL,
    code            TEXT NOT NULL,
    exam_id         TEXT NOT NULL,
    version         TEXT NOT NULL,
    student_id      TEXT,
    sheet_group     TEXT NOT NULL,
    sheet_page      INTEGER NOT NULL,
    sheet_pages     INTEGER NOT NULL,
    pdf_page        INTEGER NOT NULL,
    layout_json     TEXT,
    layout_version  INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    layout_id       TEXT,
    PRIMARY KEY (tenant_id, code),
    FOREIGN KEY (tenant_id, exam_id) REFERENCES exams (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO sheets_new (tenant_id, code, exam_id, version, student_id, sheet_group, sheet_page,
                        sheet_pages, pdf_page, layout_json, layout_version, created_at)
    SELECT tenant_id, code, exam_id, version, student_id, sheet_group, sheet_page, sheet_pages,
           pdf_page, layout_json, layout_version, created_at
    FROM sheets;
DROP TABLE sheets;
ALTER TABLE sheets_new RENAME TO sheets;
CREATE INDEX sheets_by_exam ON sheets (tenant_id, exam_id);
CREATE INDEX sheets_by_group ON sheets (tenant_id, sheet_group);
