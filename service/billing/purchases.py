"""One-off purchases: refunds, disputes, lists."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..common.errors import NotFound, Unprocessable
from ..common.pagination import paginate
from ..creators import service as creators
from ..creators.models import Creator
from ..extensions import db
from .gateway import current_gateway
from .models import CheckoutSession, Payment, Purchase, Refund


class InvalidRefundAmount(Unprocessable):
    code = "invalid_refund_amount"
    title = "The refund amount is more than what is left to refund"


def get_for_creator(*, user: User, purchase_id: uuid.UUID) -> Purchase:
    """A purchase from one of the user's creator pages, locked for a refund. Raises NotFound."""
    purchase = db.session.scalar(
        select(Purchase)
        .where(Purchase.id == purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if purchase is None or not creators.is_owner(user, db.session.get(Creator, purchase.creator_id)):  # type: ignore[arg-type]
        raise NotFound("No such purchase.")
    return purchase


def refund(*, purchase: Purchase, amount: int | None) -> Purchase:
    """Refund all or part of a purchase; a full refund ends access. Raises InvalidRefundAmount."""
    remaining = purchase.amount_minor - purchase.amount_refunded_minor
    amount = remaining if amount is None else amount
    if remaining <= 0 or amount > remaining:
        raise InvalidRefundAmount(errors={"amount": [f"At most {max(remaining, 0)} can be refunded."]})
    if not purchase.stripe_payment_intent_id:
        raise InvalidRefundAmount("This purchase has no payment to refund.")
    row = Refund(purchase_id=purchase.id, amount_minor=amount)
    db.session.add(row)
    db.session.flush()
    row.stripe_refund_id = current_gateway().refund(
        payment_intent=purchase.stripe_payment_intent_id, amount=amount, idempotency_key=f"refund:{row.id}"
    )
    row.status = "succeeded"
    _set_refunded(purchase, purchase.amount_refunded_minor + amount)
    return purchase


def _set_refunded(purchase: Purchase, refunded: int) -> None:
    # The provider's total only grows; an older event carrying less must not shrink it.
    purchase.amount_refunded_minor = max(purchase.amount_refunded_minor, min(refunded, purchase.amount_minor))
    if purchase.amount_refunded_minor >= purchase.amount_minor:
        purchase.status = "refunded"
    payment = db.session.scalar(select(Payment).where(Payment.purchase_id == purchase.id))
    if payment is not None:
        payment.refunded_minor = purchase.amount_refunded_minor
    db.session.flush()


class PurchaseNotYetKnown(Exception):
    """An event about a payment whose checkout we have not fulfilled yet: retry it later."""


def _by_payment_intent(payment_intent: str | None) -> Purchase | None:
    """The purchase paid by this payment intent. Raises PurchaseNotYetKnown when its
    checkout was ours but is not fulfilled yet (events arrive in any order)."""
    if not payment_intent:
        return None
    purchase = db.session.scalar(
        select(Purchase).where(Purchase.stripe_payment_intent_id == payment_intent).with_for_update()
    )
    if purchase is None and _awaiting_fulfilment():
        raise PurchaseNotYetKnown(payment_intent)
    return purchase


def _awaiting_fulfilment() -> bool:
    pending = select(CheckoutSession.id).where(
        CheckoutSession.mode == "payment", CheckoutSession.status == "open"
    )
    return db.session.scalar(pending.limit(1)) is not None


def record_refund(*, payment_intent: str | None, refunded: int) -> str | None:
    """Apply a refund made anywhere (our API or the provider's dashboard)."""
    purchase = _by_payment_intent(payment_intent)
    if purchase is None:
        return "unmatched"
    _set_refunded(purchase, refunded)
    return None


def record_dispute(*, payment_intent: str | None, open_: bool, event_created: datetime) -> str | None:
    """A disputed purchase gives no access until the dispute is won."""
    purchase = _by_payment_intent(payment_intent)
    if purchase is None:
        return "unmatched"
    if purchase.dispute_event_at and event_created < purchase.dispute_event_at:
        return "ignored"  # older than the dispute state already applied
    purchase.disputed, purchase.dispute_event_at = open_, event_created
    db.session.flush()
    return None


def list_for_user(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = select(Purchase).where(Purchase.user_id == user.id)
    return paginate(stmt, order=(Purchase.created_at, Purchase.id), limit=limit, cursor=cursor)


def list_sales(*, creator: Creator, limit: int, cursor: str | None) -> dict[str, Any]:
    """Money received by the creator: purchases and paid invoices, newest first."""
    # Each sale shows its buyer: load them with the page, not one query per row.
    stmt = select(Payment).where(Payment.creator_id == creator.id).options(selectinload(Payment.user))
    return paginate(stmt, order=(Payment.paid_at, Payment.id), limit=limit, cursor=cursor)
