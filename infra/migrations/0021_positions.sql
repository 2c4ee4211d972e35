-- Organisational positions (οργανικές θέσεις; issue 17, part 3) per office: title, category (ΠΕ/ΤΕ/ΔΕ/ΥΕ) with a
-- rank, branch/specialty, active; who held each when (position_assignments, a half-open tstzrange [from, to), to
-- NULL while held). Two assignments of one position never overlap, nor two of one person in one office: exclusion
-- constraints (btree_gist). A person moved to another office leaves their position there (the trigger on users
-- closes the assignment and audits it). Only actors/positions reads and writes them; changes audited in
-- admin_audit (entity 'position').
-- depends: 0020_service_points

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE positions (
    id          uuid PRIMARY KEY,
    office_id   uuid NOT NULL REFERENCES offices (id),
    title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    category    text NOT NULL CHECK (category IN ('ΠΕ', 'ΤΕ', 'ΔΕ', 'ΥΕ')),
    grade       text CHECK (grade IN ('Α', 'Β', 'Γ', 'Δ', 'Ε', 'ΣΤ')),
    branch      text CHECK (char_length(branch) BETWEEN 1 AND 200),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, office_id)
);
CREATE INDEX positions_office_idx ON positions (office_id);

CREATE TABLE position_assignments (
    id           uuid PRIMARY KEY,
    position_id  uuid NOT NULL,
    office_id    uuid NOT NULL,
    subject      text NOT NULL REFERENCES users (subject),
    period       tstzrange NOT NULL CHECK (
        NOT isempty(period) AND NOT lower_inf(period) AND lower_inc(period) AND NOT upper_inc(period)
    ),
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (position_id, office_id) REFERENCES positions (id, office_id),
    CONSTRAINT position_assignments_no_overlap EXCLUDE USING gist (position_id WITH =, period WITH &&),
    CONSTRAINT position_assignments_one_per_person EXCLUDE USING gist (office_id WITH =, subject WITH =, period WITH &&)
);
CREATE INDEX position_assignments_subject_idx ON position_assignments (subject);

-- a person moved to another office leaves the positions of the office they left: held ones end now, later ones go
CREATE FUNCTION positions_leave_on_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT id, position_id, period FROM position_assignments
             WHERE subject = NEW.subject AND office_id IS DISTINCT FROM NEW.office_id
               AND (upper(period) IS NULL OR upper(period) > now())
             FOR UPDATE
    LOOP
        IF lower(a.period) >= now() THEN
            DELETE FROM position_assignments WHERE id = a.id;
        ELSE
            UPDATE position_assignments SET period = tstzrange(lower(a.period), now(), '[)') WHERE id = a.id;
        END IF;
        INSERT INTO admin_audit (entity, entity_id, action, actor, reason, old, new)
        VALUES ('position', a.position_id::text, 'vacate', 'system:users', 'moved to another office',
                jsonb_build_object('subject', NEW.subject, 'from', lower(a.period), 'to', upper(a.period)),
                jsonb_build_object('subject', NEW.subject, 'from', lower(a.period),
                                   'to', CASE WHEN lower(a.period) >= now() THEN NULL ELSE now() END));
    END LOOP;
    RETURN NEW;
END $$;

CREATE TRIGGER users_leave_positions AFTER UPDATE OF office_id ON users
    FOR EACH ROW WHEN (OLD.office_id IS DISTINCT FROM NEW.office_id) EXECUTE FUNCTION positions_leave_on_move();
