"""Read-only queries behind the creator's analytics.

Every answer takes a fixed number of statements, whatever the length of the
period or the size of the audience. The rules are in the package docstring;
each SQL predicate below has a Python twin (`_access_span`, `_paying_span`)
that the time series folds over buckets, and the two must say the same thing.

At and after now, access is billing's rule (`ACCESS_RULE`, in SQL and in
Python from one definition). Before now only the timestamps can tell, and the
historical test differs from it on purpose: a membership counts between
`started_at` and its end, and until the grace period after `past_due_since`;
the current status and the dispute flag say nothing about the past (neither
records when it began), so they only decide from now on.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, column, func, or_, select, values

from ..billing.models import FINAL_STATUSES, Payment, Subscription
from ..billing.rules import ACCESS_RULE
from ..catalog.models import Offering, Price
from ..common.db import UTCDateTime
from ..common.errors import Unprocessable
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from ..growth import referrals

NEVER_STARTED = ("incomplete", "incomplete_expired")
# The finest instant the database keeps: "before t" for instants on this grid.
TICK = timedelta(microseconds=1)
MAX_POINTS = 400


class TooManyPoints(Unprocessable):
    code = "too_many_points"
    title = f"A time series has at most {MAX_POINTS} points; choose a longer interval or a shorter period"


# Rules, in SQL ------------------------------------------------------------------


def _grace() -> timedelta:
    return ACCESS_RULE.grace_period()


def _memberships(creator: Creator, *columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Subscription)
        .join(Offering, Offering.id == Subscription.offering_id)
        .where(
            Subscription.creator_id == creator.id,
            Offering.kind == "membership",
            Subscription.status.not_in(NEVER_STARTED),
        )
    )


def _ends_at() -> ColumnElement[datetime]:
    """When the membership ended; NULL while it runs."""
    return func.coalesce(
        Subscription.ended_at, case((Subscription.status.in_(FINAL_STATUSES), Subscription.canceled_at))
    )


# The two below say what `_ends_at()` does, spelled so that most rows are decided
# by their first, cheapest test.
def _running_at(at: datetime) -> ColumnElement[bool]:
    """The membership had not ended before `at`."""
    return or_(
        Subscription.ended_at >= at,
        and_(
            Subscription.ended_at.is_(None),
            or_(
                Subscription.canceled_at.is_(None),
                Subscription.canceled_at >= at,
                Subscription.status.not_in(FINAL_STATUSES),
            ),
        ),
    )


def _ended_within(start: datetime, end: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Subscription.ended_at >= start, Subscription.ended_at < end),
        and_(
            Subscription.ended_at.is_(None),
            Subscription.status.in_(FINAL_STATUSES),
            Subscription.canceled_at >= start,
            Subscription.canceled_at < end,
        ),
    )


def _has_access_at(at: datetime, now: datetime) -> ColumnElement[bool]:
    rule = [
        Subscription.started_at < at,
        _running_at(at),
        # Historical: the grace period as it stood at `at` (see the module docstring).
        or_(Subscription.past_due_since.is_(None), Subscription.past_due_since > at - _grace()),
    ]
    if at >= now:
        rule.append(ACCESS_RULE.sql(now))
    return and_(*rule)


def _paying_at(at: datetime, now: datetime) -> ColumnElement[bool]:
    rule = [
        Subscription.started_at < at,
        or_(Subscription.trial_end.is_(None), Subscription.trial_end < at),
        _running_at(at),
        or_(Subscription.past_due_since.is_(None), Subscription.past_due_since >= at),
    ]
    if at >= now:
        rule.append(Subscription.status == "active")
    return and_(*rule)


# The same rules, as spans: counted at t when after < t <= until ------------------


def _earliest(instants: Iterable[datetime | None]) -> datetime | None:
    known = [i for i in instants if i is not None]
    return min(known) if known else None


def _access_span(row: Any, now: datetime, grace: timedelta) -> tuple[datetime, datetime | None]:
    ends = [row.ends_at]
    if row.past_due_since is not None:  # historical, as `_has_access_at`
        ends.append(row.past_due_since + grace - TICK)
    if not ACCESS_RULE.holds(row, now):  # from now on, billing's rule decides
        ends.append(now - TICK)
    return row.started_at, _earliest(ends)


def _paying_span(row: Any, now: datetime) -> tuple[datetime, datetime | None]:
    after = max(row.started_at, row.trial_end) if row.trial_end else row.started_at
    ends = [row.ends_at, row.past_due_since, None if row.status == "active" else now - TICK]
    return after, _earliest(ends)


# Numbers ---------------------------------------------------------------------------


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _rate(part: int, whole: int) -> str:
    """part / whole as a decimal string with four places, rounded half up."""
    if not whole:
        return "0.0000"
    ten_thousandths = _half_up(Fraction(part * 10_000, whole))
    return f"{ten_thousandths // 10_000}.{ten_thousandths % 10_000:04d}"


def _months(interval: str, interval_count: int | None) -> int:
    return (interval_count or 1) * (12 if interval == "year" else 1)


def _mrr(amount_by_months: dict[int, int]) -> int:
    """Monthly amounts summed exactly, then rounded once."""
    return _half_up(sum((Fraction(total, months) for months, total in amount_by_months.items()), Fraction()))


def _money(creator: Creator, amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": creator.currency}


# Summary ---------------------------------------------------------------------------


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _by_price(creator: Creator, start: datetime, end: datetime, now: datetime) -> list[Any]:
    """Per price, in one pass over the creator's memberships: how many granted access
    at `start` and at `end`, paid at `end`, and started or ended in [start, end).

    Memberships with access are counted, not users: checkout lets a user hold one
    live membership per creator, so at any instant the two are the same.
    """
    tiers = select(Offering.id).where(Offering.creator_id == creator.id, Offering.kind == "membership")
    counts = (
        select(
            Subscription.price_id,
            _count(_has_access_at(start, now)).label("active_at_start"),
            _count(_has_access_at(end, now)).label("active"),
            _count(_paying_at(end, now)).label("paying"),
            _count(Subscription.started_at >= start).label("new"),
            _count(_ended_within(start, end)).label("churned"),
        )
        .where(
            Subscription.creator_id == creator.id,
            Subscription.offering_id.in_(tiers),
            Subscription.status.not_in(NEVER_STARTED),
            Subscription.started_at < end,
            _running_at(start),  # one that ended before counts for nothing here
        )
        .group_by(Subscription.price_id)
        .subquery()
    )
    # Prices are joined to the few groups, not to every membership.
    stmt = select(Price.amount_minor, Price.interval, Price.interval_count, counts).join(
        counts, counts.c.price_id == Price.id
    )
    return list(db.session.execute(stmt))


def _paying_amounts(prices: list[Any]) -> dict[int, int]:
    """What the paying memberships pay, per length of their price in months."""
    amounts: dict[int, int] = defaultdict(int)
    for price in prices:
        amounts[_months(price.interval, price.interval_count)] += price.paying * price.amount_minor
    return amounts


def _sales(creator: Creator, start: datetime, end: datetime) -> Any:
    """Revenue of the period and who paid it, from one read of the period's payments."""
    paid = (
        select(Payment.user_id, Payment.kind, Payment.net_minor.label("net"))
        .where(Payment.creator_id == creator.id, Payment.paid_at >= start, Payment.paid_at < end)
        .cte("paid")
    )

    def revenue(kind: str) -> Any:
        return select(func.coalesce(func.sum(paid.c.net), 0)).where(paid.c.kind == kind).scalar_subquery()

    def payers(*conditions: Any) -> Any:
        """Distinct users who kept something they paid (not refunded in full)."""
        return select(paid.c.user_id).where(paid.c.net > 0, *conditions).distinct().subquery()

    # Followers and memberships are looked up once per payer, not once per payment.
    followers = select(Follow.user_id).where(Follow.creator_id == creator.id)
    buyers = payers(paid.c.kind == "purchase")
    member = _memberships(creator, Subscription.id).where(Subscription.user_id == buyers.c.user_id)
    stmt = select(
        revenue("purchase").label("one_off"),
        revenue("invoice").label("recurring"),
        select(func.count())
        .select_from(payers(paid.c.user_id.in_(followers)))
        .scalar_subquery()
        .label("following"),
        select(func.count()).select_from(buyers).scalar_subquery().label("buyers"),
        select(func.count())
        .select_from(buyers)
        .where(member.exists())
        .scalar_subquery()
        .label("buyer_members"),
    )
    return db.session.execute(stmt).one()


