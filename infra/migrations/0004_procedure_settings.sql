-- Local settings of a procedure that administrators change (which offices serve it), and the trail of their changes.
-- depends: 0003_procedure_embeddings

-- No rows for a procedure: every office serves it. Rows: only those offices.
CREATE TABLE procedure_offices (
    procedure_id  uuid NOT NULL REFERENCES procedures (id) ON DELETE CASCADE,
    office_id     uuid NOT NULL REFERENCES offices (id),
    PRIMARY KEY (procedure_id, office_id)
);

CREATE TABLE admin_audit (
    id          bigserial PRIMARY KEY,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    request_id  text,
    reason      text,
    old         jsonb NOT NULL,
    new         jsonb NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_entity_idx ON admin_audit (entity, entity_id, id);
