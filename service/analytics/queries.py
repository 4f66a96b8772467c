"""Read-only queries behind the creator's analytics, from the daily roll-up (`rollup`).

A figure at an instant is the sum of what happened before it: the creator's day
rows before the instant's day, plus, when the instant is not a midnight, that
day's events before it, read from the few source rows of that one day by index.
So every answer takes a fixed number of statements and reads O(days) rows,
whatever the size of the audience. Conversion, over all time, is one row of
counts the roll-up keeps.

At and after now, the current status decides: the roll-up keeps apart the part
of the memberships that their status stops at now (held), and it is taken off
at instants at or after now.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, and_, case, func, literal, or_, select

from ..billing.models import Payment
from ..common.errors import Unprocessable
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from ..growth import referrals
from .models import DAY_MEASURES, MEASURES, AnalyticsConversion, AnalyticsDay, MembershipEvent

MAX_POINTS = 400


class TooManyPoints(Unprocessable):
    code = "too_many_points"
    title = f"A time series has at most {MAX_POINTS} points; choose a longer interval or a shorter period"


# Numbers ---------------------------------------------------------------------------


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _rate(part: int, whole: int) -> str:
    """part / whole as a decimal string with four places, rounded half up."""
    if not whole:
        return "0.0000"
    ten_thousandths = _half_up(Fraction(part * 10_000, whole))
    return f"{ten_thousandths // 10_000}.{ten_thousandths % 10_000:04d}"


def _money(creator: Creator, amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": creator.currency}


@dataclass
class Figures:
    """The sums of everything that happened before one instant: counts by measure, and
    what paying memberships pay per price length in months."""

    counts: Counter[str] = field(default_factory=Counter)
    paying: Counter[int] = field(default_factory=Counter)
    held_paying: Counter[int] = field(default_factory=Counter)

    def add(self, months: int, values: dict[str, int]) -> None:
        for name, value in values.items():
            if not value:
                continue
            if name == "paying":
                self.paying[months] += value
            elif name == "held_paying":
                self.held_paying[months] += value
            else:
                self.counts[name] += value

    def copy(self) -> Figures:
        return Figures(Counter(self.counts), Counter(self.paying), Counter(self.held_paying))

    def members(self, from_now_on: bool) -> int:
        return self.counts["members"] - (self.counts["held_members"] if from_now_on else 0)

    def mrr(self, from_now_on: bool) -> int:
        """Monthly amounts summed exactly, then rounded once."""
        held = self.held_paying if from_now_on else Counter[int]()
        monthly = (Fraction(amount - held[months], months) for months, amount in self.paying.items())
        return _half_up(sum(monthly, Fraction()))


# Figures at instants -----------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _whole_days(creator: Creator, instants: Sequence[datetime]) -> list[Figures]:
    """The day rows summed up to each instant's day (excluded), from one grouped read:
    the days before the first instant's come as one row per price length, dated the day before."""
    first, last = instants[0].date(), instants[-1].date()
    before = first - timedelta(days=1)
    day = case((AnalyticsDay.day < first, literal(before, Date())), else_=AnalyticsDay.day)
    stmt = (
        select(
            day.label("day"), AnalyticsDay.months, *(func.sum(getattr(AnalyticsDay, n)) for n in DAY_MEASURES)
        )
        .where(AnalyticsDay.creator_id == creator.id, AnalyticsDay.day < last)
        .group_by(day, AnalyticsDay.months)
        .order_by(day)
    )
    rows = db.session.execute(stmt).all()
    figures, running, taken = [], Figures(), 0
    for at in instants:
        while taken < len(rows) and rows[taken].day < at.date():
            row = rows[taken]
            running.add(row.months, {n: int(v or 0) for n, v in zip(DAY_MEASURES, row[2:], strict=True)})
            taken += 1
        figures.append(running.copy())
    return figures


def _within(instant: Any, edges: Sequence[tuple[datetime, datetime]], i: int) -> Any:
    start, stop = edges[i]
    return and_(instant >= start, instant < stop)


def _edges(creator: Creator, edges: Sequence[tuple[datetime, datetime]]) -> list[Figures]:
    """What happened within each [midnight, instant) from the sources: membership events,
    payments and follows of those days only."""
    found = [Figures() for _ in edges]
    at = MembershipEvent.at
    events = select(
        MembershipEvent.months,
        *(
            func.sum(case((_within(at, edges, i), getattr(MembershipEvent, n)), else_=0))
            for i in range(len(edges))
            for n in MEASURES
        ),
    ).where(
        MembershipEvent.creator_id == creator.id, or_(*(_within(at, edges, i) for i in range(len(edges))))
    )
    for row in db.session.execute(events.group_by(MembershipEvent.months)):
        for i in range(len(edges)):
            sums = row[1 + i * len(MEASURES) : 1 + (i + 1) * len(MEASURES)]
            found[i].add(row.months, {n: int(v or 0) for n, v in zip(MEASURES, sums, strict=True)})
    paid, net = Payment.paid_at, Payment.amount_minor - Payment.refunded_minor - Payment.disputed_minor
    followed = Follow.created_at
    sales = select(
        *(
            func.coalesce(func.sum(case((and_(_within(paid, edges, i), Payment.kind == kind), net))), 0)
            for i in range(len(edges))
            for kind in ("purchase", "invoice")
        ),
        *(
            select(func.count())
            .where(Follow.creator_id == creator.id, _within(followed, edges, i))
            .scalar_subquery()
            for i in range(len(edges))
        ),
    ).where(Payment.creator_id == creator.id, or_(*(_within(paid, edges, i) for i in range(len(edges)))))
    row = db.session.execute(sales).one()
    for i, figures in enumerate(found):
        revenue = {"one_off": int(row[2 * i]), "recurring": int(row[2 * i + 1])}
        figures.add(0, {**revenue, "followers": int(row[2 * len(edges) + i])})
    return found


