"""Service points (where citizens are served: a ΚΕΠ's counters, satellite points, kiosks): the only package that
reads and writes the `service_points` table (`store.py`); every change audited in `admin_audit` (entity
`service_point`) in its own transaction; the nearest answered by the GiST index of their locations."""
