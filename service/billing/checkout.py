"""Checkout: open a hosted payment page for one price, and fulfil it once paid.

Fulfilment runs from the webhook and from the buyer's status check alike; it
re-reads the session from the gateway and locks our row, so running it twice
or concurrently grants access once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from ..accounts.models import User
from ..catalog.models import Offering, Price, sells
from ..common import clock
from ..common.db import insert_or_ignore
from ..common.errors import Conflict, NotFound, Unprocessable
from ..extensions import db
from . import signals
from .access import holders
from .credits import current_credits
from .customers import ensure_customer
from .fees import fee_percent, platform_fee
from .gateway import CheckoutRequest, current_gateway
from .models import (
    LIVE_STATUSES,
    CheckoutSession,
    ConnectedAccount,
    Payment,
    Purchase,
    Subscription,
)
from .prices import provider_price_id
from .purchases import record_refund
from .rules import PURCHASE_RULE
from .subscriptions import had_trial, record_invoice_paid, sync_subscription

# A second click within this window gets the same checkout page back.
REUSE_WINDOW = timedelta(minutes=30)


class CannotBuyOwn(Unprocessable):
    code = "cannot_buy_own"
    title = "You cannot buy from yourself"


class NotForSale(Conflict):
    code = "not_for_sale"
    title = "This price or offering is no longer sold"


class AlreadyMember(Conflict):
    code = "already_member"
    title = "You already subscribe; change your subscription instead"


class AlreadyBought(Conflict):
    code = "already_bought"
    title = "You already own this product"


class SoldOut(Conflict):
    code = "sold_out"
    title = "This offering is sold out"


class PayoutsNotEnabled(Conflict):
    code = "payouts_not_enabled"
    title = "This creator cannot take payments yet"


def _live_subscription(user: User, offering: Offering) -> Subscription | None:
    stmt = select(Subscription).where(Subscription.user_id == user.id, Subscription.status.in_(LIVE_STATUSES))
    if offering.kind == "membership":  # one membership per creator: tiers are changed, not stacked
        stmt = stmt.where(Subscription.creator_id == offering.creator_id, Subscription.kind == "membership")
    else:
        stmt = stmt.where(Subscription.offering_id == offering.id)
    return db.session.scalars(stmt).first()


def _check_can_buy(user: User, price: Price) -> None:
    offering = price.offering
    if offering.creator.user_id == user.id:
        raise CannotBuyOwn()
    # A recurring price on a service or product (made before the catalog refused them)
    # would start a subscription that grants nothing.
    if offering.status != "published" or not price.active or not sells(offering.kind, price.type):
        raise NotForSale()
    if price.type == "recurring" and _live_subscription(user, offering) is not None:
        raise AlreadyMember()
    if offering.kind == "product" and price.type == "one_time":
        owned = select(func.count()).where(
            Purchase.user_id == user.id, Purchase.offering_id == offering.id, PURCHASE_RULE.sql()
        )
        if db.session.scalar(owned):
            raise AlreadyBought()
    # Checked again, under a lock, when the payment lands: two buyers may race for the last seat.
    if offering.capacity is not None and holders(offering.id) >= offering.capacity:
        raise SoldOut()
    account = db.session.scalar(
        select(ConnectedAccount).where(ConnectedAccount.creator_id == offering.creator_id)
    )
    if account is None or not account.can_take_charges:
        raise PayoutsNotEnabled()


def _reusable(user: User, price: Price) -> CheckoutSession | None:
    return db.session.scalars(
        select(CheckoutSession).where(
            CheckoutSession.user_id == user.id,
            CheckoutSession.price_id == price.id,
            CheckoutSession.status == "open",
            CheckoutSession.created_at > clock.utcnow() - REUSE_WINDOW,
            CheckoutSession.stripe_session_id.is_not(None),
        )
    ).first()


def start_checkout(
    *,
    user: User,
    price_id: uuid.UUID,
    success_url: str,
    cancel_url: str,
    upgrade_offer_id: uuid.UUID | None = None,
    referral_code: str | None = None,
) -> CheckoutSession:
    """Open (or reuse) a checkout page for one price. Raises NotFound, CannotBuyOwn,
    NotForSale, AlreadyMember, AlreadyBought, SoldOut, PayoutsNotEnabled, and with
    `upgrade_offer_id` whatever the registered CheckoutCredits raises when not eligible."""
    price = db.session.get(Price, price_id)
    if price is None or price.offering.status == "draft" or price.offering.creator.deleted_at is not None:
        raise NotFound("No such price.")
    _check_can_buy(user, price)
    existing = _reusable(user, price)
    if existing is not None:
        return existing
    offering = price.offering
    mode = "subscription" if price.type == "recurring" else "payment"
    session = CheckoutSession(
        user_id=user.id,
        creator_id=offering.creator_id,
        offering_id=offering.id,
        price_id=price.id,
        mode=mode,
        status="open",
        success_url=success_url,
        cancel_url=cancel_url,
        referral_code=referral_code,
        expires_at=clock.utcnow() + timedelta(hours=24),
    )
    db.session.add(session)
    db.session.flush()
    coupon = None
    if upgrade_offer_id is not None:
        credit = current_credits().reserve(offer_id=upgrade_offer_id, user=user, price=price, session=session)
        session.upgrade_offer_id, session.discount_minor = upgrade_offer_id, credit
        db.session.flush()
        if credit:
            coupon = current_gateway().create_coupon(
                amount_off=credit, currency=price.currency, idempotency_key=f"coupon:{session.id}"
            )
    info = current_gateway().create_checkout_session(_request(session, user, price, coupon))
    session.stripe_session_id, session.url = info.id, info.url
    db.session.flush()
    return session


def _request(session: CheckoutSession, user: User, price: Price, coupon: str | None) -> CheckoutRequest:
    account = db.session.scalar(
        select(ConnectedAccount).where(ConnectedAccount.creator_id == session.creator_id)
    )
    assert account is not None
    metadata = {
        "checkout_session_id": str(session.id),
        "user_id": str(user.id),
        "creator_id": str(session.creator_id),
        "offering_id": str(session.offering_id),
        "price_id": str(price.id),
    }
    return CheckoutRequest(
        mode=session.mode,
        customer=ensure_customer(user),
        provider_price=provider_price_id(price),
        destination=account.stripe_account_id,
        application_fee_amount=platform_fee(price.amount_minor) if session.mode == "payment" else None,
        # Stripe takes the subscription fee as a percentage; it is a config decimal, never money.
        application_fee_percent=float(fee_percent()) if session.mode == "subscription" else None,
        success_url=session.success_url,
        cancel_url=session.cancel_url,
        client_reference_id=str(session.id),
        metadata=metadata,
        idempotency_key=f"checkout:{session.id}",
        # A trial is offered once per follower and creator; a later checkout starts paid.
        trial_days=None
        if had_trial(user_id=user.id, creator_id=session.creator_id)
        else price.trial_days or None,
        coupon=coupon,
        product_name=price.offering.title,
        amount=price.amount_minor,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
    )


def get_for_buyer(*, user: User, session_id: uuid.UUID) -> CheckoutSession:
    """The buyer's session, brought up to date if the provider finished it. Raises NotFound."""
    session = db.session.get(CheckoutSession, session_id)
    if session is None or session.user_id != user.id:
        raise NotFound("No such checkout session.")
    if session.status == "open" and session.stripe_session_id:
        # The buyer may come back before the webhook: ask the provider instead of waiting.
        fulfil_checkout(session.stripe_session_id)
    return session


