"""The daily roll-up the analytics read, kept in the transaction of every change.

A summary or a time series must read O(days), not O(members): so each creator's
figures are kept as changes per UTC day (`analytics_days`), and a figure at an
instant is the sum of the changes before it. Whole days come from the day rows;
the part of a day before an instant that is not midnight comes from the few
rows of that day in the sources (`analytics_membership_events`, payments,
follows), found by index.

What a membership contributes is a pure function of its row and the price it is
booked at (`contribution`): the instants at which it starts and stops granting
access and paying, with the rules of the package docstring. Spans whose end is
already known are booked in full, a future end included — the grace period after
`past_due_since` ends on its day without any write then. A membership that the
current status stops "at now" (unpaid, paused, disputed, a trial not yet
converted) is booked as running and also as *held*: the held part is taken off
at instants at or after now only, which is exactly "counts until now, not from
now on" without booking anything at a moving instant.

Every change billing writes to a subscription is announced (`subscription_stored`);
the receiver recomputes the contribution and books only the difference to what
its event rows say it booked, so an announcement repeated by a retried webhook
changes nothing. The subscription's row is locked by billing meanwhile, so two
changes of one membership never interleave; the day rows, which many memberships
share, only ever take atomic `x = x + delta` upserts, so parallel changes of one
creator and day lose nothing. Payments work alike, keyed by payment id (their
net amount as last booked), and follows by the day the follow was made.

Prices: a membership's MRR is booked at the price it had. When its price (or the
price's amount) changes, the paying span booked so far is cut at that instant
and kept as history (`frozen`), and the new price counts from then on; so a
change of plan does not rewrite the past. The price history starts when the
roll-up was first built: `flask analytics rebuild` (for the migration, or to
repair) books every membership at its current price from its start, and books
the grace period of the current PAST_DUE_GRACE_DAYS (rebuild after changing it).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update

from ..billing import signals as billing_signals
from ..billing.models import FINAL_STATUSES, Payment, Subscription
from ..billing.rules import ACCESS_RULE
from ..catalog.models import Price
from ..common import clock
from ..common.db import insert_or_add, insert_or_ignore
from ..creators.models import Creator
from ..extensions import db
from ..followers import signals as followers_signals
from ..followers.models import Follow
from .models import (
    DAY_MEASURES,
    MEASURES,
    AnalyticsConversion,
    AnalyticsCustomer,
    AnalyticsDay,
    BookedMembership,
    BookedPayment,
    MembershipEvent,
)

NEVER_STARTED = ("incomplete", "incomplete_expired")
# The finest instant the database keeps: "before t" for instants on this grid.
TICK = timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class Change:
    """At `at`, what a membership changes in the figures counted at instants after it."""

    at: datetime
    months: int
    members: int = 0
    held_members: int = 0
    starts: int = 0
    ends: int = 0
    paying: int = 0
    held_paying: int = 0
    frozen: bool = False


CHANGE_FIELDS = tuple(f.name for f in fields(Change))


def months_of(interval: str | None, interval_count: int | None) -> int:
    """A price's period in months: the MRR of a price is amount / months."""
    return (interval_count or 1) * (12 if interval == "year" else 1)


def _earliest(instants: Iterable[datetime | None]) -> datetime | None:
    known = [i for i in instants if i is not None]
    return min(known) if known else None


def _span(after: datetime, until: datetime | None, months: int, **counted: Any) -> list[Change]:
    """Counted at t when after < t <= until: `counted` added at `after`, taken off at `until`."""
    if until is not None and until <= after:
        return []
    changes = [Change(after, months, **counted)]
    if until is not None:
        changes.append(Change(until, months, **{name: -value for name, value in counted.items()}))
    return changes


