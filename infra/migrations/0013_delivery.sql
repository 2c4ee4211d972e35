-- Delivery of a case's result: the effect ledger of calls to systems outside (one row per effect of a process
-- step, keyed like the case commands the steps make), the deliveries a case had and where each stands, and the
-- ΚΣΗΔΕ recipient a procedure's results go to (none: the citizen).
-- depends: 0012_ked_audit

-- An effect on a system outside, once: `started` before the remote call (with the idempotency key it carries),
-- `remote_ref` as soon as the remote side named what it made (a ΚΣΗΔΕ protocol number, a posting), `done` with
-- the result the step returns; a redelivered or re-fetched task finds it done and calls nobody.
CREATE TABLE external_effects (
    key              text PRIMARY KEY,  -- process instance / activity instance / effect
    case_id          uuid NOT NULL REFERENCES cases (id),
    adapter          text NOT NULL,
    effect           text NOT NULL,
    idempotency_key  uuid NOT NULL UNIQUE,
    state            text NOT NULL CHECK (state IN ('started', 'done')),
    remote_ref       text,
    result           jsonb,
    attempts         integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    started_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz
);
CREATE INDEX external_effects_case_idx ON external_effects (case_id);

-- What was delivered to whom, and (for the mailbox) how far its service has come.
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    case_id          uuid NOT NULL REFERENCES cases (id),
    office_id        uuid NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('mailbox', 'kshde', 'physical')),
    document_id      uuid REFERENCES documents (id),
    recipient        text,              -- the ΚΣΗΔΕ SectorCode; the mailbox's is the citizen's ΑΦΜ (in the case)
    remote_ref       text,              -- posting id, ΚΣΗΔΕ protocol number
    status           text NOT NULL,     -- posted, notified, opened, deemed_served; sent; handed_over
    status_at        timestamptz NOT NULL DEFAULT now(),
    deemed_served_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, channel, remote_ref)
);
CREATE INDEX deliveries_case_idx ON deliveries (case_id);
-- what the mailbox tracker still follows
CREATE INDEX deliveries_following_idx ON deliveries (status_at)
    WHERE channel = 'mailbox' AND status NOT IN ('opened', 'deemed_served');

ALTER TABLE procedures ADD COLUMN delivery_recipient text
    CHECK (delivery_recipient IS NULL OR delivery_recipient ~ '^[A-Za-z0-9._-]{1,64}$');
