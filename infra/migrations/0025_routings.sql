-- Routings (issue 17, part 5): which office is competent for a procedure, by the citizen's municipality or
-- region and the channel the case came through; a rule with none of them is the procedure's default. A
-- municipality is known by its region (Ηρακλείου is in Αττική and in Κρήτη), so a municipality rule names both.
-- Regions are the 13 of Kallikratis, in Greek, nominative; municipalities free text, compared folded (case,
-- accents, final sigma aside) as offices' search_text is. Two active rules never share a key: a unique index over
-- the coalesced keys. Only actors/routings reads and writes them; changes audited in admin_audit (entity
-- 'routing'). (0023, 0024 and 0026 are others'.)
-- depends: 0022_external_apps

CREATE TABLE routings (
    id               uuid PRIMARY KEY,
    procedure_id     uuid NOT NULL REFERENCES procedures (id),
    region           text CHECK (region IN (
        'Ανατολική Μακεδονία και Θράκη', 'Κεντρική Μακεδονία', 'Δυτική Μακεδονία', 'Ήπειρος', 'Θεσσαλία',
        'Ιόνια Νησιά', 'Δυτική Ελλάδα', 'Στερεά Ελλάδα', 'Αττική', 'Πελοπόννησος', 'Βόρειο Αιγαίο',
        'Νότιο Αιγαίο', 'Κρήτη'
    )),
    municipality     text CHECK (char_length(municipality) BETWEEN 1 AND 200),
    channel          text CHECK (channel IN ('counter', 'phone', 'online', 'eugo')),
    office_id        uuid NOT NULL REFERENCES offices (id),
    active           boolean NOT NULL DEFAULT true,
    note             text CHECK (char_length(note) BETWEEN 1 AND 500),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- folded like offices.search_text: "ΑΘΗΝΑΙΩΝ" and "Αθηναίων" are one municipality
    municipality_key text GENERATED ALWAYS AS (translate(kep_fold(municipality), 'ς', 'σ')) STORED,
    -- the precedence of a match: municipality+channel 5, municipality 4, region+channel 3, region 2, channel 1,
    -- default 0
    specificity      smallint GENERATED ALWAYS AS (
        CASE WHEN municipality IS NOT NULL THEN 4 WHEN region IS NOT NULL THEN 2 ELSE 0 END
        + CASE WHEN channel IS NOT NULL THEN 1 ELSE 0 END
    ) STORED,
    CONSTRAINT routings_municipality_region CHECK (municipality IS NULL OR region IS NOT NULL)
);

-- two active rules for one key would tie; an inactive one may wait beside its successor
CREATE UNIQUE INDEX routings_one_per_key ON routings (
    procedure_id, coalesce(region, ''), coalesce(municipality_key, ''), coalesce(channel, '')
) WHERE active;
CREATE INDEX routings_office_idx ON routings (office_id);
CREATE INDEX routings_region_idx ON routings (region, procedure_id) WHERE active;
