#!/bin/bash
# Runs once, when the data directory is first created (docker-entrypoint-initdb.d of the postgres image).
# One role and one database per consumer, so a leaked application password does not open the engine's or
# Keycloak's data. pg_trgm + unaccent for case search (Greek text, accent- and case-insensitive).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v kep_pw="$KEP_DB_PASSWORD" -v engine_pw="$ENGINE_DB_PASSWORD" -v keycloak_pw="$KEYCLOAK_DB_PASSWORD" <<'SQL'
CREATE ROLE kep LOGIN PASSWORD :'kep_pw';
CREATE ROLE engine LOGIN PASSWORD :'engine_pw';
CREATE ROLE keycloak LOGIN PASSWORD :'keycloak_pw';
CREATE DATABASE kep OWNER kep;
CREATE DATABASE engine OWNER engine;
CREATE DATABASE keycloak OWNER keycloak;
\connect kep
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
SQL
