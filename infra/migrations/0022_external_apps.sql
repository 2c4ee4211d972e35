-- The external applications employees use (issue 17, part 6): each one an OIDC client in Keycloak (client_id, and
-- Keycloak's own id of it), opened by the roles and offices listed (an empty list: every one). Never deleted: an
-- application that is no longer used is inactive (its client disabled). Only actors/external_apps writes them;
-- changes audited in admin_audit (entity 'external_app').
-- depends: 0020_service_points

CREATE TABLE external_apps (
    id           uuid PRIMARY KEY,
    client_id    text NOT NULL UNIQUE CHECK (client_id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    keycloak_id  text NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url          text NOT NULL CHECK (url ~* '^https?://'),
    description  text,
    icon         text,
    roles        text[] NOT NULL DEFAULT '{}',
    office_ids   uuid[] NOT NULL DEFAULT '{}',
    scopes       text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX external_apps_offices_idx ON external_apps USING gin (office_ids);
