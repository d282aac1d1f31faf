-- Gabarito state, SQLite flavour. The Postgres flavour (../postgres/0001_state.sql) has the same
-- tables, columns and constraints; only the types and identity syntax differ.
-- Every row carries tenant_id and every query filters on it. Times are milliseconds since the
-- Unix epoch (BIGINT) so both backends read and write them the same way.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The exam JSON is the source of truth for scoring; versions and keys are kept beside it so they
-- can be queried, and are rewritten in the same transaction whenever the exam changes.
CREATE TABLE exams (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    title       TEXT NOT NULL,
    exam_json   TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE exam_versions (
    tenant_id   TEXT NOT NULL,
    exam_id     TEXT NOT NULL,
    label       TEXT NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, exam_id, label),
    FOREIGN KEY (tenant_id, exam_id) REFERENCES exams (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE exam_keys (
    tenant_id   TEXT NOT NULL,
    exam_id     TEXT NOT NULL,
    version     TEXT NOT NULL,
    question    INTEGER NOT NULL,
    -- correct choice indices, ascending, comma-separated ("0,2")
    answer      TEXT NOT NULL,
    weight      REAL NOT NULL,
    annulled    BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, exam_id, version, question),
    FOREIGN KEY (tenant_id, exam_id) REFERENCES exams (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE students (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    student_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    class       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, student_id)
);

-- One row per printed page that carries a code. sheet_group is the code of the first page of
-- the answer sheet the page belongs to: a student's score sums every page of the group.
CREATE TABLE sheets (
    tenant_id       TEXT NOT NULL,
    code            TEXT NOT NULL,
    exam_id         TEXT NOT NULL,
    version         TEXT NOT NULL,
    student_id      TEXT,
    sheet_group     TEXT NOT NULL,
    sheet_page      INTEGER NOT NULL,
    sheet_pages     INTEGER NOT NULL,
    pdf_page        INTEGER NOT NULL,
    layout_json     TEXT NOT NULL,
    layout_version  INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code),
    FOREIGN KEY (tenant_id, exam_id) REFERENCES exams (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sheets_by_exam ON sheets (tenant_id, exam_id);
CREATE INDEX sheets_by_group ON sheets (tenant_id, sheet_group);

-- An uploaded file (image or multi-page PDF), stored before it is processed. The same bytes
-- twice are the same scan.
CREATE TABLE scans (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    content_hash  TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    byte_len      BIGINT NOT NULL,
    file_name     TEXT NOT NULL,
    -- received | graded | failed
    status        TEXT NOT NULL,
    error         TEXT,
    received_at   BIGINT NOT NULL,
    graded_at     BIGINT,
    UNIQUE (tenant_id, content_hash)
);
CREATE INDEX scans_by_status ON scans (tenant_id, status);

-- One page of a scan as graded. A later page of the same sheet supersedes the earlier one,
-- which is kept for audit.
CREATE TABLE scan_pages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    scan_id        BIGINT NOT NULL REFERENCES scans (id),
    page           INTEGER NOT NULL,
    sheet_code     TEXT,
    exam_id        TEXT,
    identified_by  TEXT,
    error          TEXT,
    superseded     BOOLEAN NOT NULL,
    graded_at      BIGINT NOT NULL,
    UNIQUE (scan_id, page)
);
-- Also orders the pages of a sheet, so finding the latest one reads one index entry.
CREATE INDEX scan_pages_by_code ON scan_pages (tenant_id, sheet_code, scan_id, page);
CREATE INDEX scan_pages_by_exam ON scan_pages (tenant_id, exam_id, superseded);

-- What was read for each question of a page; a person's resolution is kept beside it.
CREATE TABLE marks (
    tenant_id        TEXT NOT NULL,
    page_id          BIGINT NOT NULL REFERENCES scan_pages (id),
    question         INTEGER NOT NULL,
    marked           TEXT NOT NULL,
    state            TEXT NOT NULL,
    resolved_marked  TEXT,
    resolved_state   TEXT,
    PRIMARY KEY (page_id, question)
);

-- The current score of each answer sheet (group), recomputed from marks on every change.
CREATE TABLE scores (
    tenant_id      TEXT NOT NULL,
    exam_id        TEXT NOT NULL,
    sheet_group    TEXT NOT NULL,
    version        TEXT NOT NULL,
    student_id     TEXT,
    score          REAL NOT NULL,
    max_score      REAL NOT NULL,
    -- JSON arrays: points per question, and questions awaiting review
    per_question   TEXT NOT NULL,
    pending        TEXT NOT NULL,
    exam_revision  BIGINT NOT NULL,
    scored_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, sheet_group)
);
CREATE INDEX scores_by_exam ON scores (tenant_id, exam_id);

CREATE TABLE review_items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    exam_id      TEXT,
    scan_id      BIGINT NOT NULL REFERENCES scans (id),
    page_id      BIGINT REFERENCES scan_pages (id),
    sheet_code   TEXT,
    question     INTEGER,
    reason       TEXT NOT NULL,
    -- open | resolved | dismissed
    status       TEXT NOT NULL,
    resolution   TEXT,
    created_at   BIGINT NOT NULL,
    resolved_at  BIGINT
);
CREATE INDEX review_items_by_exam ON review_items (tenant_id, exam_id, status);

-- Work that must outlive an instance; SQLite serialises writers, so a claim is a plain UPDATE.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    -- queued | running | done | failed
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    run_after     BIGINT NOT NULL,
    locked_by     TEXT,
    locked_until  BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (tenant_id, status, run_after);
