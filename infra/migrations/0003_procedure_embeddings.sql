-- Sentence embeddings of procedures, kept so that a restart or a sync re-encodes only the texts that changed.
-- depends: 0002_catalogue_sync

CREATE TABLE procedure_embeddings (
    procedure_id  uuid NOT NULL REFERENCES procedures (id) ON DELETE CASCADE,
    lang          text NOT NULL CHECK (lang IN ('el', 'en')),
    -- the model's identity (a digest of its weights): vectors of another model are never mixed in
    model         text NOT NULL,
    text_sha256   text NOT NULL,
    vector        bytea NOT NULL,  -- float32, little-endian
    PRIMARY KEY (procedure_id, lang, model)
);
