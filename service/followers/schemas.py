from __future__ import annotations

import marshmallow as ma

from ..common.schemas import BaseSchema


class UserBriefSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)


class FollowerSchema(BaseSchema):
    user = ma.fields.Nested(UserBriefSchema, required=True)
    followed_at = ma.fields.DateTime(required=True)
    is_member = ma.fields.Boolean(required=True)


class MembershipBriefSchema(BaseSchema):
    subscription_id = ma.fields.UUID(required=True)
    offering_id = ma.fields.UUID(
        required=True, attribute="tier_offering_id", metadata={"description": "The tier"}
    )
    price_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    current_period_end = ma.fields.DateTime(required=True, allow_none=True)


class PurchaseBriefSchema(BaseSchema):
    purchase_id = ma.fields.UUID(required=True)
    offering_id = ma.fields.UUID(required=True)
    price_id = ma.fields.UUID(required=True)
    paid_at = ma.fields.DateTime(required=True)


class AccessSchema(BaseSchema):
    following = ma.fields.Boolean(required=True)
    membership = ma.fields.Nested(MembershipBriefSchema, required=True, allow_none=True)
    purchases = ma.fields.List(
        ma.fields.Nested(PurchaseBriefSchema),
        required=True,
        metadata={"description": "Purchases that grant what was bought (paid, not disputed), oldest first"},
    )


class FollowArgs(BaseSchema):
    ref = ma.fields.String(
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "Referral code from a shared link"},
    )
