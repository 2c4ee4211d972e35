"""Organisational positions (οργανικές θέσεις): the only package that reads and writes `positions` and
`position_assignments` (`store.py`); every change audited in `admin_audit` (entity `position`) in its own
transaction; no two assignments of one position overlap, nor two of one person in one office (the table's exclusion
constraints)."""
