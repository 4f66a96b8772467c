"""Paid referrals, and rewards for ambassadors: after every N of them, a free period
of their membership.

A referral counts as paid when billing records money received for a checkout
that carried the code (`payment_recorded`: a paid purchase, or a subscription's
invoice above zero, so a trial never counts); each purchase or subscription
counts once. The reward goes on the referrer's own membership with the creator,
through the gateway (a one-time 100 % discount on the next invoice). Each
milestone is granted once, however often the events that led to it are replayed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from ..billing.access import membership_of
from ..billing.gateway import current_gateway
from ..billing.models import CheckoutSession, Payment
from ..billing.signals import payment_recorded
from ..common.db import insert_or_ignore
from ..creators.models import Creator
from ..extensions import db
from . import referrals
from .models import Referral, ReferralReward, RewardGrant


def set_reward(*, creator: Creator, after_paid_referrals: int | None) -> ReferralReward | None:
    """Set (or with None, remove) the creator's reward rule."""
    rule = db.session.get(ReferralReward, creator.id)
    if after_paid_referrals is None:
        if rule is not None:
            db.session.delete(rule)
            db.session.flush()
        return None
    if rule is None:
        rule = ReferralReward(creator_id=creator.id, after_paid_referrals=after_paid_referrals)
        db.session.add(rule)
    rule.after_paid_referrals = after_paid_referrals
    db.session.flush()
    return rule


def get_reward(*, creator: Creator) -> ReferralReward | None:
    return db.session.get(ReferralReward, creator.id)


def credit_paid_referral(
    *,
    code: str | None,
    referred: uuid.UUID,
    kind: str,
    subject_id: uuid.UUID,
    creator_id: uuid.UUID,
    amount_minor: int,
    currency: str,
) -> None:
    """Credit the code's owner with a sale that brought money (a free trial or a free checkout
    does not count), and grant the reward it may complete."""
    if amount_minor <= 0:
        return
    credited = referrals.attribute(
        code=code,
        referred=referred,
        kind=kind,
        subject_id=subject_id,
        creator_id=creator_id,
        amount_minor=amount_minor,
        currency=currency,
    )
    if credited is not None:
        reward_referrer(code_owner=credited.user_id, creator_id=creator_id)


@payment_recorded.connect
def _credit_payment(payment: Payment, **kwargs: object) -> None:
    """Credit the referrer of the checkout that led to this payment: its purchase, or its
    subscription (once, at its first paid invoice)."""
    if payment.kind == "purchase":
        kind, subject_id = "purchase", payment.purchase_id
        led_here = CheckoutSession.purchase_id == subject_id
    else:
        kind, subject_id = "subscription", payment.subscription_id
        led_here = CheckoutSession.subscription_id == subject_id
    if subject_id is None:
        return
    code = db.session.scalar(
        select(CheckoutSession.referral_code).where(led_here, CheckoutSession.referral_code.is_not(None))
    )
    if code is None:
        return
    credit_paid_referral(
        code=code,
        referred=payment.user_id,
        kind=kind,
        subject_id=subject_id,
        creator_id=payment.creator_id,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )


def reward_referrer(*, code_owner: uuid.UUID, creator_id: uuid.UUID) -> None:
    """Grant the milestone the referrer just reached, if any (once per milestone)."""
    rule = db.session.get(ReferralReward, creator_id)
    if rule is None:
        return
    paid = db.session.scalar(
        select(func.count()).where(
            Referral.referrer_id == code_owner,
            Referral.creator_id == creator_id,
            Referral.kind.in_(("purchase", "subscription")),
        )
    )
    milestone = (paid or 0) // rule.after_paid_referrals
    if milestone == 0:
        return
    membership = membership_of(user_id=code_owner, creator_id=creator_id)
    values = {"referrer_id": code_owner, "creator_id": creator_id, "milestone": milestone}
    if not insert_or_ignore(db.session, RewardGrant, {**values, "status": "pending"}):
        return
    grant = db.session.scalar(select(RewardGrant).filter_by(**values))
    assert grant is not None
    if membership is None:
        grant.status = "not_a_member"
    else:
        current_gateway().grant_free_period(
            membership.stripe_subscription_id, idempotency_key=f"reward:{grant.id}"
        )
        grant.status = "applied"
    db.session.flush()
