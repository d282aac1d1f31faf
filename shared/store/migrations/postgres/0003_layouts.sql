-- Each distinct page geometry once per tenant, keyed by the SHA-256 of its JSON. The pages of
-- an exam share one or a few; a copy in every sheet row made each row some 34 KB.
CREATE TABLE layouts (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    layout_json  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- New sheets name their layout; rows registered before keep it inline in layout_json.
ALTER TABLE sheets ADD COLUMN layout_id TEXT;
ALTER TABLE sheets ALTER COLUMN layout_json DROP NOT NULL;
