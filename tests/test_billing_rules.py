"""Billing rules at the service level, on state made by tests/factories.py (no HTTP).

Platform fees (service/billing/fees.py): half up to a whole minor unit, in the currency's
own minor unit (a yen is one), never more than the payment. Tier changes
(service/billing/subscriptions.py `change`): an upgrade or a downgrade by the monthly cost,
not the sticker price. Capacity (service/billing/access.py `holders`): who holds an offering
now, whatever the way they hold it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.billing import checkout, purchases, subscriptions
from service.billing.access import holders
from service.billing.fees import platform_fee
from service.billing.models import Payment
from service.common import clock
from service.common.money import percent_of
from service.extensions import db

from . import factories
from .billing_helpers import CANCEL, SUCCESS

# Platform fees ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fee"),
    [(0, 0), (4, 0), (5, 1), (14, 1), (15, 2), (25, 3), (995, 100), (999, 100), (1005, 101)],
)
def test_the_fee_is_ten_percent_rounded_half_up(ctx, amount, fee):
    # 25 → 2.5 → 3: half up, not to even (which would give 2).
    assert platform_fee(amount) == fee


def test_a_fractional_fee_percent_rounds_half_up_too(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "PLATFORM_FEE_PERCENT", Decimal("12.5"))
    assert [platform_fee(a) for a in (4, 12, 100, 1000)] == [1, 2, 13, 125]  # 0.5, 1.5, 12.5, 125


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    amount=st.integers(min_value=0, max_value=10**12),
    percent=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
)
def test_a_fee_is_the_half_up_share_and_never_more_than_the_amount(amount, percent):
    fee = percent_of(amount, percent)
    assert 0 <= fee <= amount
    exact = Fraction(amount) * Fraction(percent) / 100
    assert fee - exact <= Fraction(1, 2) and exact - fee < Fraction(1, 2)  # nearest, ties up


def _payment(**where):
    [payment] = db.session.scalars(select(Payment).filter_by(**where)).all()
    return payment


def test_a_yen_purchase_pays_its_fee_in_whole_yen(ctx):
    # JPY has no minor unit: 1005 is ¥1,005 and its 10 % fee ¥100.5, so ¥101.
    shop = factories.creator(currency="jpy")
    pack = factories.offering(shop, kind="product", amount=1005)
    bought = factories.purchase(factories.user(), pack.prices[0])
    payment = _payment(purchase_id=bought.id)
    assert (payment.amount_minor, payment.fee_minor, payment.currency) == (1005, 101, "jpy")
    assert bought.amount_minor == 1005


def test_every_paid_invoice_carries_its_fee(ctx):
    tier = factories.offering(factories.creator(), amount=995)
    sub = factories.membership(factories.user(), tier.prices[0])
    first = _payment(subscription_id=sub.id)
    assert (first.billing_reason, first.amount_minor, first.fee_minor) == ("subscription_create", 995, 100)
    factories.simulate(sub, "renew")
    fees = db.session.scalars(select(Payment.fee_minor).where(Payment.subscription_id == sub.id)).all()
    assert fees == [100, 100]


# Tier changes: upgrade or downgrade, by the monthly cost ---------------------------------------


@pytest.fixture
def member(ctx):
    """A member of a 1000-a-month tier, and that tier's creator."""
    shop = factories.creator()
    tier = factories.offering(shop, amount=1000, title="Monthly")
    return factories.membership(factories.user(), tier.prices[0]), shop


def _other_tier(shop, amount, interval, count=1):
    offering = factories.offering(
        shop, amount=amount, price={"type": "recurring", "interval": interval, "interval_count": count}
    )
    return offering.prices[0]


@pytest.mark.parametrize(
    ("amount", "interval", "count", "monthly"),
    [
        (3300, "month", 3, Decimal(1100)),  # dearer per month, though billed quarterly
        (2100, "month", 2, Decimal(1050)),
        (24001, "year", 2, Decimal("1000.041666666666666666666667")),  # a hair dearer
    ],
)
def test_a_dearer_monthly_cost_is_an_upgrade_charged_now(member, amount, interval, count, monthly):
    sub, shop = member
    target = _other_tier(shop, amount, interval, count)
    assert subscriptions._monthly(target) == monthly > subscriptions._monthly(sub.price)
    subscriptions.change(sub=sub, price_id=target.id)
    db.session.commit()  # the gateway's events apply the new price
    db.session.refresh(sub)
    assert (sub.price_id, sub.pending_price_id, sub.scheduled_price_id) == (target.id, None, None)
    upgrade = _payment(subscription_id=sub.id, billing_reason="subscription_update")
    # The local gateway's simplified proration charges the difference at once.
    assert upgrade.amount_minor == amount - 1000


