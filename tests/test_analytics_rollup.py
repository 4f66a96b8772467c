"""The roll-up against the rules it keeps: random histories, then every figure two ways.

Each history is a random sequence of what members and creators do, on random days, through
the services and the local gateway: joining (some tiers with a trial), renewing, failing a
payment and recovering or being canceled, cancelling at the period end and resuming,
upgrading and downgrading, one-off sales and refunds, follows and unfollows. The summary and
the time series, read from the roll-up, must equal the reference below: the package's rules
evaluated on every row at each instant, as the analytics did before the roll-up, except
that a membership's MRR counts at the price it had at that instant (the test records each
membership's price after every step).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select

from service.analytics import models, queries, rollup
from service.analytics.models import DAY_MEASURES, AnalyticsConversion, AnalyticsCustomer, AnalyticsDay
from service.billing import purchases, subscriptions
from service.billing import signals as billing_signals
from service.billing.models import FINAL_STATUSES, Payment, Purchase, Subscription
from service.billing.rules import ACCESS_RULE
from service.catalog.models import Price
from service.common import clock
from service.creators.models import Creator
from service.extensions import db
from service.followers import service as followers
from service.followers.models import Follow

from . import factories
from .billing_helpers import buy, onboard
from .concurrency import run_parallel

SEQUENCES = 30
STEPS = 18
START = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


# The reference: the rules of the package docstring, row by row, instant by instant ----------


def _ends_at(sub: Subscription) -> datetime | None:
    return sub.ended_at or (sub.canceled_at if sub.status in FINAL_STATUSES else None)


def _has_access(sub: Subscription, at: datetime, now: datetime, grace: timedelta) -> bool:
    ends = _ends_at(sub)
    return (
        sub.started_at < at
        and (ends is None or ends >= at)
        and (sub.past_due_since is None or sub.past_due_since > at - grace)
        and (at < now or ACCESS_RULE.holds(sub, now))
    )


def _is_paying(sub: Subscription, at: datetime, now: datetime) -> bool:
    ends = _ends_at(sub)
    return (
        sub.started_at < at
        and (sub.trial_end is None or sub.trial_end < at)
        and (ends is None or ends >= at)
        and (sub.past_due_since is None or sub.past_due_since >= at)
        and (at < now or sub.status == "active")
    )


class Reference:
    def __init__(self, creator: Creator, prices: dict[Any, list[tuple[datetime, int, int]]]) -> None:
        self.creator, self.prices = creator, prices
        self.grace = ACCESS_RULE.grace_period()
        self.subs = [
            s
            for s in db.session.scalars(select(Subscription).where(Subscription.creator_id == creator.id))
            if s.kind == "membership" and s.status not in rollup.NEVER_STARTED
        ]
        self.payments = db.session.scalars(select(Payment).where(Payment.creator_id == creator.id)).all()
        self.follows = db.session.scalars(select(Follow).where(Follow.creator_id == creator.id)).all()

    def price_at(self, sub: Subscription, at: datetime) -> tuple[int, int]:
        """The last price recorded strictly before `at` (the first one from the start)."""
        history = self.prices[sub.id]
        found = [(amount, months) for since, amount, months in history if since < at]
        return found[-1] if found else history[0][1:]

    def members(self, at: datetime, now: datetime) -> int:
        return sum(_has_access(s, at, now, self.grace) for s in self.subs)

    def mrr(self, at: datetime, now: datetime) -> int:
        total = Fraction()
        for sub in self.subs:
            if _is_paying(sub, at, now):
                amount, months = self.price_at(sub, at)
                total += Fraction(amount, months)
        return queries._half_up(total)

    def revenue(self, start: datetime, end: datetime, kind: str | None = None) -> int:
        return sum(p.net_minor for p in self.payments if start <= p.paid_at < end and kind in (None, p.kind))

    def followers_before(self, at: datetime) -> int:
        return sum(f.created_at < at for f in self.follows)

    def summary(self, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
        churned = sum(1 for s in self.subs if (e := _ends_at(s)) is not None and start <= e < end)
        # Conversion counts over all time, whatever the period.
        paid = [p for p in self.payments if p.net_minor > 0]
        following = {f.user_id for f in self.follows}
        buyers = {p.user_id for p in paid if p.kind == "purchase"}
        ever_members = {s.user_id for s in self.subs}
        money = {"currency": self.creator.currency}
        return {
            "mrr": {"amount": self.mrr(end, now), **money},
            "active_members": self.members(end, now),
            "new_members": sum(1 for s in self.subs if start <= s.started_at < end),
            "churned_members": churned,
            "churn_rate": queries._rate(churned, self.members(start, now)),
            "one_off_revenue": {"amount": self.revenue(start, end, "purchase"), **money},
            "recurring_revenue": {"amount": self.revenue(start, end, "invoice"), **money},
            "followers": len(self.follows),
            "new_followers": self.followers_before(end) - self.followers_before(start),
            "conversion": {
                "follower_to_customer": queries._rate(
                    len({p.user_id for p in paid} & following), len(self.follows)
                ),
                "one_off_to_member": queries._rate(len(buyers & ever_members), len(buyers)),
            },
        }

    def series(self, metric: str, interval: str, start: datetime, end: datetime, now: datetime) -> list[Any]:
        bounds = queries.bucket_bounds(start, end, interval)
        points = []
        for first, stop in zip(bounds, bounds[1:], strict=False):
            at = min(stop, end)
            if metric == "mrr":
                value: Any = {"amount": self.mrr(at, now), "currency": self.creator.currency}
            elif metric == "members":
                value = self.members(at, now)
            elif metric == "followers":
                value = self.followers_before(at)
            else:
                value = {"amount": self.revenue(first, at), "currency": self.creator.currency}
            points.append({"at": first, "value": value})
        return points


# Random histories ---------------------------------------------------------------------------


class Shop:
    """A creator with four tiers (month, year, every 3 months, a month after a trial), a
    one-off Pack, and what the test recorded of its members' prices."""

    def __init__(self) -> None:
        self.creator = factories.creator(currency="eur")
        month = {"type": "recurring", "interval": "month"}
        self.tiers = [
            factories.offering(self.creator, amount=500, price=month).prices[0],
            factories.offering(self.creator, amount=9990, price={**month, "interval": "year"}).prices[0],
            factories.offering(self.creator, amount=1200, price={**month, "interval_count": 3}).prices[0],
            factories.offering(self.creator, amount=800, price={**month, "trial_days": 14}).prices[0],
        ]
        self.pack = factories.offering(self.creator, kind="product", amount=2500).prices[0]
        self.fans: list[Any] = []
        self.prices: dict[Any, list[tuple[datetime, int, int]]] = defaultdict(list)

    def subs(self, *statuses: str) -> list[Subscription]:
        stmt = (
            select(Subscription).where(Subscription.creator_id == self.creator.id).order_by(Subscription.id)
        )
        return [s for s in db.session.scalars(stmt) if not statuses or s.status in statuses]

    def record_prices(self) -> None:
        for sub in self.subs():
            price = db.session.get(Price, sub.price_id)
            assert price is not None
            now = (price.amount_minor, rollup.months_of(price.interval, price.interval_count))
            history = self.prices[sub.id]
            if not history or history[-1][1:] != now:
                history.append((clock.utcnow(), *now))


