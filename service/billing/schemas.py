from __future__ import annotations

import marshmallow as ma

from ..common.pagination import CursorArgs
from ..common.schemas import BaseSchema, RedirectUrl, StrictInteger
from ..followers.schemas import UserBriefSchema
from .models import FINAL_STATUSES, LIVE_STATUSES, Subscription
from .rules import ACCESS_RULE


class CheckoutCreateSchema(BaseSchema):
    price_id = ma.fields.UUID(required=True)
    success_url = RedirectUrl(required=True)
    cancel_url = RedirectUrl(required=True)
    upgrade_offer_id = ma.fields.UUID()
    referral_code = ma.fields.String(validate=ma.validate.Length(min=1, max=64))


class CheckoutSessionSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    url = ma.fields.String(required=True, allow_none=True)
    mode = ma.fields.String(required=True, metadata={"description": "payment or subscription"})
    status = ma.fields.String(required=True, metadata={"description": "open, complete, expired or failed"})
    price_id = ma.fields.UUID(required=True)
    offering_id = ma.fields.UUID(required=True)
    purchase_id = ma.fields.UUID(required=True, allow_none=True)
    subscription_id = ma.fields.UUID(required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)


class PurchaseSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    creator_id = ma.fields.UUID(required=True)
    offering_id = ma.fields.UUID(required=True)
    price_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True, metadata={"description": "paid or refunded"})
    amount = ma.fields.Function(lambda p: {"amount": p.amount_minor, "currency": p.currency}, required=True)
    amount_refunded = ma.fields.Function(
        lambda p: {"amount": p.amount_refunded_minor, "currency": p.currency}, required=True
    )
    disputed = ma.fields.Boolean(required=True)
    void_reason = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "sold_out: the last seat went to another buyer, so it was refunded at once"},
    )
    paid_at = ma.fields.DateTime(required=True)


def _scheduled_change(sub: Subscription) -> dict[str, str | None] | None:
    if sub.scheduled_price_id is None:
        return None
    at = sub.current_period_end.isoformat() if sub.current_period_end else None
    return {"price_id": str(sub.scheduled_price_id), "at": at}


class SubscriptionSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    creator = ma.fields.Function(
        lambda s: s.creator.handle, required=True, metadata={"description": "handle"}
    )
    offering = ma.fields.UUID(required=True, attribute="offering_id")
    price = ma.fields.UUID(required=True, attribute="price_id")
    subscriber = ma.fields.Nested(UserBriefSchema, required=True, attribute="user")
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(LIVE_STATUSES + FINAL_STATUSES))
    has_access = ma.fields.Function(lambda s: ACCESS_RULE.holds(s), required=True)
    cancel_at_period_end = ma.fields.Boolean(required=True)
    current_period_end = ma.fields.DateTime(required=True, allow_none=True)
    trial_end = ma.fields.DateTime(required=True, allow_none=True)
    started_at = ma.fields.DateTime(required=True)
    pending_price_id = ma.fields.UUID(
        required=True, allow_none=True, metadata={"description": "An upgrade waiting for its payment"}
    )
    scheduled_change = ma.fields.Function(
        _scheduled_change,
        required=True,
        allow_none=True,
        metadata={"description": "A downgrade that takes effect at the period end: {price_id, at}"},
    )
    action_required = ma.fields.Function(
        lambda s: {"url": s.action_required_url} if s.action_required_url else None,
        required=True,
        allow_none=True,
        metadata={"description": "A payment waits for the subscriber to authenticate it: {url} of its page"},
    )
    disputed = ma.fields.Boolean(
        required=True, metadata={"description": "A payment of it is disputed: no access meanwhile"}
    )
    void_reason = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Why it was ended and refunded at once: duplicate_membership (another "
            "checkout for this creator was paid first) or sold_out"
        },
    )


class CancelSchema(BaseSchema):
    at_period_end = ma.fields.Boolean(load_default=True)


class ChangeSchema(BaseSchema):
    price_id = ma.fields.UUID(required=True)


class PortalCreateSchema(BaseSchema):
    return_url = RedirectUrl(required=True)


class UrlSchema(BaseSchema):
    url = ma.fields.String(required=True)


class MembersArgs(CursorArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(LIVE_STATUSES + FINAL_STATUSES))
    offering_id = ma.fields.UUID()


class SaleSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "purchase or invoice"})
    buyer = ma.fields.Nested(UserBriefSchema, required=True, attribute="user")
    offering_id = ma.fields.UUID(required=True)
    purchase_id = ma.fields.UUID(required=True, allow_none=True)
    subscription_id = ma.fields.UUID(required=True, allow_none=True)
    amount = ma.fields.Function(lambda p: {"amount": p.amount_minor, "currency": p.currency}, required=True)
    platform_fee = ma.fields.Function(
        lambda p: {"amount": p.fee_minor, "currency": p.currency}, required=True
    )
    refunded = ma.fields.Function(
        lambda p: {"amount": p.refunded_minor, "currency": p.currency}, required=True
    )
    lost_to_dispute = ma.fields.Function(
        lambda p: {"amount": p.disputed_minor, "currency": p.currency},
        required=True,
        metadata={"description": "Taken back by a dispute the creator lost"},
    )
    billing_reason = ma.fields.String(required=True, allow_none=True)
    paid_at = ma.fields.DateTime(required=True)


class RefundCreateSchema(BaseSchema):
    amount = StrictInteger(
        validate=ma.validate.Range(min=1), metadata={"description": "Minor units; all if omitted"}
    )


class OnboardingSchema(BaseSchema):
    return_url = RedirectUrl(required=True)
    refresh_url = RedirectUrl(required=True)


class PayoutStatusSchema(BaseSchema):
    payouts_enabled = ma.fields.Boolean(required=True)
    charges_enabled = ma.fields.Boolean(required=True)
    requirements_due = ma.fields.List(ma.fields.String(), required=True)
    onboarded = ma.fields.Boolean(required=True)


class WebhookAckSchema(BaseSchema):
    received = ma.fields.Boolean(required=True)
    duplicate = ma.fields.Boolean(required=True)
