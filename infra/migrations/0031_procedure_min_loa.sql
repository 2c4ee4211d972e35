-- The lowest eIDAS level of assurance at which a citizen of another member state may apply online for a procedure
-- through EUGO (null: any); administrators set it with the procedure's other local fields.
-- depends: 0030_eugo_notifications

ALTER TABLE procedures ADD COLUMN eugo_min_loa text CHECK (eugo_min_loa IN ('low', 'substantial', 'high'));
