"""The late policy at its edges: on the second, one second late, the cap, the cut-off, no date."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from autograder.engine.config import AssignmentSettings as Assignment
from autograder.classwork.late import apply_late_policy

DUE = datetime(2026, 12, 11, 23, 59, tzinfo=timezone.utc)
POLICY = Assignment(due=DUE.isoformat(), late_penalty_per_day=10.0, late_penalty_cap=50.0, late_after_days=7)


@pytest.mark.parametrize("delay, days, percent, final", [
    (timedelta(0), 0, 0.0, 80.0),                      # exactly at the due time: on time
    (-timedelta(days=3), 0, 0.0, 80.0),                # early
    (timedelta(seconds=1), 1, 10.0, 72.0),             # one second late is one started day
    (timedelta(days=1), 1, 10.0, 72.0),                # exactly one day late: still day one
    (timedelta(days=1, seconds=1), 2, 20.0, 64.0),     # just past one day: day two
    (timedelta(days=5, hours=1), 6, 50.0, 40.0),       # 60 % by the rate, capped at 50 %
    (timedelta(days=7), 7, 50.0, 40.0),                # exactly at the cut-off: still scored
    (timedelta(days=7, seconds=1), 8, 100.0, 0.0),     # past the cut-off: zero
])
def test_late_policy_edges(delay, days, percent, final):
    result = apply_late_policy(80.0, DUE + delay, POLICY)
    assert (result.days_late, result.penalty_percent, result.final_score) == (days, percent, final)
    assert result.late == (delay > timedelta(0))
    assert result.penalty_points(80.0) == round(80.0 - final, 4)


def test_time_zones_compare_as_instants():
    # 00:30 the next day in UTC+01:00 is 23:30 UTC: before the due time
    assert not apply_late_policy(50.0, datetime(2026, 12, 12, 0, 30, tzinfo=timezone(timedelta(hours=1))), POLICY).late


def test_no_timestamp_is_on_time_with_a_note():
    result = apply_late_policy(50.0, None, POLICY)
    assert (result.late, result.final_score) == (False, 50.0)
    assert "no submission time" in result.note


def test_no_due_date_means_no_penalty():
    result = apply_late_policy(50.0, DUE + timedelta(days=30), Assignment(due=""))
    assert (result.late, result.final_score, result.note) == (False, 50.0, "")


def test_unreadable_due_date_is_reported_not_applied():
    result = apply_late_policy(50.0, DUE, Assignment(due="next friday", late_penalty_per_day=10))
    assert result.final_score == 50.0 and "not a date" in result.note
