-- What the HTTP services add (issue 9): API tokens, bundles and scan batches queued as jobs, and
-- an index for claiming jobs across tenants. The Postgres flavour (../postgres/0006_services.sql)
-- has the same tables and columns.

-- A bearer token of one tenant. Only the SHA-256 of the whole token is kept: a copy of the
-- database gives no usable token. The id is the public part of the token (shown by list and
-- taken by revoke).
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    -- hex SHA-256 of the token as the client sends it
    token_hash  TEXT NOT NULL UNIQUE,
    -- render,scan,results,admin: comma-separated, sorted
    scopes      TEXT NOT NULL,
    label       TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, created_at);

-- The workers of the services claim any tenant's jobs: the ready ones by status and time.
CREATE INDEX jobs_claimable ON jobs (status, run_after);

-- A bundle asked for over HTTP. Its status, attempts and error are its job's (one source of
-- truth); the row keeps what the job produced.
CREATE TABLE bundles (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    exam_id       TEXT NOT NULL,
    job_id        BIGINT NOT NULL REFERENCES jobs (id),
    request_json  TEXT NOT NULL,
    pages_done    BIGINT NOT NULL,
    pages_total   BIGINT NOT NULL,
    pdf_key       TEXT,
    manifest_key  TEXT,
    pdf_bytes     BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, exam_id) REFERENCES exams (tenant_id, id) ON DELETE CASCADE
);

-- Scans received together and graded by one job; status and error are the job's, progress is
-- the scans' own status.
CREATE TABLE scan_batches (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    job_id      BIGINT NOT NULL REFERENCES jobs (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE scan_batch_items (
    tenant_id  TEXT NOT NULL,
    batch_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    scan_id    BIGINT NOT NULL REFERENCES scans (id),
    PRIMARY KEY (tenant_id, batch_id, position),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES scan_batches (tenant_id, id) ON DELETE CASCADE
);