def contribution(row: Any, *, amount: int, months: int, price_since: datetime | None) -> list[Change]:
    """What a membership (a Subscription row) puts into the figures, at its price."""
    if row.kind != "membership" or row.status in NEVER_STARTED:
        return []
    ends_at = row.ended_at or (row.canceled_at if row.status in FINAL_STATUSES else None)
    changes = [Change(row.started_at, months, starts=1)]
    if ends_at is not None:
        changes.append(Change(ends_at, months, ends=1))
    # Access: the grace period after past_due_since as it stood at each instant; a status that
    # grants nothing and records no time when it stopped stops it at now (held).
    grace = ACCESS_RULE.grace
    in_grace = grace is not None and row.status == grace.status and row.past_due_since is not None
    held = row.disputed or not (row.status in ACCESS_RULE.granting or in_grace)
    grace_end = row.past_due_since + ACCESS_RULE.grace_period() - TICK if row.past_due_since else None
    changes += _span(
        row.started_at, _earliest([ends_at, grace_end]), months, members=1, held_members=int(held)
    )
    # Paying: after the trial and from the price's start, until it ended or became past due;
    # any status but active stops it at now.
    after = max(i for i in (row.started_at, row.trial_end, price_since) if i is not None)
    paying_held = amount if row.status != "active" else 0
    changes += _span(
        after, _earliest([ends_at, row.past_due_since]), months, paying=amount, held_paying=paying_held
    )
    return changes


# Writing day rows ------------------------------------------------------------------


def _upsert(model: Any, key: dict[str, Any], deltas: dict[str, int]) -> None:
    """INSERT the row, or add the deltas to it: atomic, so parallel writers lose nothing."""
    insert_or_add(db.session, model, key, deltas)


Days = dict[tuple[date, int], Counter[str]]


def _day_totals(changes: Iterable[Change], sign: int = 1, into: Days | None = None) -> Days:
    totals: Days = defaultdict(Counter) if into is None else into
    for change in changes:
        counts = totals[change.at.date(), change.months]
        for name in MEASURES:
            if value := getattr(change, name):
                counts[name] += sign * value
    return totals


def _add_to_days(creator_id: uuid.UUID, totals: Days) -> None:
    for (day, months), counts in sorted(totals.items()):  # one order: no deadlock between writers
        deltas = {name: value for name, value in counts.items() if value}
        if deltas:
            _upsert(AnalyticsDay, {"creator_id": creator_id, "day": day, "months": months}, deltas)


# Booking ---------------------------------------------------------------------------


def _price_of(sub: Subscription) -> tuple[int, int]:
    price = db.session.get(Price, sub.price_id)
    assert price is not None
    return price.amount_minor, months_of(price.interval, price.interval_count)


def _cut(former: list[Change], at: datetime) -> list[Change]:
    """The paying span at a former price, up to `at`, as history."""
    starts = [c for c in former if c.paying > 0 and c.at < at]
    if not starts:
        return []
    start = starts[0]
    until = min([*(c.at for c in former if c.paying < 0), at])
    return [
        Change(start.at, start.months, paying=start.paying, frozen=True),
        Change(until, start.months, paying=-start.paying, frozen=True),
    ]


def book_subscription(sub: Subscription) -> None:
    """Bring the roll-up to what the subscription contributes now; a no-op when it did already."""
    if sub.kind != "membership":
        return
    if sub.status not in NEVER_STARTED:
        book_customer(sub.creator_id, sub.user_id, member=True)
    amount, months = _price_of(sub)
    booked = db.session.execute(
        select(BookedMembership.amount_minor, BookedMembership.months, BookedMembership.price_since).where(
            BookedMembership.subscription_id == sub.id
        )
    ).one_or_none()
    rows = db.session.execute(
        select(MembershipEvent.id, *(getattr(MembershipEvent, name) for name in CHANGE_FIELDS)).where(
            MembershipEvent.subscription_id == sub.id, MembershipEvent.frozen.is_(False)
        )
    ).all()
    current = {row.id: Change(*row[1:]) for row in rows}
    price_since, history = booked.price_since if booked else None, []
    if booked is not None and (booked.amount_minor, booked.months) != (amount, months):
        # The former price's span as the membership stands now (a renewal that applies a
        # downgrade may also clear a past due), cut where the new price starts.
        former = contribution(
            sub, amount=booked.amount_minor, months=booked.months, price_since=booked.price_since
        )
        price_since = clock.utcnow()
        history = _cut(former, price_since)
    wanted = Counter(contribution(sub, amount=amount, months=months, price_since=price_since) + history)
    have = Counter(current.values())
    gone, new = have - wanted, wanted - have
    if gone:
        ids, left = [], Counter(gone)
        for row_id, change in current.items():
            if left[change]:
                left[change] -= 1
                ids.append(row_id)
        db.session.execute(delete(MembershipEvent).where(MembershipEvent.id.in_(ids)))
    if new:
        db.session.execute(
            insert(MembershipEvent),
            [_event_row(sub.creator_id, sub.id, change) for change in new.elements()],
        )
    _add_to_days(sub.creator_id, _day_totals(new.elements(), into=_day_totals(gone.elements(), -1)))
    state = {"amount_minor": amount, "months": months, "price_since": price_since}
    if booked is None:
        db.session.execute(insert(BookedMembership).values(subscription_id=sub.id, **state))
    elif tuple(booked) != tuple(state.values()):
        db.session.execute(
            update(BookedMembership).where(BookedMembership.subscription_id == sub.id).values(**state)
        )
    db.session.flush()


