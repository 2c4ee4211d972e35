-- Idempotency keys bound to who sent them and what they protect; who suspended a case; the effect ledger goes
-- (no handler has an effect outside PostgreSQL: a case command's id is its exactly-once key).
-- depends: 0009_task_effects

-- A client's Idempotency-Key, per office and caller: the request it came with (route, case, action, body hash)
-- and the answer it got. The same key again with the same request gets that answer; with another request, 422.
CREATE TABLE idempotency_keys (
    office_id    uuid NOT NULL,
    subject      text NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint  text NOT NULL,
    status       integer,
    answer       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (office_id, subject, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

ALTER TABLE cases DROP COLUMN request_key;
ALTER TABLE cases ADD COLUMN suspended_by text;

DROP TABLE task_effects;
