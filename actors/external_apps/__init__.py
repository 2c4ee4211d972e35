"""External applications and their Keycloak clients (issue 17, part 6)."""