def _step(rng: random.Random, shop: Shop) -> None:
    action = rng.choice(
        ["join", "join", "renew", "fail", "cancel", "cancel_at_end", "resume", "change", "buy", "refund"]
        + ["follow", "unfollow"]
    )
    live = shop.subs("active", "trialing", "past_due")
    if action in ("join", "buy") or not shop.fans:
        # A new fan each time: one live membership per creator, and a product is bought once.
        fan = factories.user()
        shop.fans.append(fan)
        if rng.random() < 0.6:
            followers.follow(user=fan, creator=shop.creator)
            db.session.commit()
        if action == "buy":
            factories.purchase(fan, shop.pack)
        else:
            factories.membership(fan, rng.choice(shop.tiers))
    elif action in ("renew", "fail", "cancel") and live:
        factories.simulate(rng.choice(live), action)
    elif action == "cancel_at_end" and (running := shop.subs("active", "trialing")):
        subscriptions.cancel(sub=rng.choice(running), at_period_end=rng.random() < 0.8)
        db.session.commit()
    elif action == "resume" and (ending := [s for s in live if s.cancel_at_period_end]):
        sub = rng.choice(ending)
        if sub.current_period_end and sub.current_period_end > clock.utcnow():
            subscriptions.resume(sub=sub)
            db.session.commit()
    elif action == "change" and (active := shop.subs("active")):
        # Only active ones: the history of a price is booked as the membership stood then.
        sub = rng.choice(active)
        target = rng.choice([p for p in shop.tiers if p.id != sub.price_id])
        subscriptions.change(sub=sub, price_id=target.id)
        db.session.commit()
    elif action == "refund" and (sold := _refundable(shop)):
        bought = rng.choice(sold)
        left = bought.amount_minor - bought.amount_refunded_minor
        purchases.refund(purchase=bought, amount=rng.choice([None, rng.randint(1, left)]))
        db.session.commit()
    elif action in ("follow", "unfollow"):
        fan = rng.choice(shop.fans)
        (followers.follow if action == "follow" else followers.unfollow)(user=fan, creator=shop.creator)
        db.session.commit()
    shop.record_prices()


