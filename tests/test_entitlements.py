"""The two rules of what a payment grants, and the entitlements built on them.

Each rule is one definition read two ways — `.sql(now)` and `.holds(row, now)` —
so the tests below evaluate both on the same stored rows and expect one answer.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import service
from service.accounts.models import User
from service.billing.models import FINAL_STATUSES, LIVE_STATUSES, CheckoutSession, Purchase, Subscription
from service.billing.rules import ACCESS_RULE, PURCHASE_RULE
from service.catalog.models import Offering, Price
from service.common import clock
from service.common.entitlements import EntitlementsMissing, current_entitlements
from service.creators.models import Creator
from service.entitlements.service import BillingEntitlements
from service.extensions import db

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
TICK = timedelta(microseconds=1)


class World:
    """A creator with a tier and a product, and a fresh user for every row (the database
    allows one live membership per user and creator)."""

    def __init__(self) -> None:
        self.creator = Creator(user=self.user(), handle="rules", display_name="Rules", currency="eur")
        self.tier = Offering(creator=self.creator, kind="membership", title="Tier", status="published")
        self.product = Offering(creator=self.creator, kind="product", title="Pack", status="published")
        self.tier_price = Price(
            offering=self.tier,
            amount_minor=500,
            currency="eur",
            type="recurring",
            interval="month",
            interval_count=1,
        )
        self.product_price = Price(offering=self.product, amount_minor=900, currency="eur", type="one_time")
        db.session.add_all([self.creator, self.tier, self.product, self.tier_price, self.product_price])
        db.session.flush()

    def user(self) -> User:
        user = User(email=f"{uuid.uuid4().hex[:12]}@example.com", display_name="Someone")
        db.session.add(user)
        return user

    def subscription(
        self, status: str, *, disputed: bool = False, past_due_since: datetime | None = None
    ) -> Subscription:
        sub = Subscription(
            user=self.user(),
            creator=self.creator,
            offering=self.tier,
            price=self.tier_price,
            kind="membership",
            stripe_subscription_id=f"sub_{uuid.uuid4().hex}",
            status=status,
            disputed=disputed,
            past_due_since=past_due_since,
            started_at=NOW - timedelta(days=30),
        )
        db.session.add(sub)
        db.session.flush()
        return sub

    def purchase(self, status: str, *, disputed: bool = False, refunded: int = 0) -> Purchase:
        user = self.user()
        db.session.flush()
        session = CheckoutSession(
            user_id=user.id,
            creator_id=self.creator.id,
            offering_id=self.product.id,
            price_id=self.product_price.id,
            mode="payment",
            status="complete",
            success_url="https://app.example/ok",
            cancel_url="https://app.example/no",
            expires_at=NOW,
        )
        db.session.add(session)
        db.session.flush()
        purchase = Purchase(
            user_id=user.id,
            creator_id=self.creator.id,
            offering_id=self.product.id,
            price_id=self.product_price.id,
            checkout_session_id=session.id,
            amount_minor=900,
            currency="eur",
            amount_refunded_minor=refunded,
            status=status,
            disputed=disputed,
            paid_at=NOW - timedelta(days=1),
        )
        db.session.add(purchase)
        db.session.flush()
        return purchase


@pytest.fixture
def world(ctx) -> World:
    return World()


def grace(app) -> timedelta:
    return timedelta(days=app.config["PAST_DUE_GRACE_DAYS"])


def by_sql(rule: Any, rows: list[Any], now: datetime) -> set[uuid.UUID]:
    """The ids of these rows the rule's SQL selects."""
    model = rule.model
    stmt = select(model.id).where(model.id.in_([r.id for r in rows]), rule.sql(now))
    return set(db.session.scalars(stmt))


def by_python(rule: Any, rows: list[Any], now: datetime) -> set[uuid.UUID]:
    """The ids of these rows the rule's predicate accepts, on the rows as stored."""
    db.session.expire_all()
    return {r.id for r in rows if rule.holds(db.session.get(rule.model, r.id), now)}


# The access rule -------------------------------------------------------------------------