def _locked_session(stripe_session_id: str, metadata: dict[str, str]) -> CheckoutSession | None:
    stmt = select(CheckoutSession).with_for_update().execution_options(populate_existing=True)
    session = db.session.scalar(stmt.where(CheckoutSession.stripe_session_id == stripe_session_id))
    if session is None and metadata.get("checkout_session_id"):
        session = db.session.scalar(
            stmt.where(CheckoutSession.id == uuid.UUID(metadata["checkout_session_id"]))
        )
    return session


def fulfil_checkout(stripe_session_id: str) -> str | None:
    """Grant what a completed, paid checkout bought; safe to repeat. Returns "unmatched"
    for sessions that are not ours."""
    info = current_gateway().retrieve_checkout_session(stripe_session_id)
    session = _locked_session(stripe_session_id, info.metadata)
    if session is None:
        return "unmatched"
    if info.status == "expired":
        return close_checkout(stripe_session_id, status="expired")
    # Delayed methods complete unpaid; access waits for async_payment_succeeded.
    if info.status != "complete" or info.payment_status not in ("paid", "no_payment_required"):
        return None
    if session.mode == "payment":
        _record_purchase(session, info.payment_intent, info.amount_total, info.currency)
    elif info.subscription:
        sync_subscription(info.subscription)
        sub = db.session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == info.subscription)
        )
        session.subscription_id = sub.id if sub else None
        if info.invoice:  # the first invoice is part of the checkout, even if its own event is late
            record_invoice_paid(info.invoice)
    session.status = "complete"
    db.session.flush()
    return None


