"""One-off purchases: refunds (asked by the creator, or mirrored from the provider), lists."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from ..accounts.models import User
from ..common.db import insert_or_ignore
from ..common.errors import NotFound, Unprocessable
from ..common.pagination import newest_first, newest_first_params, page, paginate
from ..creators import service as creators
from ..creators.models import Creator
from ..extensions import db
from . import signals
from .gateway import RefundInfo, current_gateway
from .models import Payment, Purchase, Refund


class InvalidRefundAmount(Unprocessable):
    code = "invalid_refund_amount"
    title = "The refund amount is more than what is left to refund"


def get_for_creator(*, user: User, purchase_id: uuid.UUID) -> Purchase:
    """A purchase from one of the user's creator pages, locked for a refund. Its buyer, who
    may see it, is refused (NotOwner); anyone else is told nothing (NotFound)."""
    purchase = db.session.scalar(
        select(Purchase)
        .where(Purchase.id == purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if purchase is None:
        raise NotFound("No such purchase.")
    if not creators.is_owner(user, db.session.get(Creator, purchase.creator_id)):  # type: ignore[arg-type]
        if purchase.user_id == user.id:
            raise creators.NotOwner("Only the creator can refund a purchase.")
        raise NotFound("No such purchase.")
    return purchase


def refund(*, purchase: Purchase, amount: int | None) -> Purchase:
    """Refund all or part of a purchase; a full refund ends access. Raises InvalidRefundAmount.

    The caller holds the purchase's row lock (`get_for_creator`), so concurrent refunds
    of one purchase take turns and each sees what the previous one left.
    """
    remaining = purchase.amount_minor - purchase.amount_refunded_minor
    if remaining <= 0:
        raise InvalidRefundAmount("This purchase has been refunded in full already.")
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise InvalidRefundAmount(errors={"amount": [f"At most {remaining} can be refunded."]})
    payment = db.session.scalar(select(Payment).where(Payment.purchase_id == purchase.id))
    if not purchase.stripe_payment_intent_id or payment is None:
        raise InvalidRefundAmount("This purchase has no payment to refund.")
    row = Refund(payment_id=payment.id, purchase_id=purchase.id, amount_minor=amount)
    db.session.add(row)
    db.session.flush()
    made = current_gateway().refund(
        payment_intent=purchase.stripe_payment_intent_id,
        amount=amount,
        reason="requested_by_creator",
        idempotency_key=f"refund:{row.id}",
    )
    row.stripe_refund_id, row.status = made.id, made.status
    if made.status not in ("failed", "canceled"):
        set_refunded(purchase, purchase.amount_refunded_minor + amount)
        payment.refunded_minor = purchase.amount_refunded_minor
    db.session.flush()
    signals.payment_adjusted.send(payment)
    return purchase


def set_refunded(purchase: Purchase, refunded_minor: int) -> None:
    """Record how much of the purchase is refunded (refunded in full ends it); more than
    before is announced."""
    previous = purchase.amount_refunded_minor
    purchase.amount_refunded_minor = refunded_minor
    purchase.status = "refunded" if refunded_minor >= purchase.amount_minor else "paid"
    db.session.flush()
    if refunded_minor > previous:
        signals.purchase_refunded.send(purchase, previous_refunded_minor=previous)


def record_refund(payment: Payment, refund: RefundInfo) -> None:
    """Upsert our row of one provider refund of a sale, by the provider's id."""
    insert_or_ignore(
        db.session,
        Refund,
        {
            "payment_id": payment.id,
            "purchase_id": payment.purchase_id,
            "amount_minor": refund.amount,
            "stripe_refund_id": refund.id,
            "status": refund.status,
        },
    )
    row = db.session.scalar(
        select(Refund).where(Refund.stripe_refund_id == refund.id).execution_options(populate_existing=True)
    )
    assert row is not None
    row.status, row.failure_reason = refund.status, refund.failure_reason


def list_for_user(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    # Each purchase shows its creator: load them with the page, not one query per row.
    stmt = (
        select(Purchase)
        .where(Purchase.user_id == user.id)
        .options(joinedload(Purchase.creator, innerjoin=True))
    )
    return paginate(stmt, order=(Purchase.created_at, Purchase.id), limit=limit, cursor=cursor)


def list_sales(*, creator: Creator, limit: int, cursor: str | None) -> dict[str, Any]:
    """Money received by the creator: purchases and paid invoices, newest first."""
    order = (Payment.paid_at, Payment.id)
    params = {"creator": creator.id, **newest_first_params(order, limit=limit, cursor=cursor)}
    rows = db.session.scalars(_sales_page(after=cursor is not None), params).all()
    return page(rows, limit=limit, key=lambda payment: (payment.paid_at, payment.id))


@cache
def _sales_page(*, after: bool) -> Select[Any]:
    """Built once for each shape (with or without a cursor). Each sale shows its buyer's id
    and name: joined into the page's query, not one query per row, and nothing else of them
    (not their own creator profile)."""
    buyer = joinedload(Payment.user, innerjoin=True)
    stmt = (
        select(Payment)
        .where(Payment.creator_id == bindparam("creator", type_=Payment.creator_id.type))
        .options(buyer, buyer.lazyload("*"))
    )
    return newest_first(stmt, Payment.paid_at, Payment.id, after=after)
