-- Documents a case produces from templates: template versions per procedure (NULL: the default for every
-- procedure), and what a generated document was made from, so a render job is idempotent and an issued document
-- verifiable by its code.
-- depends: 0010_case_commands

CREATE TABLE document_templates (
    id            uuid PRIMARY KEY,
    procedure_id  uuid REFERENCES procedures (id),
    kind          text NOT NULL CHECK (kind IN ('receipt', 'certificate')),
    lang          text NOT NULL CHECK (lang IN ('el', 'en')),
    version       integer NOT NULL CHECK (version > 0),
    body          text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX document_templates_version_idx
    ON document_templates (coalesce(procedure_id, '00000000-0000-0000-0000-000000000000'::uuid), kind, lang, version);

ALTER TABLE documents
    ADD COLUMN template_id        uuid REFERENCES document_templates (id),
    ADD COLUMN inputs_hash        text CHECK (inputs_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN verification_code  text UNIQUE,
    ADD COLUMN signed             boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX documents_generated_idx ON documents (case_id, template_id, inputs_hash)
    WHERE template_id IS NOT NULL;
