-- Offices as administrators keep them: address, region, contact details, opening hours, and the org chart (each
-- office's parent: a ΚΕΠ under its central administration). Every new column may be empty, so the offices written
-- with only code, kind and name (the demo seed, tests) stay valid. Only actors/offices writes them.
-- depends: 0016_adapter_settings

ALTER TABLE offices
    ADD COLUMN address        text,
    ADD COLUMN postal_code    text CHECK (postal_code ~ '^[0-9]{5}$'),
    ADD COLUMN regional_unit  text,
    ADD COLUMN region         text,
    ADD COLUMN phone          text,
    ADD COLUMN email          text,
    ADD COLUMN website        text,
    -- {"mon": [{"opens": "08:00", "closes": "15:00"}], ..., "note": ...}, validated by messages.offices.OpeningHours
    ADD COLUMN opening_hours  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(opening_hours) = 'object'),
    ADD COLUMN parent_id      uuid REFERENCES offices (id) CHECK (parent_id <> id),
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now(),
    -- folded like kep_fold, final sigma as σ (as cases.search_text): "ΚΕΠ Αθηναίων" is found by "αθηναιων"
    ADD COLUMN search_text    text GENERATED ALWAYS AS (
        translate(kep_fold(code || ' ' || name_el || ' ' || coalesce(name_en, '')), 'ς', 'σ')
    ) STORED;

CREATE INDEX offices_search_trgm ON offices USING gin (search_text gin_trgm_ops);
CREATE INDEX offices_parent_idx ON offices (parent_id);

-- No cycles in the org chart, whoever writes: a new or changed parent is walked up to the root, and never meets
-- the office itself. Parent changes take one lock (the store takes it too, to say which field is wrong before
-- writing), so two changes that would close a cycle between them cannot both pass.
CREATE FUNCTION offices_before_write() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    up   uuid := NEW.parent_id;
    hops integer := 0;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    IF NEW.parent_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.parent_id IS DISTINCT FROM OLD.parent_id) THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('offices:chart', 0));
        WHILE up IS NOT NULL LOOP
            IF up = NEW.id OR hops > 1000 THEN
                RAISE EXCEPTION 'office % under % would make a cycle in the org chart', NEW.id, NEW.parent_id
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'offices_no_cycle';
            END IF;
            SELECT parent_id INTO up FROM offices WHERE id = up;
            hops := hops + 1;
        END LOOP;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER offices_before_write BEFORE INSERT OR UPDATE ON offices
    FOR EACH ROW EXECUTE FUNCTION offices_before_write();
