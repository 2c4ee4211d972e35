-- Statistics (issue 17, part 8): aggregates kept by the kep-statistics consumer from the case events, in the
-- transaction that records the event it applied (stat_applied), so a redelivered event applies once. stat_cases is
-- the last state the statistics saw of each case (its version guards against an event seen before, also after a
-- rebuild from case_events). Days are Europe/Athens days. Written only by actors/statistics.
-- depends: 0018_news

CREATE TABLE stat_applied (
    event_id    uuid PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stat_cases (
    case_id       uuid PRIMARY KEY,
    office_id     uuid NOT NULL,
    procedure_id  uuid NOT NULL,
    channel       text NOT NULL,
    status        text NOT NULL,
    since         timestamptz NOT NULL,  -- when it entered its status
    assignee      text,
    due_at        timestamptz,
    opened_at     timestamptz NOT NULL,
    version       integer NOT NULL
);

CREATE TABLE stat_volumes (
    office_id     uuid NOT NULL,
    day           date NOT NULL,
    procedure_id  uuid NOT NULL,
    channel       text NOT NULL,
    opened        integer NOT NULL DEFAULT 0,
    completed     integer NOT NULL DEFAULT 0,
    rejected      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, day, procedure_id, channel)
);
-- every office over a range: an index-only scan
CREATE INDEX stat_volumes_day_idx ON stat_volumes (day)
    INCLUDE (office_id, procedure_id, opened, completed, rejected);

-- a stay in a status, counted on the day it ended
CREATE TABLE stat_status_time (
    office_id     uuid NOT NULL,
    day           date NOT NULL,
    procedure_id  uuid NOT NULL,
    status        text NOT NULL,
    stays         integer NOT NULL DEFAULT 0,
    seconds       double precision NOT NULL DEFAULT 0,
    max_seconds   double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, day, procedure_id, status)
);
CREATE INDEX stat_status_time_day_idx ON stat_status_time (day)
    INCLUDE (office_id, procedure_id, status, stays, seconds, max_seconds);

-- completions against the case's due date (or the procedure's Mitos duration from its opening)
CREATE TABLE stat_compliance (
    office_id      uuid NOT NULL,
    day            date NOT NULL,
    procedure_id   uuid NOT NULL,
    on_time        integer NOT NULL DEFAULT 0,
    late           integer NOT NULL DEFAULT 0,
    late_days      bigint NOT NULL DEFAULT 0,   -- summed over the late ones
    max_late_days  integer NOT NULL DEFAULT 0,
    no_deadline    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, day, procedure_id)
);
CREATE INDEX stat_compliance_day_idx ON stat_compliance (day)
    INCLUDE (office_id, procedure_id, on_time, late, late_days, max_late_days, no_deadline);

-- cases in each status now (counters)
CREATE TABLE stat_backlog (
    office_id  uuid NOT NULL,
    status     text NOT NULL,
    cases      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, status)
);

-- open cases (submitted, in progress, suspended) per assignee now
CREATE TABLE stat_workload (
    office_id  uuid NOT NULL,
    assignee   text NOT NULL,
    cases      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, assignee)
);
