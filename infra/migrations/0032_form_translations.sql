-- A form version's translations, in Form.io's `i18n` shape: {"en": {"<text of the definition>": "<translation>"}}.
-- Saved with the version (a wording change is a new version, as a definition change is); EUGO shows citizens the
-- form in English through them.
-- depends: 0031_procedure_min_loa

ALTER TABLE forms ADD COLUMN translations jsonb NOT NULL DEFAULT '{}'::jsonb;
