-- EUGO: EU citizens who applied online (keyed on their eIDAS identity, never an ΑΦΜ), their applications, the
-- evidence they sent, and the messages between them and the office. Owned by actors/eugo/applications.py.
-- depends: 0026_case_transfers

CREATE TABLE applicants (
    id          uuid PRIMARY KEY,
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    person_id   text NOT NULL,
    given_name  text,
    family_name text,
    birthdate   date,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (country, person_id)
);

-- An application is kept whether or not a rule routes it: `unrouted` ones wait for an administrator (a rule, then
-- POST /api/admin/eugo/applications/{id}/route). `case_id` is chosen when the application is made, so the evidence
-- is stored once under the case's keys and opening the case again after a failure opens the same case.
CREATE TABLE eugo_applications (
    id              uuid PRIMARY KEY,
    applicant_id    uuid NOT NULL REFERENCES applicants (id),
    procedure_id    uuid NOT NULL REFERENCES procedures (id),
    form_data       jsonb NOT NULL,
    email           text NOT NULL,
    municipality    text,
    region          text,
    status          text NOT NULL CHECK (status IN ('routed', 'unrouted')),
    planned_case_id uuid NOT NULL UNIQUE,
    case_id         uuid UNIQUE REFERENCES cases (id),
    routing         jsonb,             -- the resolution that named the office, or why none did
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'routed') = (case_id IS NOT NULL)),
    UNIQUE (applicant_id, idempotency_key)
);
CREATE INDEX eugo_applications_applicant_idx ON eugo_applications (applicant_id, created_at DESC);
CREATE INDEX eugo_applications_unrouted_idx ON eugo_applications (created_at) WHERE status = 'unrouted';

-- Evidence sent with an application, stored under the case's document keys before the case exists; attached to the
-- case (its documents table) once it is routed.
CREATE TABLE eugo_application_files (
    document_id    uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES eugo_applications (id),
    kind           text NOT NULL,
    filename       text NOT NULL,
    content_type   text NOT NULL,
    size_bytes     bigint NOT NULL,
    sha256         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eugo_application_files_app_idx ON eugo_application_files (application_id);

-- What the office writes to the citizen and what the citizen answers; each is also a note on the case's timeline.
-- Ordinary notes stay internal: only these are shown to the citizen.
CREATE TABLE eugo_messages (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES eugo_applications (id),
    sender         text NOT NULL CHECK (sender IN ('office', 'citizen')),
    author         text NOT NULL,
    body           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eugo_messages_app_idx ON eugo_messages (application_id, created_at);