def _event_row(creator_id: uuid.UUID, subscription_id: uuid.UUID, change: Change) -> dict[str, Any]:
    row = {name: getattr(change, name) for name in CHANGE_FIELDS}
    return {"creator_id": creator_id, "subscription_id": subscription_id, **row}


def _revenue_column(kind: str) -> str:
    return "one_off" if kind == "purchase" else "recurring"


def book_payment(payment: Payment) -> None:
    """Bring the payment's day to its net amount now; a no-op when it was already."""
    net = payment.amount_minor - payment.refunded_minor - payment.disputed_minor
    booked = db.session.scalar(select(BookedPayment.net_minor).where(BookedPayment.payment_id == payment.id))
    if booked == net:
        return
    if booked is None:
        db.session.execute(insert(BookedPayment).values(payment_id=payment.id, net_minor=net))
    else:
        db.session.execute(
            update(BookedPayment).where(BookedPayment.payment_id == payment.id).values(net_minor=net)
        )
    key = {"creator_id": payment.creator_id, "day": payment.paid_at.date(), "months": 0}
    _upsert(AnalyticsDay, key, {_revenue_column(payment.kind): net - (booked or 0)})
    # Kept while its net is above zero: only crossing zero changes what conversion counts.
    kept = int(net > 0) - int((booked or 0) > 0)
    if kept:
        purchases = kept if payment.kind == "purchase" else 0
        book_customer(payment.creator_id, payment.user_id, kept=kept, kept_purchases=purchases)
    db.session.flush()


def _book_follow(creator_id: uuid.UUID, user_id: uuid.UUID, followed_at: datetime, delta: int) -> None:
    _upsert(
        AnalyticsDay, {"creator_id": creator_id, "day": followed_at.date(), "months": 0}, {"followers": delta}
    )
    book_customer(creator_id, user_id, following=delta > 0)
    db.session.flush()


# Conversion ------------------------------------------------------------------------

CUSTOMER_FIELDS = ("kept_payments", "kept_purchases", "following", "member")
NOBODY = {"kept_payments": 0, "kept_purchases": 0, "following": False, "member": False}


def counted(customer: dict[str, Any]) -> dict[str, int]:
    """What one customer's flags put into the creator's conversion counts."""
    paid, bought = customer["kept_payments"] > 0, customer["kept_purchases"] > 0
    return {
        "followers_who_paid": int(paid and customer["following"]),
        "one_off_buyers": int(bought),
        "one_off_buyers_who_were_members": int(bought and customer["member"]),
    }


def book_customer(
    creator_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    kept: int = 0,
    kept_purchases: int = 0,
    following: bool | None = None,
    member: bool = False,
) -> None:
    """Change one customer's row (`kept`: payments that began or stopped bringing something
    in) and move the creator's counts by what its flags did: so a repeated announcement, which
    changes no flag, moves nothing. The row is locked meanwhile, so two changes of one
    customer never interleave; the counts only take atomic `x = x + delta` upserts."""

    def changed(old: dict[str, Any]) -> dict[str, Any]:
        return {
            "kept_payments": old["kept_payments"] + kept,
            "kept_purchases": old["kept_purchases"] + kept_purchases,
            "following": old["following"] if following is None else following,
            "member": old["member"] or member,  # "ever": a membership once held stays counted
        }

    key = {"creator_id": creator_id, "user_id": user_id}
    # The first change of a customer inserts its row; a concurrent one waits for it, then reads it.
    new = changed(NOBODY)
    if insert_or_ignore(db.session, AnalyticsCustomer, {**key, **new}):
        old = NOBODY
    else:
        columns = [getattr(AnalyticsCustomer, name) for name in CUSTOMER_FIELDS]
        row = db.session.execute(
            select(*columns)
            .where(AnalyticsCustomer.creator_id == creator_id, AnalyticsCustomer.user_id == user_id)
            .with_for_update()
        ).one()
        old = dict(zip(CUSTOMER_FIELDS, row, strict=True))
        new = changed(old)
        if new == old:
            return
        db.session.execute(
            update(AnalyticsCustomer)
            .where(AnalyticsCustomer.creator_id == creator_id, AnalyticsCustomer.user_id == user_id)
            .values(**new)
        )
    before, after = counted(old), counted(new)
    deltas = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    if deltas:
        _upsert(AnalyticsConversion, {"creator_id": creator_id}, deltas)