@pytest.mark.parametrize(
    ("amount", "interval", "count"),
    [
        (10000, "year", 1),  # a bigger bill, but 833.33 a month
        (2700, "month", 3),  # 900 a month
        (12000, "year", 1),  # the same 1000 a month: nothing to charge now
        (900, "month", 1),
    ],
)
def test_a_monthly_cost_no_higher_is_a_downgrade_at_the_period_end(member, amount, interval, count):
    sub, shop = member
    old_price = sub.price_id
    target = _other_tier(shop, amount, interval, count)
    assert subscriptions._monthly(target) <= subscriptions._monthly(sub.price)
    subscriptions.change(sub=sub, price_id=target.id)
    db.session.commit()
    db.session.refresh(sub)
    assert (sub.price_id, sub.scheduled_price_id, sub.pending_price_id) == (old_price, target.id, None)
    assert db.session.scalars(select(Payment).where(Payment.subscription_id == sub.id)).all() == [
        _payment(subscription_id=sub.id, billing_reason="subscription_create")
    ]
    factories.simulate(sub, "renew")  # the period ends: the new price takes over
    assert (sub.price_id, sub.scheduled_price_id) == (target.id, None)
    renewal = _payment(subscription_id=sub.id, billing_reason="subscription_cycle")
    assert renewal.amount_minor == amount


def test_a_change_to_a_price_of_another_kind_or_creator_is_refused(member):
    sub, shop = member
    elsewhere = factories.offering(factories.creator(), amount=2000).prices[0]
    product = factories.offering(shop, kind="product", amount=2000).prices[0]
    for target in (elsewhere, product, sub.price):
        with pytest.raises(subscriptions.InvalidTargetPrice):
            subscriptions.change(sub=sub, price_id=target.id)


# Capacity: who holds an offering now -----------------------------------------------------------


def test_capacity_counts_buyers_until_a_full_refund_frees_the_seat(ctx):
    workshop = factories.offering(factories.creator(), kind="product", amount=3000, capacity=2)
    price = workshop.prices[0]
    first = factories.purchase(factories.user(), price)
    factories.purchase(factories.user(), price)
    assert holders(workshop.id) == 2
    late = factories.user()
    with pytest.raises(checkout.SoldOut):
        checkout.start_checkout(user=late, price_id=price.id, success_url=SUCCESS, cancel_url=CANCEL)
    db.session.rollback()

    purchases.refund(purchase=first, amount=1000)  # a partial refund keeps the seat
    db.session.commit()
    assert holders(workshop.id) == 2
    purchases.refund(purchase=first, amount=None)
    db.session.commit()
    assert holders(workshop.id) == 1
    factories.purchase(late, price)
    assert holders(workshop.id) == 2


def test_one_person_holding_a_service_twice_takes_one_seat(ctx):
    # A service can be bought again while the first purchase still counts.
    review = factories.offering(factories.creator(), kind="service", amount=2500, capacity=2)
    fan = factories.user()
    factories.purchase(fan, review.prices[0])
    factories.purchase(fan, review.prices[0])
    assert holders(review.id) == 1
    factories.purchase(factories.user(), review.prices[0])
    assert holders(review.id) == 2


def test_a_member_past_due_holds_the_place_for_the_grace_period_only(ctx, app):
    circle = factories.offering(factories.creator(), amount=900, capacity=1)
    sub = factories.membership(factories.user(), circle.prices[0])
    factories.simulate(sub, "fail")
    assert sub.status == "past_due"
    assert holders(circle.id) == 1
    grace = timedelta(days=app.config["PAST_DUE_GRACE_DAYS"])
    clock.freeze(sub.past_due_since + grace - timedelta(minutes=1))
    assert holders(circle.id) == 1
    clock.freeze(sub.past_due_since + grace)
    assert holders(circle.id) == 0


def test_a_cancelled_member_frees_the_place_at_once_but_one_ending_later_keeps_it(ctx):
    circle = factories.offering(factories.creator(), amount=900, capacity=2)
    leaving, staying = (factories.membership(factories.user(), circle.prices[0]) for _ in range(2))
    subscriptions.cancel(sub=leaving, at_period_end=False)
    subscriptions.cancel(sub=staying, at_period_end=True)
    db.session.commit()
    assert holders(circle.id) == 1
