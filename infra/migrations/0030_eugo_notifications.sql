-- The e-mails sent to applicants when their case changed status, one per case event (actors/eugo/notifier.py): a
-- redelivered event finds its row and sends nothing again. A migration of its own: databases had applied 0029
-- before this table was written into it.
-- depends: 0029_eugo_applications

CREATE TABLE eugo_notifications (
    event_id       uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES eugo_applications (id),
    email          text NOT NULL,
    status         text NOT NULL,
    sent_at        timestamptz NOT NULL DEFAULT now()
);
