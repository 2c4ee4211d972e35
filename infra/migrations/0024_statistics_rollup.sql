-- Statistics per month, and per office (at the end; issue 17, part 8): the daily stat_volumes, stat_status_time and
-- stat_compliance summed per calendar month (Europe/Athens days, `month` its first day), kept by the kep-statistics consumer in the same
-- transaction that adds to the daily rows, and by the rebuild from them. A report over whole months reads these
-- (a year of every office is some 12 000 rows here against 600 000 daily ones at a million cases) and the daily rows
-- only for the days at the range's ends. Without the channel: no report breaks volumes down by it. Written only by
-- actors/statistics. Also an index on stat_applied.applied_at: the consumer prunes the ids older than the broker
-- could still deliver again (a case's version guards an event after that).
-- depends: 0019_statistics

CREATE TABLE stat_volumes_month (
    office_id     uuid NOT NULL,
    month         date NOT NULL,
    procedure_id  uuid NOT NULL,
    opened        integer NOT NULL DEFAULT 0,
    completed     integer NOT NULL DEFAULT 0,
    rejected      integer NOT NULL DEFAULT 0,
    -- covering: a report of some offices (one, or a page's few) reads only the index (the counts change with every
    -- event, so the updates are not HOT anyway: the month index below covers them too)
    PRIMARY KEY (office_id, month, procedure_id) INCLUDE (opened, completed, rejected)
);
-- every office over whole months: an index-only scan, like the daily tables' (day) INCLUDE indexes
CREATE INDEX stat_volumes_month_month_idx ON stat_volumes_month (month)
    INCLUDE (office_id, procedure_id, opened, completed, rejected);

CREATE TABLE stat_status_time_month (
    office_id     uuid NOT NULL,
    month         date NOT NULL,
    procedure_id  uuid NOT NULL,
    status        text NOT NULL,
    stays         integer NOT NULL DEFAULT 0,
    seconds       double precision NOT NULL DEFAULT 0,
    max_seconds   double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, month, procedure_id, status) INCLUDE (stays, seconds, max_seconds)
);
CREATE INDEX stat_status_time_month_month_idx ON stat_status_time_month (month)
    INCLUDE (office_id, procedure_id, status, stays, seconds, max_seconds);

CREATE TABLE stat_compliance_month (
    office_id      uuid NOT NULL,
    month          date NOT NULL,
    procedure_id   uuid NOT NULL,
    on_time        integer NOT NULL DEFAULT 0,
    late           integer NOT NULL DEFAULT 0,
    late_days      bigint NOT NULL DEFAULT 0,
    max_late_days  integer NOT NULL DEFAULT 0,
    no_deadline    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, month, procedure_id) INCLUDE (on_time, late, late_days, max_late_days, no_deadline)
);
CREATE INDEX stat_compliance_month_month_idx ON stat_compliance_month (month)
    INCLUDE (office_id, procedure_id, on_time, late, late_days, max_late_days, no_deadline);

-- what the daily rows already hold (the same sums as actors/statistics/store.py's refresh_rollup)
INSERT INTO stat_volumes_month (office_id, month, procedure_id, opened, completed, rejected)
SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(opened), sum(completed), sum(rejected)
FROM stat_volumes GROUP BY 1, 2, 3;

INSERT INTO stat_status_time_month (office_id, month, procedure_id, status, stays, seconds, max_seconds)
SELECT office_id, date_trunc('month', day)::date, procedure_id, status, sum(stays), sum(seconds), max(max_seconds)
FROM stat_status_time GROUP BY 1, 2, 3, 4;

INSERT INTO stat_compliance_month (office_id, month, procedure_id, on_time, late, late_days, max_late_days,
                                   no_deadline)
SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(on_time), sum(late), sum(late_days),
       max(max_late_days), sum(no_deadline)
FROM stat_compliance GROUP BY 1, 2, 3;

CREATE INDEX stat_applied_applied_at_idx ON stat_applied (applied_at);

-- The same per office and day, summed over procedures and channels: what `by=office` (one office against another)
-- reads, for any period; every office over a year is 15 000 rows here against 600 000 daily ones per procedure.
CREATE TABLE stat_volumes_office (
    office_id  uuid NOT NULL,
    day        date NOT NULL,
    opened     integer NOT NULL DEFAULT 0,
    completed  integer NOT NULL DEFAULT 0,
    rejected   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, day) INCLUDE (opened, completed, rejected)
);
CREATE INDEX stat_volumes_office_day_idx ON stat_volumes_office (day) INCLUDE (office_id, opened, completed, rejected);

CREATE TABLE stat_status_time_office (
    office_id    uuid NOT NULL,
    day          date NOT NULL,
    status       text NOT NULL,
    stays        integer NOT NULL DEFAULT 0,
    seconds      double precision NOT NULL DEFAULT 0,
    max_seconds  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, day, status) INCLUDE (stays, seconds, max_seconds)
);
CREATE INDEX stat_status_time_office_day_idx ON stat_status_time_office (day)
    INCLUDE (office_id, status, stays, seconds, max_seconds);

CREATE TABLE stat_compliance_office (
    office_id      uuid NOT NULL,
    day            date NOT NULL,
    on_time        integer NOT NULL DEFAULT 0,
    late           integer NOT NULL DEFAULT 0,
    late_days      bigint NOT NULL DEFAULT 0,
    max_late_days  integer NOT NULL DEFAULT 0,
    no_deadline    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, day) INCLUDE (on_time, late, late_days, max_late_days, no_deadline)
);
CREATE INDEX stat_compliance_office_day_idx ON stat_compliance_office (day)
    INCLUDE (office_id, on_time, late, late_days, max_late_days, no_deadline);

INSERT INTO stat_volumes_office (office_id, day, opened, completed, rejected)
SELECT office_id, day, sum(opened), sum(completed), sum(rejected) FROM stat_volumes GROUP BY 1, 2;

INSERT INTO stat_status_time_office (office_id, day, status, stays, seconds, max_seconds)
SELECT office_id, day, status, sum(stays), sum(seconds), max(max_seconds) FROM stat_status_time GROUP BY 1, 2, 3;

INSERT INTO stat_compliance_office (office_id, day, on_time, late, late_days, max_late_days, no_deadline)
SELECT office_id, day, sum(on_time), sum(late), sum(late_days), max(max_late_days), sum(no_deadline)
FROM stat_compliance GROUP BY 1, 2;
