-- Exactly-once effects of external-task handlers: one row per (process instance, activity instance, effect),
-- written in the transaction of the effect itself, so a redelivered or re-fetched task finds it done.
-- depends: 0008_attachment_limits

CREATE TABLE task_effects (
    process_instance_id   text NOT NULL,
    activity_instance_id  text NOT NULL,
    effect                text NOT NULL,
    result                jsonb NOT NULL DEFAULT '{}',
    done_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (process_instance_id, activity_instance_id, effect)
);
