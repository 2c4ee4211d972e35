-- Catalogue sync: more extracted Mitos columns, a content hash to see what changed, soft removal, run history.
-- depends: 0001_initial

ALTER TABLE procedures
    ADD COLUMN mitos_uuid          text,
    ADD COLUMN official_title      text,
    ADD COLUMN alternative_titles  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN description_el      text,
    ADD COLUMN description_en      text,
    ADD COLUMN mitos_status        text,
    ADD COLUMN provided_to         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN cost_min            numeric,
    ADD COLUMN cost_max            numeric,
    ADD COLUMN deadline_days       numeric,
    ADD COLUMN validity_days       numeric,
    ADD COLUMN content_hash        text,
    -- Gone from Mitos: kept (cases refer to it) but marked, never deleted by a sync.
    ADD COLUMN removed_at          timestamptz;

CREATE TABLE procedure_sync_runs (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('full', 'incremental')),
    trigger         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    listed          integer NOT NULL DEFAULT 0,
    fetched         integer NOT NULL DEFAULT 0,
    added           integer NOT NULL DEFAULT 0,
    changed         integer NOT NULL DEFAULT 0,
    removed         integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    errors          jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX procedure_sync_runs_started_idx ON procedure_sync_runs (started_at DESC);
