-- People administration (issue 17, part 2): administrators create, change, move and deactivate the staff's accounts
-- through the API, each one mirrored into Keycloak (whose id for the user is `subject`). The username is Keycloak's
-- (lower case, fixed once made); rows made before (the demo seed, the tests' token helper) have none. Only
-- actors/users writes these rows; changes audited in admin_audit (entity 'user').
-- depends: 0022_external_apps

ALTER TABLE users
    ADD COLUMN username       text UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,62}$'),
    ADD COLUMN given_name     text CHECK (char_length(given_name) BETWEEN 1 AND 100),
    ADD COLUMN family_name    text CHECK (char_length(family_name) BETWEEN 1 AND 100),
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN deactivated_at timestamptz,
    -- what `q` searches, folded as the offices' and the cases' are (case, accents, final sigma aside)
    ADD COLUMN search_text    text GENERATED ALWAYS AS (
        translate(kep_fold(coalesce(username, '') || ' ' || display_name || ' ' || coalesce(email, '')), 'ς', 'σ')
    ) STORED;

CREATE INDEX users_search_trgm ON users USING gin (search_text gin_trgm_ops);
CREATE INDEX users_roles_idx ON users USING gin (roles);
