-- Service points (issue 17, part 4): where citizens are served (a ΚΕΠ's counters, satellite points, kiosks), each
-- belonging to an office, with its location (PostGIS geography, WGS84), opening hours (the model of the offices'
-- hours, messages.offices.OpeningHours) and the services it offers: procedure ids, or whole categories of
-- procedures (procedures.categories). "Nearest" is a KNN scan of the GiST index (ORDER BY location <-> point),
-- bounded by ST_DWithin. Only actors/service_points reads and writes them; changes audited in admin_audit
-- (entity 'service_point'). PostGIS: Debian's postgresql-15-postgis-3 (`./dev` installs it); the stack's role is
-- the cluster's superuser, as for pg_trgm and unaccent in 0001. (0019 is another's.)
-- depends: 0018_news

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE service_points (
    id             uuid PRIMARY KEY,
    office_id      uuid NOT NULL REFERENCES offices (id),
    kind           text NOT NULL CHECK (kind IN ('counter', 'satellite', 'kiosk')),
    name_el        text NOT NULL CHECK (char_length(name_el) BETWEEN 1 AND 200),
    name_en        text CHECK (char_length(name_en) BETWEEN 1 AND 200),
    address        text NOT NULL CHECK (char_length(address) BETWEEN 1 AND 500),
    postal_code    text CHECK (postal_code ~ '^[0-9]{5}$'),
    municipality   text,
    location       geography(Point, 4326) NOT NULL,
    -- {"mon": [{"opens": "08:00", "closes": "15:00"}], ..., "note": ...}, validated by messages.offices.OpeningHours
    opening_hours  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(opening_hours) = 'object'),
    procedure_ids  uuid[] NOT NULL DEFAULT '{}',
    categories     text[] NOT NULL DEFAULT '{}',
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- folded like offices.search_text: names, address, municipality and postal code
    search_text    text GENERATED ALWAYS AS (
        translate(kep_fold(name_el || ' ' || coalesce(name_en, '') || ' ' || address || ' '
                           || coalesce(municipality, '') || ' ' || coalesce(postal_code, '')), 'ς', 'σ')
    ) STORED
);

CREATE INDEX service_points_location_gist ON service_points USING gist (location);
CREATE INDEX service_points_office_idx ON service_points (office_id);
CREATE INDEX service_points_procedures_gin ON service_points USING gin (procedure_ids);
CREATE INDEX service_points_search_trgm ON service_points USING gin (search_text gin_trgm_ops);
