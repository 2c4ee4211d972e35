"""Offices and their org chart: the only package that reads and writes the `offices` table's administered fields
(`store.py`); every change audited in `admin_audit` in its own transaction."""