def test_a_past_due_membership_keeps_access_until_the_grace_period_ends(app, world):
    within = world.subscription("past_due", past_due_since=NOW - grace(app) + TICK)
    ended = world.subscription("past_due", past_due_since=NOW - grace(app))
    unknown_start = world.subscription("past_due", past_due_since=None)
    rows = [within, ended, unknown_start]
    assert by_python(ACCESS_RULE, rows, NOW) == {within.id}
    assert by_sql(ACCESS_RULE, rows, NOW) == {within.id}
    # One tick earlier, the second one is still inside.
    assert (
        by_sql(ACCESS_RULE, rows, NOW - TICK)
        == by_python(ACCESS_RULE, rows, NOW - TICK)
        == {within.id, ended.id}
    )


def test_a_statement_built_once_reads_the_clock_each_time_it_runs(app, world):
    within = world.subscription("past_due", past_due_since=NOW - grace(app) + timedelta(hours=1))
    kept = select(Subscription.id).where(Subscription.id == within.id, ACCESS_RULE.sql())
    clock.freeze(NOW)
    assert db.session.scalars(kept).all() == [within.id]
    clock.freeze(NOW + timedelta(hours=1))
    assert db.session.scalars(kept).all() == []


def test_the_grace_period_is_the_configured_one(app, world):
    sub = world.subscription("past_due", past_due_since=NOW - timedelta(days=3))
    app.config["PAST_DUE_GRACE_DAYS"], before = 2, app.config["PAST_DUE_GRACE_DAYS"]
    try:
        assert not ACCESS_RULE.holds(sub, NOW) and by_sql(ACCESS_RULE, [sub], NOW) == set()
    finally:
        app.config["PAST_DUE_GRACE_DAYS"] = before
    assert ACCESS_RULE.holds(sub, NOW) and by_sql(ACCESS_RULE, [sub], NOW) == {sub.id}


def test_a_disputed_membership_grants_nothing_whatever_its_status(app, world):
    rows = [
        world.subscription("active", disputed=True),
        world.subscription("trialing", disputed=True),
        world.subscription("past_due", disputed=True, past_due_since=NOW - timedelta(hours=1)),
    ]
    assert by_python(ACCESS_RULE, rows, NOW) == by_sql(ACCESS_RULE, rows, NOW) == set()
    undisputed = world.subscription("active")
    assert by_sql(ACCESS_RULE, [*rows, undisputed], NOW) == {undisputed.id}


# The purchase rule -----------------------------------------------------------------------


def test_a_purchase_grants_while_paid_and_undisputed(world):
    paid = world.purchase("paid")
    partly_refunded = world.purchase("paid", refunded=400)
    refunded = world.purchase("refunded", refunded=900)
    disputed = world.purchase("paid", disputed=True)
    rows = [paid, partly_refunded, refunded, disputed]
    assert (
        by_python(PURCHASE_RULE, rows, NOW)
        == by_sql(PURCHASE_RULE, rows, NOW)
        == {paid.id, partly_refunded.id}
    )


# SQL and Python agree --------------------------------------------------------------------

PAST_DUE_SINCE = {
    "never": None,
    "an hour ago": timedelta(hours=1),
    "a tick inside": "inside",
    "at the boundary": "boundary",
    "long ago": timedelta(days=60),
}


def test_sql_and_python_agree_on_every_kind_of_subscription(app, world):
    rows = []
    for status, disputed, since in itertools.product(
        LIVE_STATUSES + FINAL_STATUSES, (False, True), PAST_DUE_SINCE.values()
    ):
        if since == "inside":
            since = grace(app) - TICK
        elif since == "boundary":
            since = grace(app)
        rows.append(
            world.subscription(
                status, disputed=disputed, past_due_since=None if since is None else NOW - since
            )
        )
    granted = by_sql(ACCESS_RULE, rows, NOW)
    assert granted == by_python(ACCESS_RULE, rows, NOW)
    # Not vacuous: both kinds of answer occur, and exactly the expected statuses grant.
    statuses = {r.status for r in rows if r.id in granted}
    assert statuses == {"trialing", "active", "past_due"} and len(granted) < len(rows)


