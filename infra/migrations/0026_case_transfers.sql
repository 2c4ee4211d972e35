-- Cases handed over to another office: who moved which case from where to where, why, and by which routing rule.
-- depends: 0022_external_apps

-- A case keeps its number (office code, year, sequence) when it moves: the number stays unique, but the sequence is
-- the office's that opened it, so it may equal one of the new office's own (the counters make sequences unique).
ALTER TABLE cases DROP CONSTRAINT cases_office_id_year_seq_key;

CREATE TABLE case_transfers (
    id             bigserial PRIMARY KEY,
    case_id        uuid NOT NULL REFERENCES cases (id),
    command_id     uuid NOT NULL UNIQUE,
    from_office_id uuid NOT NULL REFERENCES offices (id),
    to_office_id   uuid NOT NULL REFERENCES offices (id),
    actor          text NOT NULL,
    reason         text NOT NULL,
    request_id     text,
    routing        jsonb,              -- the rule that named the office, and why (null: named by the supervisor)
    at             timestamptz NOT NULL DEFAULT now(),
    CHECK (from_office_id <> to_office_id)
);
CREATE INDEX case_transfers_case_idx ON case_transfers (case_id, id);
CREATE INDEX case_transfers_from_idx ON case_transfers (from_office_id, id DESC);
CREATE INDEX case_transfers_to_idx ON case_transfers (to_office_id, id DESC);