def _refundable(shop: Shop) -> list[Purchase]:
    stmt = select(Purchase).where(Purchase.creator_id == shop.creator.id, Purchase.status == "paid")
    return [p for p in db.session.scalars(stmt) if p.amount_refunded_minor < p.amount_minor]


def _random_instant(rng: random.Random, first: datetime, last: datetime) -> datetime:
    span = (last - first).total_seconds()
    at = first + timedelta(seconds=rng.uniform(0, span))
    # Midnights too: whole days only, no partial day to read.
    return at.replace(hour=0, minute=0, second=0, microsecond=0) if rng.random() < 0.3 else at


def _compare(rng: random.Random, shop: Shop, now: datetime) -> None:
    db.session.expire_all()
    creator = db.session.get(Creator, shop.creator.id)
    assert creator is not None
    reference = Reference(creator, shop.prices)
    periods = [(now - timedelta(days=30), now)]
    for _ in range(4):
        a, b = (_random_instant(rng, START - timedelta(days=3), now + timedelta(days=20)) for _ in range(2))
        if a != b:
            periods.append((min(a, b), max(a, b)))
    for start, end in periods:
        got = queries.summary(creator=creator, start=start, end=end, now=now)
        got.pop("top_referrers")
        assert got == reference.summary(start, end, now), (start, end, now)
        for metric in queries.SERIES:
            interval = rng.choice(["day", "week", "month"])
            series = queries.timeseries(
                creator=creator, metric=metric, interval=interval, start=start, end=end, now=now
            )
            assert series["points"] == reference.series(metric, interval, start, end, now), (
                metric,
                interval,
                start,
                end,
            )


@pytest.mark.parametrize("seed", range(SEQUENCES))
def test_the_roll_up_gives_what_the_rules_say(ctx, seed):
    rng = random.Random(seed)
    clock.freeze(START)
    shop = Shop()
    for _ in range(STEPS):
        clock.freeze(clock.utcnow() + timedelta(hours=rng.uniform(0, 5 * 24)))
        _step(rng, shop)
    # A retried webhook announces again: nothing moves.
    for payment in db.session.scalars(select(Payment).where(Payment.creator_id == shop.creator.id)):
        billing_signals.payment_adjusted.send(payment)
    for sub in shop.subs():
        billing_signals.subscription_stored.send(sub)
    db.session.commit()
    # Read on a later day, so that some grace periods have run out and others not yet.
    now = clock.utcnow() + timedelta(hours=rng.uniform(0, 10 * 24))
    clock.freeze(now)
    _compare(rng, shop, now)
    # Rebuilt from the tables, the roll-up says the same, but knows no former prices.
    rollup.rebuild(shop.creator.handle)
    shop.prices = defaultdict(list, {k: [(START, *v[-1][1:])] for k, v in shop.prices.items()})
    _compare(rng, shop, now)


def _booked(creator_id: Any) -> tuple[Any, ...]:
    """Everything the roll-up holds for one creator."""
    event, membership, sale = models.MembershipEvent, models.BookedMembership, models.BookedPayment
    events = db.session.scalars(select(event).where(event.creator_id == creator_id))
    subs = select(Subscription.id).where(Subscription.creator_id == creator_id)
    memberships = db.session.scalars(select(membership).where(membership.subscription_id.in_(subs)))
    payments = select(Payment.id).where(Payment.creator_id == creator_id)
    sales = db.session.scalars(select(sale).where(sale.payment_id.in_(payments)))
    return (
        _booked_days(creator_id),
        _booked_conversion(creator_id),
        sorted((e.subscription_id, e.at, *(getattr(e, n) for n in rollup.CHANGE_FIELDS)) for e in events),
        sorted((m.subscription_id, m.amount_minor, m.months, m.price_since) for m in memberships),
        sorted((p.payment_id, p.net_minor) for p in sales),
    )


