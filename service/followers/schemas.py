from __future__ import annotations

import marshmallow as ma

from ..common.schemas import BaseSchema, MoneySchema


class UserBriefSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)


class FollowerSchema(BaseSchema):
    user = ma.fields.Nested(UserBriefSchema, required=True)
    followed_at = ma.fields.DateTime(required=True)
    is_member = ma.fields.Boolean(required=True)


class MembershipBriefSchema(BaseSchema):
    tier_offering_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    current_period_end = ma.fields.DateTime(required=True, allow_none=True)


class AccessSchema(BaseSchema):
    following = ma.fields.Boolean(required=True)
    membership = ma.fields.Nested(MembershipBriefSchema, required=True, allow_none=True)
    purchases = ma.fields.List(
        ma.fields.UUID(), required=True, metadata={"description": "Offering ids bought"}
    )


class FollowArgs(BaseSchema):
    ref = ma.fields.String(
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "Referral code from a shared link"},
    )


class ReferralLinkSchema(BaseSchema):
    code = ma.fields.String(required=True)
    url = ma.fields.String(required=True)


class ReferralCountsSchema(BaseSchema):
    signups = ma.fields.Integer(required=True)
    follows = ma.fields.Integer(required=True)
    purchases = ma.fields.Integer(required=True)
    subscriptions = ma.fields.Integer(required=True)


class CreatorReferralsSchema(ReferralCountsSchema):
    creator = ma.fields.String(required=True, metadata={"description": "handle"})
    revenue = ma.fields.List(ma.fields.Nested(MoneySchema), required=True)


class ReferralSummarySchema(ReferralCountsSchema):
    by_creator = ma.fields.List(ma.fields.Nested(CreatorReferralsSchema), required=True)
