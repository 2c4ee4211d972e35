-- Exact lookups for the identifiers people paste into the search box: a ΑΦΜ or a whole case number.
-- depends: 0006_case_search

CREATE INDEX cases_office_afm_idx ON cases (office_id, (citizen->>'afm'));
