"""What billing's signals tell members and creators: receipts, refunds, the course of a
membership, trials ending, failed payments and a payout account that needs details.

Each kind's cause key names the one thing it is about, so a webhook retried, delivered
again under a new event id, or applied by two paths (our own call's answer and the
provider's event) tells once: a payment by its id, a start or an end once per
subscription, a cancellation, a failed renewal or a trial by the period or trial end it
concerns, a refund by the refunded total it reached, a payout account by the read that
preceded the change.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_date

from ..billing.models import FINAL_STATUSES, ConnectedAccount, Payment, Purchase, Subscription
from ..billing.rules import ACCESS_RULE
from ..catalog.models import Offering, Price
from ..common import clock
from ..common.money import format_money
from ..creators.models import Creator
from ..extensions import db
from .excerpts import excerpt
from .service import notify

# A subscription in this status never gave access yet (its first payment is open).
NOT_STARTED = ("incomplete",)
# Names and titles are the users' own words: one line, and short enough for a subject.
NAME_LENGTH = 80


def _when(moment: datetime | None) -> dict[str, Any]:
    """A moment as the app reads it (ISO) and as the e-mail says it (a date)."""
    if moment is None:
        return {"at": None, "on": None}
    return {"at": moment.isoformat(), "on": format_date(moment, format="long", locale="en")}


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency, "formatted": format_money(amount, currency)}


def _about(creator: Creator, offering: Offering) -> dict[str, Any]:
    return {
        "creator_id": str(creator.id),
        "creator_handle": creator.handle,
        "creator_name": excerpt(creator.display_name, NAME_LENGTH),
        "offering_id": str(offering.id),
        "offering_title": excerpt(offering.title, NAME_LENGTH),
        "offering_kind": offering.kind,
    }


def _of_subscription(sub: Subscription) -> dict[str, Any]:
    # By id: billing moves `offering_id` on a change of tier, not the loaded relationship.
    offering = db.session.get(Offering, sub.offering_id)
    assert offering is not None
    return {
        **_about(sub.creator, offering),
        "subscription_id": str(sub.id),
        "member_name": excerpt(sub.user.display_name, NAME_LENGTH),
    }


def _price(sub: Subscription) -> dict[str, Any]:
    price = db.session.get(Price, sub.price_id)
    assert price is not None
    return _money(price.amount_minor, price.currency)


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def _tell_creator(creator: Creator, kind: str, cause_key: str, data: dict[str, Any]) -> None:
    if creator.deleted_at is None:
        notify(creator.user_id, kind, cause_key, data)


# Money in and out ------------------------------------------------------------------


def payment_recorded(payment: Payment, **_: Any) -> None:
    """A receipt for every payment, a purchase's or an invoice's."""
    creator = db.session.get(Creator, payment.creator_id)
    assert creator is not None
    paid = _when(payment.paid_at)
    data = {
        **_about(creator, payment.offering),
        "payment_id": str(payment.id),
        "payment_kind": payment.kind,
        "billing_reason": payment.billing_reason,
        "purchase_id": str(payment.purchase_id) if payment.purchase_id else None,
        "subscription_id": str(payment.subscription_id) if payment.subscription_id else None,
        "amount": _money(payment.amount_minor, payment.currency),
        "paid_at": paid["at"],
        "paid_on": paid["on"],
    }
    notify(payment.user_id, "receipt", f"payment:{payment.id}", data)


def purchase_refunded(purchase: Purchase, *, previous_refunded_minor: int, **_: Any) -> None:
    """The buyer is told of each refund: once per refunded total reached."""
    refunded = purchase.amount_refunded_minor
    data = {
        **_about(purchase.creator, purchase.offering),
        "purchase_id": str(purchase.id),
        "amount": _money(refunded - previous_refunded_minor, purchase.currency),
        "refunded_total": _money(refunded, purchase.currency),
        "paid": _money(purchase.amount_minor, purchase.currency),
        "in_full": refunded >= purchase.amount_minor,
    }
    notify(purchase.user_id, "refund_issued", f"purchase:{purchase.id}:{refunded}", data)


# The course of a subscription ------------------------------------------------------


def _started(status: str, previous: dict[str, Any] | None) -> bool:
    """It grants access now and never did before (new, or its first payment just landed)."""
    if status not in ACCESS_RULE.granting:
        return False
    return previous is None or previous.get("status", status) in NOT_STARTED


def subscription_changed(sub: Subscription, *, previous: dict[str, Any] | None, **_: Any) -> None:
    data = _of_subscription(sub)
    creator = sub.creator
    before = previous or {}
    if _started(sub.status, previous):
        trial = _when(sub.trial_end if sub.status == "trialing" else None)
        started = {**data, "trial_ends_at": trial["at"], "trial_ends_on": trial["on"]}
        notify(sub.user_id, "membership_started", f"subscription:{sub.id}", started)
        _tell_creator(creator, "new_member", f"subscription:{sub.id}", started)
        return
    if sub.status in FINAL_STATUSES:
        if before.get("status", sub.status) not in (*FINAL_STATUSES, *NOT_STARTED):
            ended = _when(sub.ended_at or clock.utcnow())
            told = {**data, "ended_at": ended["at"], "ended_on": ended["on"]}
            notify(sub.user_id, "membership_ended", f"subscription:{sub.id}", told)
        return
    if "offering_id" in before:
        key = f"subscription:{sub.id}:{sub.offering_id}:{_ms(sub.current_period_start)}"
        notify(sub.user_id, "membership_changed", key, data)
    if before.get("cancel_at_period_end") is False and sub.cancel_at_period_end:
        ends = _when(sub.current_period_end)
        ending = {**data, "ends_at": ends["at"], "ends_on": ends["on"]}
        key = f"subscription:{sub.id}:{_ms(sub.current_period_end)}"
        notify(sub.user_id, "membership_ending", key, ending)
        _tell_creator(creator, "cancellation_scheduled", key, ending)


def trial_ending(sub: Subscription, *, trial_end: datetime, **_: Any) -> None:
    ends = _when(trial_end)
    data = {
        **_of_subscription(sub),
        "ends_at": ends["at"],
        "ends_on": ends["on"],
        "price": _price(sub),
        "cancel_scheduled": sub.cancel_at_period_end,
    }
    notify(sub.user_id, "trial_ending", f"subscription:{sub.id}:{_ms(trial_end)}", data)


def invoice_payment_failed(sub: Subscription, **_: Any) -> None:
    """The member is told how to fix it and how long access lasts meanwhile; the creator, that a
    member's renewal failed. Once per billing period, however many retries fail."""
    data = _of_subscription(sub)
    grace, grace_ends = ACCESS_RULE.grace, None
    if grace is not None and sub.status == grace.status and sub.past_due_since is not None:
        grace_ends = sub.past_due_since + grace.period()
    left = max(grace_ends - clock.utcnow(), timedelta(0)) if grace_ends else None
    until = _when(grace_ends)
    told = {
        **data,
        "price": _price(sub),
        "grace_ends_at": until["at"],
        "grace_ends_on": until["on"],
        "grace_days_left": math.ceil(left / timedelta(days=1)) if left is not None else None,
        # The site's page that opens the payment provider's portal (POST /v1/billing/portal).
        "fix_path": "/settings/billing",
    }
    key = f"subscription:{sub.id}:{_ms(sub.current_period_end)}"
    notify(sub.user_id, "payment_failed", key, told)
    _tell_creator(sub.creator, "member_payment_failed", key, data)


# Payouts ---------------------------------------------------------------------------


def payout_requirements_due(
    account: ConnectedAccount, *, newly_due: list[str], previous_sync: datetime | None, **_: Any
) -> None:
    creator = account.creator
    data = {
        "creator_id": str(creator.id),
        "creator_handle": creator.handle,
        "requirements_due": list(account.requirements_due),
        "newly_due": newly_due,
        "disabled_reason": account.disabled_reason,
        "payouts_enabled": account.payouts_enabled,
    }
    _tell_creator(creator, "payout_attention", f"account:{account.id}:{_ms(previous_sync)}", data)