def _new_followers(creator: Creator, start: datetime, end: datetime) -> int:
    stmt = select(func.count()).where(
        Follow.creator_id == creator.id, Follow.created_at >= start, Follow.created_at < end
    )
    return db.session.scalar(stmt) or 0


def summary(*, creator: Creator, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """The creator's numbers for the period [start, end); the current status decides at
    and after `now`."""
    prices = _by_price(creator, start, end, now)
    sales = _sales(creator, start, end)
    churned = sum(p.churned for p in prices)
    return {
        "mrr": _money(creator, _mrr(_paying_amounts(prices))),
        "active_members": sum(p.active for p in prices),
        "new_members": sum(p.new for p in prices),
        "churned_members": churned,
        "churn_rate": _rate(churned, sum(p.active_at_start for p in prices)),
        "one_off_revenue": _money(creator, int(sales.one_off)),
        "recurring_revenue": _money(creator, int(sales.recurring)),
        # Kept by every follow and unfollow, in the same transaction.
        "followers": creator.follower_count,
        "new_followers": _new_followers(creator, start, end),
        "conversion": {
            "follower_to_customer": _rate(sales.following, creator.follower_count),
            "one_off_to_member": _rate(sales.buyer_members, sales.buyers),
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


def _bucket_of(bounds: Sequence[datetime], at: datetime) -> int:
    return bisect.bisect_right(bounds, at) - 1


def _changes(
    span: tuple[datetime, datetime | None], bounds: Sequence[datetime], end: datetime
) -> Iterator[tuple[int, int]]:
    """(bucket, +1 or -1) for where a span starts and stops counting within [bounds[0], end)."""
    after, until = span
    if until is not None and until <= after:
        return  # never counted at any instant
    if bounds[0] <= after < end:
        yield _bucket_of(bounds, after), 1
    if until is not None and bounds[0] <= until < end:
        yield _bucket_of(bounds, until), -1


def _moving(creator: Creator, first: datetime, end: datetime) -> list[Any]:
    """Memberships that may start or stop counting in [first, end); every other one
    counts at each point exactly as it does at `first`."""
    stmt = (
        _memberships(
            creator,
            Subscription.started_at,
            Subscription.trial_end,
            Subscription.past_due_since,
            Subscription.status,
            Subscription.disputed,
            _ends_at().label("ends_at"),
            Price.amount_minor,
            Price.interval,
            Price.interval_count,
        )
        .join(Price, Price.id == Subscription.price_id)
        .where(
            Subscription.started_at < end,
            _running_at(first),
            or_(
                Subscription.started_at >= first,
                Subscription.trial_end >= first,
                Subscription.past_due_since >= first - _grace(),
                Subscription.status != "active",
                Subscription.disputed.is_(True),  # counts before now, not from now on
            ),
        )
    )
    # Core, not the ORM session's result machinery: this can be tens of thousands of rows.
    return list(db.session.connection().execute(stmt))


def _mrr_series(creator: Creator, bounds: list[datetime], end: datetime, now: datetime) -> list[int]:
    totals = _paying_amounts(_by_price(creator, bounds[0], bounds[0], now))
    deltas: list[dict[int, int]] = [defaultdict(int) for _ in bounds[:-1]]
    for row in _moving(creator, bounds[0], end):
        for bucket, sign in _changes(_paying_span(row, now), bounds, end):
            deltas[bucket][_months(row.interval, row.interval_count)] += sign * row.amount_minor
    points = []
    for delta in deltas:
        for months, amount in delta.items():
            totals[months] += amount
        points.append(_mrr(totals))
    return points


def _running_total(start: int, deltas: Iterable[int]) -> list[int]:
    points, total = [], start
    for delta in deltas:
        total += delta
        points.append(total)
    return points


def _members_series(creator: Creator, bounds: list[datetime], end: datetime, now: datetime) -> list[int]:
    baseline = sum(p.active for p in _by_price(creator, bounds[0], bounds[0], now))
    deltas = [0] * (len(bounds) - 1)
    for row in _moving(creator, bounds[0], end):
        for bucket, sign in _changes(_access_span(row, now, _grace()), bounds, end):
            deltas[bucket] += sign
    return _running_total(baseline, deltas)


def _per_bucket(
    bounds: list[datetime], end: datetime, model: Any, instant: Any, aggregate: Any, *conditions: Any
) -> list[int]:
    """One aggregate per bucket, from one range join against the buckets as a table."""
    rows = [(start, min(stop, end)) for start, stop in itertools.pairwise(bounds)]
    buckets = (
        values(column("start", UTCDateTime()), column("stop", UTCDateTime()), name="buckets")
        .data(rows)
        .cte("buckets")
    )
    inside = and_(instant >= buckets.c.start, instant < buckets.c.stop, *conditions)
    stmt = (
        select(buckets.c.start, aggregate)
        .select_from(buckets)
        .outerjoin(model, inside)
        .group_by(buckets.c.start)
        .order_by(buckets.c.start)
    )
    return [int(value or 0) for _, value in db.session.execute(stmt)]


def _revenue_series(creator: Creator, bounds: list[datetime], end: datetime, now: datetime) -> list[int]:
    net = func.sum(Payment.net_minor)
    return _per_bucket(bounds, end, Payment, Payment.paid_at, net, Payment.creator_id == creator.id)


def _followers_series(creator: Creator, bounds: list[datetime], end: datetime, now: datetime) -> list[int]:
    before = select(func.count()).where(Follow.creator_id == creator.id, Follow.created_at < bounds[0])
    new = _per_bucket(
        bounds, end, Follow, Follow.created_at, func.count(Follow.id), Follow.creator_id == creator.id
    )
    return _running_total(db.session.scalar(before) or 0, new)


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
    values: list[Any] = SERIES[metric](creator, bounds, end, now)
    if metric in MONEY_METRICS:
        values = [{"amount": value, "currency": creator.currency} for value in values]
    return {
        "metric": metric,
        "interval": interval,
        "points": [{"at": at, "value": value} for at, value in zip(bounds[:-1], values, strict=True)],
    }
