-- Data model v1: offices, users, procedures, forms, cases, their audit trail, documents, and the outbox.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE; an IMMUTABLE wrapper with a fixed dictionary lets it appear in indexes.
CREATE OR REPLACE FUNCTION kep_fold(txt text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, txt)) $$;

CREATE TABLE offices (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
    kind        text NOT NULL CHECK (kind IN ('kep', 'eke', 'central')),
    name_el     text NOT NULL,
    name_en     text,
    municipality text,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    subject      text NOT NULL UNIQUE,
    office_id    uuid REFERENCES offices (id),
    display_name text NOT NULL,
    email        text,
    roles        text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_office_idx ON users (office_id);

CREATE TABLE procedures (
    id              uuid PRIMARY KEY,
    mitos_id        text NOT NULL UNIQUE,
    title_el        text NOT NULL,
    title_en        text,
    owner_org       text,
    categories      text[] NOT NULL DEFAULT '{}',
    eugo            boolean NOT NULL DEFAULT false,
    mykeplive       boolean NOT NULL DEFAULT false,
    duration_days   integer,
    payload         jsonb NOT NULL,
    mitos_updated_at timestamptz,
    synced_at       timestamptz NOT NULL DEFAULT now(),
    -- Local fields: a Mitos sync never overwrites these.
    active          boolean NOT NULL DEFAULT false,
    form_key        text,
    bpmn_process_key text
);
CREATE INDEX procedures_title_trgm ON procedures USING gin (kep_fold(title_el) gin_trgm_ops);

CREATE TABLE forms (
    id          uuid PRIMARY KEY,
    key         text NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    title       text NOT NULL,
    definition  jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (key, version)
);

-- One row per office and year; UPDATE ... RETURNING on it hands out case numbers without gaps or clashes.
CREATE TABLE case_number_counters (
    office_id  uuid NOT NULL REFERENCES offices (id),
    year       integer NOT NULL,
    last_value integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, year)
);

CREATE TABLE cases (
    id             uuid PRIMARY KEY,
    office_id      uuid NOT NULL REFERENCES offices (id),
    year           integer NOT NULL,
    seq            integer NOT NULL,
    number         text NOT NULL UNIQUE,
    procedure_id   uuid NOT NULL REFERENCES procedures (id),
    form_id        uuid REFERENCES forms (id),
    status         text NOT NULL,
    citizen        jsonb NOT NULL,
    form_data      jsonb NOT NULL DEFAULT '{}',
    assignee       text,
    channel        text NOT NULL DEFAULT 'counter',
    due_at         timestamptz,
    version        integer NOT NULL DEFAULT 1,
    -- The client's Idempotency-Key: a retried POST finds the case it already made.
    request_key    text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    status_changed_at jsonb NOT NULL DEFAULT '{}',
    UNIQUE (office_id, year, seq),
    UNIQUE (office_id, request_key)
);
CREATE INDEX cases_office_created_idx ON cases (office_id, created_at DESC, id);
CREATE INDEX cases_procedure_idx ON cases (procedure_id);

CREATE TABLE case_events (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    office_id   uuid NOT NULL,
    type        text NOT NULL,
    actor       text NOT NULL,
    reason      text,
    request_id  text,
    old         jsonb,
    new         jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);

CREATE TABLE documents (
    id            uuid PRIMARY KEY,
    case_id       uuid NOT NULL REFERENCES cases (id),
    office_id     uuid NOT NULL,
    kind          text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_key   text NOT NULL UNIQUE,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_case_idx ON documents (case_id);

-- Events written in the same transaction as the change they report; the relay publishes and stamps them.
CREATE TABLE outbox (
    id            uuid PRIMARY KEY,
    type          text NOT NULL,
    routing_key   text NOT NULL,
    envelope      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending_idx ON outbox (created_at) WHERE published_at IS NULL;

-- Wake the relay as soon as an event commits instead of waiting for its next poll.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kep_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
