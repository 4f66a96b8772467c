from __future__ import annotations

from typing import Any

import marshmallow as ma

from ..common.pagination import CursorArgs
from ..common.schemas import BaseSchema, Money, RedirectUrl, StrictInteger
from ..creators.schemas import CreatorRefSchema
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
    creator = ma.fields.Nested(CreatorRefSchema, required=True)
    offering_id = ma.fields.UUID(required=True)
    price_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True, metadata={"description": "paid or refunded"})
    amount = Money("amount_minor", required=True)
    amount_refunded = Money("amount_refunded_minor", required=True)
    disputed = ma.fields.Boolean(required=True)
    void_reason = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "sold_out: the last seat went to another buyer, so it was refunded at once"},
    )
    paid_at = ma.fields.DateTime(required=True)


class ScheduledChangeSchema(BaseSchema):
    price_id = ma.fields.UUID(required=True)
    at = ma.fields.DateTime(required=True, allow_none=True)


class ActionRequiredSchema(BaseSchema):
    url = ma.fields.String(required=True)


class SubscriptionSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    creator_id = ma.fields.UUID(required=True)
    creator = ma.fields.Nested(CreatorRefSchema, required=True)
    offering_id = ma.fields.UUID(required=True)
    price_id = ma.fields.UUID(required=True)
    subscriber = ma.fields.Nested(UserBriefSchema, required=True, attribute="user")
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(LIVE_STATUSES + FINAL_STATUSES))
    has_access = ma.fields.Function(
        lambda s: ACCESS_RULE.holds(s), required=True, metadata={"type": "boolean"}
    )
    cancel_at_period_end = ma.fields.Boolean(required=True)
    current_period_end = ma.fields.DateTime(required=True, allow_none=True)
    trial_end = ma.fields.DateTime(required=True, allow_none=True)
    started_at = ma.fields.DateTime(required=True)
    pending_price_id = ma.fields.UUID(
        required=True, allow_none=True, metadata={"description": "An upgrade waiting for its payment"}
    )
    scheduled_change = ma.fields.Nested(
        ScheduledChangeSchema,
        required=True,
        allow_none=True,
        metadata={"description": "A downgrade that takes effect at the period end"},
    )
    action_required = ma.fields.Nested(
        ActionRequiredSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "A payment waits for the subscriber to authenticate it: the url of its page"
        },
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

    def get_attribute(self, obj: Subscription, attr: str, default: Any) -> Any:
        if attr == "scheduled_change":
            if obj.scheduled_price_id is None:
                return None
            return {"price_id": obj.scheduled_price_id, "at": obj.current_period_end}
        if attr == "action_required":
            return {"url": obj.action_required_url} if obj.action_required_url else None
        return super().get_attribute(obj, attr, default)


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
    amount = Money("amount_minor", required=True)
    platform_fee = Money("fee_minor", required=True)
    amount_refunded = Money("refunded_minor", required=True)
    lost_to_dispute = Money(
        "disputed_minor", required=True, metadata={"description": "Taken back by a dispute the creator lost"}
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
