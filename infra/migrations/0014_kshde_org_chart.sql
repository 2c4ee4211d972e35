-- ΚΣΗΔΕ's org chart, synced from the service so administrators can search it and pick a procedure's recipients.
-- Units are never deleted: a recipient chosen before a unit left the chart must still resolve (and be refused by
-- name, not go missing), so a unit that is no longer in the chart is kept, inactive, with the time it left.
-- depends: 0012_ked_audit

CREATE TABLE kshde_units (
    code          text PRIMARY KEY,  -- the SectorCode documents are addressed to
    name          text NOT NULL,
    name_en       text,
    parent_code   text REFERENCES kshde_units (code),
    is_active     boolean NOT NULL,
    is_sddd       boolean NOT NULL,  -- a node that can receive documents
    departments   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(departments) = 'array'),  -- [{code, name}]
    chart_version integer NOT NULL,  -- the last chart the unit was in
    synced_at     timestamptz NOT NULL,
    removed_at    timestamptz,  -- when it was first missing from the chart; NULL while it is in it
    -- folded like kep_fold, final sigma as σ (as cases.search_text): "ΔΗΜΟΣ", "Δήμος" and "δημοσ" are one text
    search_text   text GENERATED ALWAYS AS (
        translate(kep_fold(code || ' ' || name || ' ' || coalesce(name_en, '')), 'ς', 'σ')
    ) STORED,
    sort_name     text GENERATED ALWAYS AS (translate(kep_fold(name), 'ς', 'σ')) STORED
);

-- LIKE '%…%' on the folded text is served by the trigram index; the list walks (sort_name, code) by keyset
CREATE INDEX kshde_units_search_trgm ON kshde_units USING gin (search_text gin_trgm_ops);
CREATE INDEX kshde_units_sort_idx ON kshde_units (sort_name, code);
CREATE INDEX kshde_units_parent_idx ON kshde_units (parent_code);

-- One row: the chart last applied. Syncs lock it, so two at once apply one after the other.
CREATE TABLE kshde_sync (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    version    integer,
    units      integer NOT NULL DEFAULT 0,
    synced_at  timestamptz,  -- the last time a chart was applied
    checked_at timestamptz   -- the last time one was read, applied or not
);
INSERT INTO kshde_sync (id) VALUES (true);
