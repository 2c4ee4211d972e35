"""The statistics' rule for one case event: what it adds, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from actors.statistics.rules import Seen, late_days, step

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
OFFICE, PROCEDURE, CASE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _ev(opened: bool, status: str, version: int, at: datetime, assignee: str | None = None) -> Seen:
    return Seen(CASE, OFFICE, PROCEDURE, opened, status, assignee, None, version, at, "online")


def test_a_late_completion_counts_its_days_and_a_seen_version_nothing() -> None:
    state, opened = step(None, _ev(True, "submitted", 1, T0), 10)
    assert opened.volumes == [((OFFICE, T0.date(), PROCEDURE, "online"), (1, 0, 0))]
    assert opened.backlog == [((OFFICE, "submitted"), 1)]
    state, started = step(state, _ev(False, "in_progress", 2, T0 + timedelta(hours=5), "anna"), 10)
    assert started.status_time == [((OFFICE, T0.date(), PROCEDURE, "submitted"), 5 * 3600.0)]
    assert started.workload == [((OFFICE, "anna"), 1)]
    done_at = T0 + timedelta(days=12, hours=1)
    after, done = step(state, _ev(False, "completed", 3, done_at, "anna"), 10)
    assert done.compliance == [((OFFICE, done_at.date(), PROCEDURE), (0, 1, 3, 0))]  # 2 days 1 hour: 3 days begun
    assert done.workload == [((OFFICE, "anna"), -1)]
    assert done.backlog == [((OFFICE, "in_progress"), -1), ((OFFICE, "completed"), 1)]
    again, nothing = step(after, _ev(False, "completed", 3, done_at, "anna"), 10)
    assert again is None
    assert nothing.volumes == nothing.compliance == nothing.backlog == []
    assert late_days(T0, T0) == 0
