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


def test_a_handed_over_case_counts_its_stay_so_far_for_the_old_office_and_the_rest_for_the_new() -> None:
    other = uuid.uuid4()
    state, _ = step(None, _ev(True, "submitted", 1, T0, "anna"), 10)
    moved_at, done_at = T0 + timedelta(hours=3), T0 + timedelta(days=2)
    state, moved = step(state, Seen(CASE, other, PROCEDURE, False, "submitted", None, None, 2, moved_at), 10)
    assert moved.status_time == [((OFFICE, T0.date(), PROCEDURE, "submitted"), 3 * 3600.0)]
    assert moved.backlog == [((OFFICE, "submitted"), -1), ((other, "submitted"), 1)]
    assert moved.workload == [((OFFICE, "anna"), -1)]
    assert moved.volumes == []
    assert state is not None
    assert state.office_id == other
    _, done = step(state, Seen(CASE, other, PROCEDURE, False, "completed", "nikos", None, 3, done_at), 10)
    assert done.status_time == [((other, done_at.date(), PROCEDURE, "submitted"), (done_at - moved_at).total_seconds())]
    assert done.volumes == [((other, done_at.date(), PROCEDURE, "online"), (0, 1, 0))]
    assert done.compliance == [((other, done_at.date(), PROCEDURE), (1, 0, 0, 0))]