@billing_signals.subscription_stored.connect
def _subscription_stored(sub: Subscription, **kwargs: object) -> None:
    book_subscription(sub)


@billing_signals.payment_recorded.connect
@billing_signals.payment_adjusted.connect
def _payment_changed(payment: Payment, **kwargs: object) -> None:
    book_payment(payment)


@followers_signals.follower_created.connect
def _followed(follow: Follow, **kwargs: object) -> None:
    _book_follow(follow.creator_id, follow.user_id, follow.created_at, 1)


@followers_signals.follower_deleted.connect
def _unfollowed(creator: Creator, *, user_id: uuid.UUID, followed_at: datetime, **kwargs: object) -> None:
    _book_follow(creator.id, user_id, followed_at, -1)


# Rebuilding ------------------------------------------------------------------------


def _clear(creator_ids: list[uuid.UUID]) -> None:
    subs = select(Subscription.id).where(Subscription.creator_id.in_(creator_ids))
    payments = select(Payment.id).where(Payment.creator_id.in_(creator_ids))
    deletes = [
        delete(BookedMembership).where(BookedMembership.subscription_id.in_(subs)),
        delete(BookedPayment).where(BookedPayment.payment_id.in_(payments)),
        *(
            delete(model).where(model.creator_id.in_(creator_ids))
            for model in (MembershipEvent, AnalyticsDay, AnalyticsCustomer, AnalyticsConversion)
        ),
    ]
    for stmt in deletes:
        # The session is brought up to date once at the end: without this, every deleted
        # id would come back to it.
        db.session.execute(stmt.execution_options(synchronize_session=False))


def _insert_all(model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction; on PostgreSQL by COPY, since row by row
    (what executemany does) a big creator's million rows took minutes."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(model.__table__), rows)
        return
    columns = list(rows[0])
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])


# What `contribution` reads of a subscription.
ROW_COLUMNS = (
    Subscription.id,
    Subscription.kind,
    Subscription.status,
    Subscription.started_at,
    Subscription.trial_end,
    Subscription.past_due_since,
    Subscription.ended_at,
    Subscription.canceled_at,
    Subscription.disputed,
)


# Days of each creator being rebuilt.
CreatorDays = dict[uuid.UUID, Days]


def _rebuild_memberships(creator_ids: list[uuid.UUID], days: CreatorDays) -> None:
    stmt = (
        select(
            *ROW_COLUMNS, Subscription.creator_id, Price.amount_minor, Price.interval, Price.interval_count
        )
        .join(Price, Price.id == Subscription.price_id)
        .where(Subscription.creator_id.in_(creator_ids), Subscription.kind == "membership")
    )
    events, booked = [], []
    # Core rows, not ORM objects: a big creator has hundreds of thousands.
    for sub in db.session.connection().execute(stmt):
        months = months_of(sub.interval, sub.interval_count)
        changes = contribution(sub, amount=sub.amount_minor, months=months, price_since=None)
        events += [_event_row(sub.creator_id, sub.id, change) for change in changes]
        booked.append(
            {
                "subscription_id": sub.id,
                "amount_minor": sub.amount_minor,
                "months": months,
                "price_since": None,
            }
        )
        _day_totals(changes, into=days[sub.creator_id])
    _insert_all(MembershipEvent, events)
    _insert_all(BookedMembership, booked)


