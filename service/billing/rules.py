"""The two rules of what a payment grants, each defined once.

A rule is data — the statuses that grant, the status that grants for a grace
period after it began, and the dispute flag that takes it all away — and
both forms are read from that one definition: `.sql(now)` is the WHERE clause
lists and counts use, `.holds(row, now)` the same test on one loaded row.
`tests/test_entitlements.py` evaluates both on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, bindparam, false, or_

from ..common import clock
from .models import Purchase, Subscription


@dataclass(frozen=True)
class Grace:
    """`status` still grants while `since` (a column, set when the row entered that status)
    is less than the configured number of days ago."""

    status: str
    since: str
    days_setting: str

    def period(self) -> timedelta:
        return timedelta(days=current_app.config[self.days_setting])


@dataclass(frozen=True)
class StatusRule:
    """Grants when the row's status is one of `granting`, or is in its grace period;
    never while `disputed` (an open or lost dispute)."""

    model: Any
    granting: tuple[str, ...]
    grace: Grace | None = None

    def grace_period(self) -> timedelta:
        return self.grace.period() if self.grace is not None else timedelta(0)

    def sql(self, now: datetime | None = None) -> ColumnElement[bool]:
        """Without `now`, the time is read when the statement runs, not when it is built:
        a statement built once and kept decides with the clock of each execution."""
        model = self.model
        in_grace: ColumnElement[bool] = false()
        if self.grace is not None:
            grace, since = self.grace, getattr(model, self.grace.since)
            start: Any = (
                now - grace.period()
                if now is not None
                else bindparam(None, callable_=lambda: clock.utcnow() - grace.period(), type_=since.type)
            )
            in_grace = and_(model.status == grace.status, since.is_not(None), since > start)
        return and_(or_(model.status.in_(self.granting), in_grace), model.disputed.is_(False))

    def holds(self, row: Any, now: datetime | None = None) -> bool:
        now = now or clock.utcnow()
        if row.disputed:
            return False
        if row.status in self.granting:
            return True
        if self.grace is not None and row.status == self.grace.status:
            since = getattr(row, self.grace.since)
            return since is not None and since > now - self.grace.period()
        return False


# A subscription (a membership when its offering is a tier) grants access while trialing
# or active, and for PAST_DUE_GRACE_DAYS after it became past due.
ACCESS_RULE = StatusRule(
    Subscription,
    granting=("trialing", "active"),
    grace=Grace(status="past_due", since="past_due_since", days_setting="PAST_DUE_GRACE_DAYS"),
)

# A purchase grants what was bought while paid: not refunded in full (a partial refund
# keeps `paid`).
PURCHASE_RULE = StatusRule(Purchase, granting=("paid",))
