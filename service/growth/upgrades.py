"""Upgrade offers: turn a one-off buyer into a member, crediting part of what they paid.

A creator links a one-off offering (service or product) to a membership price
with a credit — a percentage of what the buyer paid, or a fixed amount up to
it — valid for some days after the purchase. The credit is a one-time discount
on the first invoice only, never more than that invoice, and each purchase can
be upgraded once: a checkout holds the credit while it is open or once it is
complete, and gives it back when it expires or fails.

Billing asks for the credit through its `CheckoutCredits` port, which
`UpgradeCredits` implements (registered in `create_app`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from ..accounts.models import User
from ..billing.access import membership_of
from ..billing.models import CheckoutSession, Purchase
from ..billing.rules import PURCHASE_RULE
from ..billing.signals import checkout_closed
from ..catalog.models import Offering, Price
from ..common import clock
from ..common.db import insert_or_ignore
from ..common.errors import Conflict, Unprocessable
from ..common.money import percent_of
from ..creators.models import Creator
from ..extensions import db
from .models import UpgradeOffer, UpgradeRedemption


class InvalidUpgradeOffer(Unprocessable):
    code = "invalid_upgrade_offer"
    title = "An upgrade goes from one of your one-off offerings to one of your membership prices"


class OfferNotForPrice(Unprocessable):
    code = "upgrade_offer_not_for_price"
    title = "This upgrade offer does not apply to that price"


class NotEligible(Conflict):
    code = "upgrade_offer_not_eligible"
    title = "You are not eligible for this upgrade offer"


@dataclass(frozen=True)
class Eligibility:
    offer: UpgradeOffer
    purchase: Purchase
    credit: int
    expires_at: datetime


def create_offer(
    *,
    creator: Creator,
    from_offering_id: uuid.UUID,
    to_price_id: uuid.UUID,
    credit: dict[str, int],
    valid_days: int,
) -> UpgradeOffer:
    """Raises InvalidUpgradeOffer when the offerings are not the creator's or the wrong kind."""
    source = db.session.get(Offering, from_offering_id)
    target = db.session.get(Price, to_price_id)
    if source is None or source.creator_id != creator.id or source.kind == "membership":
        raise InvalidUpgradeOffer(errors={"from_offering_id": ["Not one of your services or products."]})
    if (
        target is None
        or target.offering.creator_id != creator.id
        or target.offering.kind != "membership"
        or not target.active
    ):
        raise InvalidUpgradeOffer(errors={"to_price_id": ["Not an active price of one of your tiers."]})
    offer = UpgradeOffer(
        creator_id=creator.id,
        from_offering_id=source.id,
        to_price_id=target.id,
        credit_percent=credit.get("percent"),
        credit_amount_minor=credit.get("amount"),
        valid_days=valid_days,
    )
    db.session.add(offer)
    db.session.flush()
    return offer


def _credit(offer: UpgradeOffer, purchase: Purchase) -> int:
    paid = purchase.amount_minor - purchase.amount_refunded_minor
    if offer.credit_percent is not None:
        credit = percent_of(paid, Decimal(offer.credit_percent))
    else:
        credit = min(offer.credit_amount_minor or 0, paid)
    return max(0, min(credit, offer.to_price.amount_minor))  # never more than the first invoice


def _used(offer: UpgradeOffer, purchase: Purchase) -> bool:
    """Taken already, by a completed checkout or one still open (closed ones give it back)."""
    stmt = select(UpgradeRedemption.id).where(
        UpgradeRedemption.upgrade_offer_id == offer.id, UpgradeRedemption.purchase_id == purchase.id
    )
    return db.session.scalar(stmt) is not None


def _why_not(offer: UpgradeOffer, user: User, purchase: Purchase | None) -> str | None:
    if not offer.active or not offer.to_price.active:
        return "This offer has ended."
    if purchase is None:
        return "You have not bought the offering this upgrade is for."
    if clock.utcnow() >= purchase.paid_at + timedelta(days=offer.valid_days):
        return "The offer has expired for your purchase."
    if membership_of(user_id=user.id, creator_id=offer.creator_id) is not None:
        return "You are already a member; change your subscription instead."
    if _used(offer, purchase):
        return "You already used this offer for that purchase."
    return None


def _latest_purchase(offer: UpgradeOffer, user: User) -> Purchase | None:
    return db.session.scalars(
        select(Purchase)
        .where(
            Purchase.user_id == user.id,
            Purchase.offering_id == offer.from_offering_id,
            PURCHASE_RULE.sql(),
        )
        .order_by(Purchase.paid_at.desc())
    ).first()


def check(*, offer_id: uuid.UUID, user: User, price_id: uuid.UUID) -> Eligibility:
    """The credit this user gets for this checkout. Raises OfferNotForPrice (an id in the
    body that cannot be used, whether or not it exists), NotEligible with the reason."""
    offer = db.session.get(UpgradeOffer, offer_id)
    if offer is None or offer.to_price_id != price_id:
        raise OfferNotForPrice(errors={"upgrade_offer_id": ["Not an upgrade offer for this price."]})
    purchase = _latest_purchase(offer, user)
    reason = _why_not(offer, user, purchase)
    if reason:
        raise NotEligible(reason)
    assert purchase is not None
    expires = purchase.paid_at + timedelta(days=offer.valid_days)
    return Eligibility(offer=offer, purchase=purchase, credit=_credit(offer, purchase), expires_at=expires)


def reserve(eligibility: Eligibility, session: CheckoutSession) -> None:
    """Tie the offer to this checkout; it counts as used while the checkout is open or done.
    Raises NotEligible when a concurrent checkout took it first (the database decides).
    The checkout itself records the offer and the credit (billing's columns)."""
    taken = insert_or_ignore(
        db.session,
        UpgradeRedemption,
        {
            "upgrade_offer_id": eligibility.offer.id,
            "purchase_id": eligibility.purchase.id,
            "checkout_session_id": session.id,
            "credit_minor": eligibility.credit,
        },
    )
    if not taken:
        raise NotEligible("You already used this offer for that purchase.")
    db.session.flush()


class UpgradeCredits:
    """Billing's `CheckoutCredits`: the credit of an upgrade offer, for a checkout of its price."""

    def reserve(self, *, offer_id: uuid.UUID, user: User, price: Price, session: CheckoutSession) -> int:
        """Raises OfferNotForPrice, NotEligible with the reason."""
        eligibility = check(offer_id=offer_id, user=user, price_id=price.id)
        reserve(eligibility, session)
        return eligibility.credit


@checkout_closed.connect
def _give_back(session: CheckoutSession, **kwargs: object) -> None:
    """A checkout that expired or failed frees the credit it held for another."""
    db.session.execute(delete(UpgradeRedemption).where(UpgradeRedemption.checkout_session_id == session.id))
    db.session.flush()


def eligible_for(*, user: User) -> list[dict[str, Any]]:
    """Every offer the user can take now, with its computed credit."""
    bought = select(Purchase.offering_id).where(Purchase.user_id == user.id, PURCHASE_RULE.sql())
    offers = db.session.scalars(
        select(UpgradeOffer).where(UpgradeOffer.active.is_(True), UpgradeOffer.from_offering_id.in_(bought))
    ).all()
    result = []
    for offer in offers:
        purchase = _latest_purchase(offer, user)
        if _why_not(offer, user, purchase) is None and purchase is not None:
            result.append(
                {
                    "offer": offer,
                    "purchase_id": purchase.id,
                    "credit": {"amount": _credit(offer, purchase), "currency": purchase.currency},
                    "expires_at": purchase.paid_at + timedelta(days=offer.valid_days),
                }
            )
    return result
