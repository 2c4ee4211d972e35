-- When the administrators were mailed about an application no routing rule could send to an office (null: not yet).
-- depends: 0035_positions_leave_on_deactivation

ALTER TABLE eugo_applications ADD COLUMN alerted_at timestamptz;
CREATE INDEX eugo_applications_to_alert_idx ON eugo_applications (created_at)
    WHERE status = 'unrouted' AND alerted_at IS NULL;
