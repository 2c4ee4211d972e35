"""The users domain, the one owner of the `users` table: who works for which office. `store.py` administers the
accounts (each one mirrored into Keycloak by `keycloak.py`, every change audited, entity `user`); `members.py` is
the per-request membership read."""