def _record_purchase(
    session: CheckoutSession, payment_intent: str | None, amount: int | None, currency: str | None
) -> None:
    if session.purchase_id is not None:
        return
    price = session.price
    paid = amount if amount is not None else price.amount_minor
    # The lock makes buyers of the last seat take turns; whoever comes second is refunded.
    offering = db.session.scalar(select(Offering).where(Offering.id == session.offering_id).with_for_update())
    sold_out = (
        offering is not None and offering.capacity is not None and holders(offering.id) >= offering.capacity
    )
    purchase_id = uuid.uuid4()
    created = insert_or_ignore(
        db.session,
        Purchase,
        {
            "id": purchase_id,
            "user_id": session.user_id,
            "creator_id": session.creator_id,
            "offering_id": session.offering_id,
            "price_id": session.price_id,
            "checkout_session_id": session.id,
            "stripe_payment_intent_id": payment_intent,
            "amount_minor": paid,
            "currency": currency or price.currency,
            "paid_at": clock.utcnow(),
        },
    )
    purchase = db.session.scalar(select(Purchase).where(Purchase.checkout_session_id == session.id))
    assert purchase is not None
    session.purchase_id = purchase.id
    if not created:
        return
    payment = Payment(
        kind="purchase",
        creator_id=purchase.creator_id,
        user_id=purchase.user_id,
        offering_id=purchase.offering_id,
        purchase_id=purchase.id,
        stripe_payment_intent_id=payment_intent,
        amount_minor=paid,
        fee_minor=platform_fee(paid),
        currency=purchase.currency,
        paid_at=purchase.paid_at,
    )
    db.session.add(payment)
    db.session.flush()
    if sold_out:
        _void_purchase(purchase, payment)
        return
    signals.purchase_completed.send(purchase)
    if paid > 0:  # a free checkout brought no money
        signals.payment_recorded.send(payment)


def _void_purchase(purchase: Purchase, payment: Payment) -> None:
    """The offering sold out while this buyer paid: give the money back at once."""
    purchase.void_reason = "sold_out"
    if purchase.stripe_payment_intent_id and purchase.amount_minor > 0:
        refund = current_gateway().refund(
            payment_intent=purchase.stripe_payment_intent_id,
            amount=purchase.amount_minor,
            reason="sold_out",
            idempotency_key=f"void:{purchase.id}",
        )
        record_refund(payment, refund)
    purchase.amount_refunded_minor = payment.refunded_minor = purchase.amount_minor
    purchase.status = "refunded"
    db.session.flush()


def close_checkout(stripe_session_id: str, *, status: str) -> str | None:
    """Mark an unfinished session expired or failed; a completed one stays completed."""
    session = _locked_session(stripe_session_id, {})
    if session is None:
        return "unmatched"
    if session.status == "open":
        session.status = status
        db.session.flush()
        # A credit this checkout held (an upgrade offer) is free to be used by another.
        signals.checkout_closed.send(session)
    return None
