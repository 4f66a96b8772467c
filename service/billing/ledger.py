"""Refunds and disputes of any sale, read from the provider and matched by payment intent.

An event about a charge, a refund or a dispute is only a trigger: the object is
re-read from the gateway and matched to our ledger row (`Payment`) by its payment
intent — a purchase's or a subscription invoice's. A payment we have not recorded
yet is recorded first from the provider (its checkout fulfilled, or its invoice
read); one that is not ours is `unmatched`, and never retried.

Disputes: an inquiry (`warning_*`) changes nothing; an open chargeback
(`needs_response`, `under_review`) suspends what the sale gave — the product's
delivery, or the membership's access; `won`, `prevented` and `warning_closed`
restore it. A `lost` dispute takes the amount off the creator's revenue, keeps a
product's delivery hidden, and ends a membership at once (canceled at the
provider, without a refund: the dispute already took the money back).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, exists, select

from ..common import clock
from ..common.db import insert_or_ignore
from ..common.ids import parse_uuid
from ..extensions import db
from . import checkout, purchases, signals, subscriptions
from .access import count_membership_change, grants_membership
from .gateway import ChargeInfo, DisputeInfo, current_gateway
from .models import (
    ACCESS_REMOVING_DISPUTES,
    FINAL_STATUSES,
    CheckoutSession,
    Dispute,
    Payment,
    Purchase,
    Subscription,
)


def _locked_payment(payment_intent: str) -> Payment | None:
    # A purchase's row first, then its ledger row: the order a creator's refund takes
    # (purchases.get_for_creator), so a refund and an event about the same sale cannot deadlock.
    db.session.execute(
        select(Purchase.id).where(Purchase.stripe_payment_intent_id == payment_intent).with_for_update()
    )
    return db.session.scalar(
        select(Payment)
        .where(Payment.stripe_payment_intent_id == payment_intent)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def payment_for(payment_intent: str | None) -> Payment | None:
    """Our ledger row for a payment intent, recorded from the provider first if it is ours
    but not yet known here (events arrive in any order)."""
    if not payment_intent:
        return None
    payment = _locked_payment(payment_intent)
    if payment is None and _record_from_provider(payment_intent):
        payment = _locked_payment(payment_intent)
    return payment


def _record_from_provider(payment_intent: str) -> bool:
    gateway = current_gateway()
    session_id = parse_uuid(
        gateway.retrieve_payment_intent(payment_intent).metadata.get("checkout_session_id")
    )
    session = db.session.get(CheckoutSession, session_id) if session_id else None
    if session is not None and session.stripe_session_id:
        checkout.fulfil_checkout(session.stripe_session_id)
        return True
    invoice_id = gateway.invoice_paid_by(payment_intent)
    if invoice_id:
        subscriptions.record_invoice_paid(invoice_id)
        return True
    return False


# Refunds ------------------------------------------------------------------------------------


def sync_charge(charge_id: str) -> str | None:
    """Mirror a charge's refunds (made by us or in the dashboard, succeeded or failed)."""
    charge = current_gateway().retrieve_charge(charge_id)
    payment = payment_for(charge.payment_intent)
    if payment is None:
        return "unmatched"
    apply_charge(payment, charge)
    return None


def sync_refund(refund_id: str) -> str | None:
    refund = current_gateway().retrieve_refund(refund_id)
    return sync_charge(refund.charge) if refund.charge else "unmatched"


def apply_charge(payment: Payment, charge: ChargeInfo) -> None:
    # The provider's figure is the truth: it also goes down again when a refund fails.
    payment.refunded_minor = min(charge.amount_refunded, payment.amount_minor)
    for refund in charge.refunds:
        purchases.record_refund(payment, refund)
    purchase = _purchase_of(payment)
    if purchase is not None:
        purchases.set_refunded(purchase, payment.refunded_minor)
    db.session.flush()
    signals.payment_adjusted.send(payment)


def _purchase_of(payment: Payment) -> Purchase | None:
    if payment.purchase_id is None:
        return None
    return db.session.scalar(
        select(Purchase)
        .where(Purchase.id == payment.purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# Disputes -----------------------------------------------------------------------------------


def sync_dispute(dispute_id: str) -> str | None:
    """Mirror a dispute and apply what its status means for the sale (see the module docstring)."""
    gateway = current_gateway()
    dispute = gateway.retrieve_dispute(dispute_id)
    intent = dispute.payment_intent
    if intent is None and dispute.charge:  # disputes do not always name the payment intent
        intent = gateway.retrieve_charge(dispute.charge).payment_intent
    payment = payment_for(intent)
    if payment is None:
        return "unmatched"
    _record_dispute(payment, dispute)
    payment.disputed_minor = min(dispute.amount, payment.amount_minor) if dispute.status == "lost" else 0
    purchase = _purchase_of(payment)
    if purchase is not None:
        purchase.disputed = _suspends(Payment.id == payment.id)
    if payment.subscription_id is not None:
        _apply_to_subscription(payment.subscription_id, dispute)
    db.session.flush()
    signals.payment_adjusted.send(payment)
    return None


def _record_dispute(payment: Payment, dispute: DisputeInfo) -> None:
    values = {
        "stripe_dispute_id": dispute.id,
        "payment_id": payment.id,
        "status": dispute.status,
        "reason": dispute.reason,
        "amount_minor": dispute.amount,
        "currency": dispute.currency or payment.currency,
        "synced_at": clock.utcnow(),
    }
    if not insert_or_ignore(db.session, Dispute, values):
        row = db.session.scalar(select(Dispute).where(Dispute.stripe_dispute_id == dispute.id))
        assert row is not None
        row.status, row.reason, row.amount_minor = dispute.status, dispute.reason, dispute.amount
        row.synced_at = clock.utcnow()
    db.session.flush()


def _suspends(which_payments: ColumnElement[bool]) -> bool:
    """Whether any dispute on these payments takes access away."""
    stmt = select(
        exists().where(
            Dispute.payment_id == Payment.id, Dispute.status.in_(ACCESS_REMOVING_DISPUTES), which_payments
        )
    )
    return bool(db.session.scalar(stmt))


def _apply_to_subscription(subscription_id: uuid.UUID, dispute: DisputeInfo) -> None:
    sub = db.session.scalar(
        select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert sub is not None
    granted = grants_membership(sub)
    sub.disputed = _suspends(Payment.subscription_id == sub.id)
    db.session.flush()
    count_membership_change(sub, granted_before=granted)
    signals.subscription_stored.send(sub)
    if dispute.status == "lost" and sub.status not in FINAL_STATUSES:
        ended = current_gateway().cancel_subscription_now(
            sub.stripe_subscription_id, idempotency_key=f"dispute-lost:{dispute.id}"
        )
        subscriptions.apply(sub, ended)
