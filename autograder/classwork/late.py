"""The late policy of grading.toml's [assignment], applied to one submission time.

Policy (all in grading.toml): ``due`` (ISO 8601 with time zone); ``late_penalty_per_day`` percent
of the score per *started* day after the due time (one second late is one day); never more than
``late_penalty_cap`` percent in all; more than ``late_after_days`` days late scores zero. A
submission exactly at the due time is on time. No due date, or no known submission time, means
no penalty (the latter is reported so the instructor can check it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..engine.config import AssignmentSettings
from .layout import parse_timestamp

DAY = timedelta(days=1)


@dataclass(frozen=True)
class LateResult:
    late: bool
    days_late: int  # started days after the due time (0 when on time)
    penalty_percent: float  # share of the score taken away, 0-100
    final_score: float
    note: str = ""

    def penalty_points(self, score: float) -> float:
        return round(score - self.final_score, 4)


def apply_late_policy(score: float, submitted_at: datetime | None, policy: AssignmentSettings) -> LateResult:
    """The final score of a submission of ``score`` points handed in at ``submitted_at``."""
    due = parse_timestamp(policy.due) if policy.due else None
    if due is None:
        note = f"the due date {policy.due!r} is not a date; no late policy applied" if policy.due else ""
        return LateResult(False, 0, 0.0, score, note)
    if submitted_at is None:
        return LateResult(False, 0, 0.0, score, "no submission time known; treated as on time")
    delay = submitted_at - due
    if delay <= timedelta(0):
        return LateResult(False, 0, 0.0, score)
    days = math.ceil(delay / DAY)
    if delay > timedelta(days=policy.late_after_days):
        return LateResult(True, days, 100.0, 0.0,
                          f"more than {policy.late_after_days:g} days late: scored zero")
    percent = min(policy.late_penalty_per_day * days, policy.late_penalty_cap, 100.0)
    return LateResult(True, days, percent, round(score * (1 - percent / 100), 4))
