-- Case search: one folded text per case (number, citizen, ΑΦΜ, procedure title) under a trigram index, and the
-- indexes the list's filters and keyset pagination walk.
-- depends: 0005_case_lifecycle

-- the procedure's title as it was when the case was opened: what the employee saw, and searchable without a join
ALTER TABLE cases ADD COLUMN procedure_title text;
UPDATE cases c SET procedure_title = p.title_el FROM procedures p WHERE p.id = c.procedure_id;
ALTER TABLE cases ALTER COLUMN procedure_title SET NOT NULL;

-- folded like kep_fold, final sigma as σ: "Παπαδάκης", "ΠΑΠΑΔΑΚΗΣ" and "παπαδακησ" are one text
ALTER TABLE cases ADD COLUMN search_text text GENERATED ALWAYS AS (
    translate(kep_fold(
        number || ' ' || coalesce(citizen->>'last_name', '') || ' ' || coalesce(citizen->>'first_name', '') || ' '
        || coalesce(citizen->>'afm', '') || ' ' || procedure_title
    ), 'ς', 'σ')
) STORED;

CREATE INDEX cases_search_trgm ON cases USING gin (search_text gin_trgm_ops);
DROP INDEX cases_office_created_idx;
CREATE INDEX cases_office_created_idx ON cases (office_id, created_at DESC, id DESC);
CREATE INDEX cases_office_assignee_idx ON cases (office_id, assignee, created_at DESC, id DESC);
CREATE INDEX cases_office_status_idx ON cases (office_id, status, created_at DESC, id DESC);
CREATE INDEX cases_office_open_due_idx ON cases (office_id, due_at)
    WHERE status IN ('submitted', 'in_progress') AND due_at IS NOT NULL;
