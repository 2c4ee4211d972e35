-- Case lifecycle: suspension (the clock stops), and the command id that makes a re-sent command apply once.
-- depends: 0004_procedure_settings

ALTER TABLE cases
    ADD COLUMN suspended_at    timestamptz,
    ADD COLUMN suspended_from  text;

ALTER TABLE case_events ADD COLUMN command_id uuid UNIQUE;