def _rebuild_sales_and_follows(creator_ids: list[uuid.UUID], days: CreatorDays) -> None:
    net = Payment.amount_minor - Payment.refunded_minor - Payment.disputed_minor
    payments = select(Payment.id, Payment.creator_id, Payment.kind, Payment.paid_at, net).where(
        Payment.creator_id.in_(creator_ids)
    )
    booked = []
    for payment_id, creator_id, kind, paid_at, amount in db.session.execute(payments):
        booked.append({"payment_id": payment_id, "net_minor": amount})
        days[creator_id][paid_at.date(), 0][_revenue_column(kind)] += amount
    _insert_all(BookedPayment, booked)
    follows = select(Follow.creator_id, Follow.created_at).where(Follow.creator_id.in_(creator_ids))
    for creator_id, followed_at in db.session.execute(follows):
        days[creator_id][followed_at.date(), 0]["followers"] += 1


def _rebuild_customers(creator_ids: list[uuid.UUID]) -> None:
    customers: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = defaultdict(lambda: dict(NOBODY))
    net = Payment.amount_minor - Payment.refunded_minor - Payment.disputed_minor
    kept = select(Payment.creator_id, Payment.user_id, Payment.kind, func.count()).where(
        Payment.creator_id.in_(creator_ids), net > 0
    )
    grouped = kept.group_by(Payment.creator_id, Payment.user_id, Payment.kind)
    for creator_id, user_id, kind, count in db.session.execute(grouped):
        customers[creator_id, user_id]["kept_payments"] += count
        if kind == "purchase":
            customers[creator_id, user_id]["kept_purchases"] += count
    follows = select(Follow.creator_id, Follow.user_id).where(Follow.creator_id.in_(creator_ids))
    for creator_id, user_id in db.session.execute(follows):
        customers[creator_id, user_id]["following"] = True
    members = select(Subscription.creator_id, Subscription.user_id).where(
        Subscription.creator_id.in_(creator_ids),
        Subscription.kind == "membership",
        Subscription.status.not_in(NEVER_STARTED),
    )
    for creator_id, user_id in db.session.execute(members.distinct()):
        customers[creator_id, user_id]["member"] = True
    _insert_all(
        AnalyticsCustomer,
        [
            {"creator_id": creator_id, "user_id": user_id, **flags}
            for (creator_id, user_id), flags in customers.items()
        ],
    )
    totals: dict[uuid.UUID, Counter[str]] = {creator_id: Counter() for creator_id in creator_ids}
    for (creator_id, _), flags in customers.items():
        totals[creator_id].update(counted(flags))
    names = ("followers_who_paid", "one_off_buyers", "one_off_buyers_who_were_members")
    _insert_all(
        AnalyticsConversion,
        [
            {"creator_id": creator_id, **{name: counts[name] for name in names}}
            for creator_id, counts in totals.items()
        ],
    )


def rebuild_creators(creator_ids: list[uuid.UUID]) -> None:
    """Book these creators' roll-up anew from billing's and followers' tables (no commit).

    Changes committed by others while it runs may be missed: run it when the creators are
    quiet, or again."""
    if db.session.get_bind().dialect.name == "postgresql":
        # The requests' statement timeout is not for copying a big creator's history.
        db.session.execute(text("SET LOCAL statement_timeout = 0"))
    _clear(creator_ids)
    days: CreatorDays = defaultdict(lambda: defaultdict(Counter))
    _rebuild_memberships(creator_ids, days)
    _rebuild_sales_and_follows(creator_ids, days)
    _rebuild_customers(creator_ids)
    rows = [
        {"creator_id": creator_id, "day": day, "months": months, **{n: counts[n] for n in DAY_MEASURES}}
        for creator_id, creator_days in days.items()
        for (day, months), counts in creator_days.items()
        if any(counts.values())
    ]
    _insert_all(AnalyticsDay, rows)
    db.session.flush()
    # The rows were replaced beneath the session (bulk DELETE, COPY): what it holds of them
    # is read again on use.
    db.session.expire_all()


# Creators rebuilt per transaction: most have a few hundred rows, and their statements,
# not their rows, were the cost of rebuilding them one by one.
REBUILD_BATCH = 500


def rebuild(handle: str | None = None) -> int:
    """`flask analytics rebuild`: rebuild every creator's roll-up (or one's), a commit per
    batch of creators. How many creators were rebuilt."""
    stmt = select(Creator.id).order_by(Creator.id)
    if handle is not None:
        stmt = stmt.where(Creator.handle == handle)
    creator_ids = list(db.session.scalars(stmt))
    for start in range(0, len(creator_ids), REBUILD_BATCH):
        rebuild_creators(creator_ids[start : start + REBUILD_BATCH])
        db.session.commit()
    return len(creator_ids)