def figures_at(creator: Creator, instants: Sequence[datetime]) -> list[Figures]:
    """The figures before each of the (ascending) instants."""
    figures = _whole_days(creator, instants)
    partial = [i for i, at in enumerate(instants) if at != _midnight(at.date())]
    if partial:
        edges = [(_midnight(instants[i].date()), instants[i]) for i in partial]
        for i, edge in zip(partial, _edges(creator, edges), strict=True):
            figures[i].add(0, dict(edge.counts))
            for months, amount in edge.paying.items():
                figures[i].paying[months] += amount
            for months, amount in edge.held_paying.items():
                figures[i].held_paying[months] += amount
    return figures


# Summary ---------------------------------------------------------------------------


def _conversion(creator: Creator) -> tuple[int, int, int]:
    """The creator's conversion counts over all time, as the roll-up keeps them."""
    row = db.session.execute(
        select(
            AnalyticsConversion.followers_who_paid,
            AnalyticsConversion.one_off_buyers,
            AnalyticsConversion.one_off_buyers_who_were_members,
        ).where(AnalyticsConversion.creator_id == creator.id)
    ).one_or_none()
    return (row[0], row[1], row[2]) if row is not None else (0, 0, 0)


def summary(*, creator: Creator, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """The creator's numbers for the period [start, end); the current status decides at
    and after `now`."""
    before, until = figures_at(creator, [start, end])
    churned = until.counts["ends"] - before.counts["ends"]
    followers_who_paid, buyers, buyers_who_were_members = _conversion(creator)
    return {
        "mrr": _money(creator, until.mrr(end >= now)),
        "active_members": until.members(end >= now),
        "new_members": until.counts["starts"] - before.counts["starts"],
        "churned_members": churned,
        "churn_rate": _rate(churned, before.members(start >= now)),
        "one_off_revenue": _money(creator, until.counts["one_off"] - before.counts["one_off"]),
        "recurring_revenue": _money(creator, until.counts["recurring"] - before.counts["recurring"]),
        # Kept by every follow and unfollow, in the same transaction.
        "followers": creator.follower_count,
        "new_followers": until.counts["followers"] - before.counts["followers"],
        "conversion": {
            "follower_to_customer": _rate(followers_who_paid, creator.follower_count),
            "one_off_to_member": _rate(buyers_who_were_members, buyers),
        },
        "top_referrers": referrals.top_referrers(creator=creator, start=start, end=end),
    }


# Time series -----------------------------------------------------------------------


def _floor(at: datetime, interval: str) -> datetime:
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next(at: datetime, interval: str) -> datetime:
    if interval == "month":
        return (at.replace(day=28) + timedelta(days=4)).replace(day=1)
    return at + timedelta(days=7 if interval == "week" else 1)


def bucket_bounds(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """Starts of the buckets covering [start, end), then the end of the last one.
    Raises TooManyPoints."""
    bounds = [_floor(start, interval)]
    while bounds[-1] < end:
        if len(bounds) > MAX_POINTS:
            raise TooManyPoints()
        bounds.append(_next(bounds[-1], interval))
    return bounds


def _mrr_series(points: list[tuple[datetime, Figures]], now: datetime) -> list[int]:
    return [figures.mrr(at >= now) for at, figures in points[1:]]


def _members_series(points: list[tuple[datetime, Figures]], now: datetime) -> list[int]:
    return [figures.members(at >= now) for at, figures in points[1:]]


def _followers_series(points: list[tuple[datetime, Figures]], now: datetime) -> list[int]:
    return [figures.counts["followers"] for _, figures in points[1:]]


def _revenue_series(points: list[tuple[datetime, Figures]], now: datetime) -> list[int]:
    def revenue(figures: Figures) -> int:
        return figures.counts["one_off"] + figures.counts["recurring"]

    return [revenue(b) - revenue(a) for (_, a), (_, b) in itertools.pairwise(points)]


SERIES = {
    "mrr": _mrr_series,
    "members": _members_series,
    "followers": _followers_series,
    "revenue": _revenue_series,
}
MONEY_METRICS = ("mrr", "revenue")


def timeseries(
    *, creator: Creator, metric: str, interval: str, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """One point per bucket from the one holding `start` to the one holding `end`:
    its start, and the metric at its end (or at `end` for the last). Raises TooManyPoints."""
    bounds = bucket_bounds(start, end, interval)
    instants = [bounds[0], *(min(bound, end) for bound in bounds[1:])]
    points = list(zip(instants, figures_at(creator, instants), strict=True))
    values: list[Any] = SERIES[metric](points, now)
    if metric in MONEY_METRICS:
        values = [{"amount": value, "currency": creator.currency} for value in values]
    return {
        "metric": metric,
        "interval": interval,
        "points": [{"at": at, "value": value} for at, value in zip(bounds[:-1], values, strict=True)],
    }
