-- A person whose account is deactivated leaves every position they hold or were to hold, as a person moved to
-- another office leaves that office's (0021): one trigger function for both, the reason and the offices concerned
-- given by the trigger. Held assignments end now, later ones go; each is a `vacate` in admin_audit.
-- depends: 0033_eugo_application_fingerprint

CREATE FUNCTION positions_leave() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
    every_office boolean := TG_ARGV[1] = 'every office';
BEGIN
    FOR a IN SELECT id, position_id, period FROM position_assignments
             WHERE subject = NEW.subject AND (every_office OR office_id IS DISTINCT FROM NEW.office_id)
               AND (upper(period) IS NULL OR upper(period) > now())
             FOR UPDATE
    LOOP
        IF lower(a.period) >= now() THEN
            DELETE FROM position_assignments WHERE id = a.id;
        ELSE
            UPDATE position_assignments SET period = tstzrange(lower(a.period), now(), '[)') WHERE id = a.id;
        END IF;
        INSERT INTO admin_audit (entity, entity_id, action, actor, reason, old, new)
        VALUES ('position', a.position_id::text, 'vacate', 'system:users', TG_ARGV[0],
                jsonb_build_object('subject', NEW.subject, 'from', lower(a.period), 'to', upper(a.period)),
                jsonb_build_object('subject', NEW.subject, 'from', lower(a.period),
                                   'to', CASE WHEN lower(a.period) >= now() THEN NULL ELSE now() END));
    END LOOP;
    RETURN NEW;
END $$;

DROP TRIGGER users_leave_positions ON users;
DROP FUNCTION positions_leave_on_move();
CREATE TRIGGER users_leave_positions AFTER UPDATE OF office_id ON users
    FOR EACH ROW WHEN (OLD.office_id IS DISTINCT FROM NEW.office_id)
    EXECUTE FUNCTION positions_leave('moved to another office', 'the office left');
CREATE TRIGGER users_leave_positions_on_deactivation AFTER UPDATE OF active ON users
    FOR EACH ROW WHEN (OLD.active AND NOT NEW.active)
    EXECUTE FUNCTION positions_leave('account deactivated', 'every office');