def test_creators_rebuilt_together_are_booked_as_each_alone(ctx, monkeypatch):
    rng = random.Random(7)
    clock.freeze(START)
    shops = [Shop() for _ in range(3)]
    quiet = factories.creator()  # nothing to book but its empty counts
    for _ in range(40):
        clock.freeze(clock.utcnow() + timedelta(hours=rng.uniform(0, 3 * 24)))
        _step(rng, rng.choice(shops))
    db.session.commit()
    ids = [shop.creator.id for shop in shops] + [quiet.id]
    for creator_id in ids:
        rollup.rebuild_creators([creator_id])
    db.session.commit()
    alone = {creator_id: _booked(creator_id) for creator_id in ids}
    assert all(alone[shop.creator.id][0] for shop in shops)  # histories, not empty books
    monkeypatch.setattr(rollup, "REBUILD_BATCH", 3)  # two batches, one of them mixed
    assert rollup.rebuild() == 4
    db.session.expire_all()
    assert {creator_id: _booked(creator_id) for creator_id in ids} == alone


# Under races --------------------------------------------------------------------------------


def _booked_days(creator_id: Any) -> dict[Any, tuple[int, ...]]:
    rows = db.session.scalars(select(AnalyticsDay).where(AnalyticsDay.creator_id == creator_id))
    return {
        (row.day, row.months): values
        for row in rows
        if any(values := tuple(getattr(row, name) for name in DAY_MEASURES))
    }


def _booked_conversion(creator_id: Any) -> tuple[Any, ...]:
    customers = db.session.scalars(
        select(AnalyticsCustomer).where(AnalyticsCustomer.creator_id == creator_id)
    )
    counts = db.session.get(AnalyticsConversion, creator_id)
    assert counts is not None
    return (
        {c.user_id: tuple(getattr(c, name) for name in rollup.CUSTOMER_FIELDS) for c in customers},
        (counts.followers_who_paid, counts.one_off_buyers, counts.one_off_buyers_who_were_members),
    )


@pytest.mark.usefixtures("postgres_only")
def test_parallel_joins_of_one_creator_on_one_day_lose_no_update(app, creator, signup, make_offering):
    """Eight fans follow and join at once, four others follow and buy a pack: every change
    goes to the same day rows and conversion counts, and the roll-up holds what a rebuild
    from the tables makes."""
    client = app.test_client()
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    pack = make_offering(creator, kind="product", amount=2500)
    fans = [signup() for _ in range(12)]

    def join(fan, price):
        def call(fan_client):
            assert fan_client.post("/v1/creators/cora/follow", headers=fan.headers).status_code == 204
            buy(fan_client, fan, price["price"]["id"])

        return call

    run_parallel(app, [join(fan, tier if i < 8 else pack) for i, fan in enumerate(fans)])
    with app.app_context():
        made = db.session.scalars(select(Creator).where(Creator.handle == "cora")).one()
        booked, conversion = _booked_days(made.id), _booked_conversion(made.id)
        assert conversion[1] == (12, 4, 0)
        rollup.rebuild_creators([made.id])
        assert (booked, conversion) == (_booked_days(made.id), _booked_conversion(made.id))
        now = clock.utcnow()
        summary = queries.summary(creator=made, start=now - timedelta(days=1), end=now, now=now)
        assert (summary["active_members"], summary["new_followers"]) == (8, 12)
        assert summary["recurring_revenue"]["amount"] == 8 * 500
        assert summary["one_off_revenue"]["amount"] == 4 * 2500
        assert summary["conversion"] == {"follower_to_customer": "1.0000", "one_off_to_member": "0.0000"}
        db.session.rollback()


def test_rebuild_command(app, ctx):
    shop = Shop()
    factories.membership(factories.user(), shop.tiers[0])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["analytics", "rebuild", "--creator", shop.creator.handle])
    assert result.exit_code == 0 and "rebuilt the analytics of 1 creators" in result.output
    assert runner.invoke(args=["analytics", "rebuild", "--creator", "nobody"]).exit_code == 1
    db.session.expire_all()
    now = clock.utcnow()
    summary = queries.summary(creator=shop.creator, start=now - timedelta(days=1), end=now, now=now)
    assert summary["active_members"] == 1