def test_sql_and_python_agree_on_every_kind_of_purchase(world):
    rows = [
        world.purchase(status, disputed=disputed, refunded=refunded)
        for status, disputed, refunded in itertools.product(
            ("paid", "refunded"), (False, True), (0, 400, 900)
        )
    ]
    granted = by_sql(PURCHASE_RULE, rows, NOW)
    assert granted == by_python(PURCHASE_RULE, rows, NOW)
    assert {(r.status, r.disputed) for r in rows if r.id in granted} == {("paid", False)}


# The entitlements ask the rules ------------------------------------------------------------


def test_every_entitlement_answer_follows_the_rules(app, world):
    member = world.subscription("active")
    in_grace = world.subscription("past_due", past_due_since=NOW - timedelta(hours=1))
    lapsed = world.subscription("past_due", past_due_since=NOW - grace(app))
    disputed = world.subscription("active", disputed=True)
    canceled = world.subscription("canceled")
    kept, refunded = world.purchase("paid"), world.purchase("refunded", refunded=900)
    contested = world.purchase("paid", disputed=True)
    clock.freeze(NOW)
    ask = current_entitlements()
    creator_id = world.creator.id
    members = {member.user_id, in_grace.user_id}
    everyone = [s.user_id for s in (member, in_grace, lapsed, disputed, canceled)]

    assert ask.member_ids(creator_id, everyone) == members
    assert set(db.session.scalars(ask.audience(creator_id))) == members
    assert set(db.session.scalars(ask.audience(creator_id, [world.product.id]))) == set()
    assert set(db.session.scalars(ask.creators_joined(member.user_id))) == {creator_id}
    assert set(db.session.scalars(ask.creators_joined(lapsed.user_id))) == set()
    assert ask.tiers_held(in_grace.user_id, [creator_id]) == {creator_id: frozenset({world.tier.id})}
    assert ask.tiers_held(disputed.user_id, [creator_id]) == {}

    holding = ask.access_of(creator_id, member.user_id)
    assert holding.membership is not None and holding.membership.tier_offering_id == world.tier.id
    assert holding.membership.subscription_id == member.id
    assert ask.access_of(creator_id, disputed.user_id).membership is None
    for purchase, delivered in ((kept, True), (refunded, False), (contested, False)):
        assert ask.delivered_offering_ids(purchase.user_id, [world.product.id]) == (
            {world.product.id} if delivered else set()
        )
        assert [b.purchase_id for b in ask.access_of(creator_id, purchase.user_id).purchases] == (
            [purchase.id] if delivered else []
        )

    assert ask.tier_ids_of(creator_id, [world.tier.id, world.product.id, uuid.uuid4()]) == {world.tier.id}


# Start-up ------------------------------------------------------------------------------------


def test_the_app_refuses_to_start_without_entitlements(monkeypatch):
    monkeypatch.setattr(service, "_make_entitlements", lambda app: None)
    with pytest.raises(EntitlementsMissing, match="No entitlements implementation is registered"):
        service.create_app({"TESTING": True})


def test_the_app_refuses_to_start_with_incomplete_entitlements(monkeypatch):
    class Partial(BillingEntitlements):
        member_ids = None  # type: ignore[assignment]
        tier_ids_of = None  # type: ignore[assignment]

    monkeypatch.setattr(service, "_make_entitlements", lambda app: Partial())
    with pytest.raises(EntitlementsMissing, match="Partial does not .* missing member_ids, tier_ids_of"):
        service.create_app({"TESTING": True})


def test_signals_announce_events_only():
    """Questions are calls on the entitlements (or the exporters); blinker carries only news."""
    import importlib
    import pkgutil

    from blinker import NamedSignal

    names = set()
    for module in pkgutil.walk_packages(service.__path__, "service."):
        if module.name.endswith(".signals"):
            found = vars(importlib.import_module(module.name)).values()
            names |= {s.name for s in found if isinstance(s, NamedSignal)}
    assert names == {
        "user-signed-up",
        "user-deleted",
        "verification-requested",
        "email-verified",
        "follower-created",
        "follower-deleted",
        "purchase-completed",
        "purchase-refunded",
        "payment-recorded",
        "invoice-payment-failed",
        "subscription-changed",
        "subscription-stored",
        "payment-adjusted",
        "checkout-closed",
        "creator-counts-changed",
        "message-sent",
        "broadcast-delivered",
        "post-published",
        "trial-ending",
        "payout-requirements-due",
    }
