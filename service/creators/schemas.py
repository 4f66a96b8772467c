from __future__ import annotations

import marshmallow as ma

from ..common.money import SUPPORTED_CURRENCIES
from ..common.pagination import CursorArgs
from ..common.schemas import BaseSchema, Trimmed

DM_POLICIES = ("everyone", "followers", "members", "tiers", "nobody")
MAX_TAGS = 10

Tag = Trimmed(validate=ma.validate.Length(min=1, max=30))


class CreatorCreateSchema(BaseSchema):
    handle = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=100),
        metadata={"description": "Normalised (NFKC, lower case), then `^[a-z0-9_]{3,30}$`"},
    )
    display_name = Trimmed(required=True, validate=ma.validate.Length(min=1, max=100))
    bio = Trimmed(load_default="", validate=ma.validate.Length(max=1000))
    purpose = Trimmed(load_default="", validate=ma.validate.Length(max=1000))
    tags = ma.fields.List(Tag, load_default=list, validate=ma.validate.Length(max=MAX_TAGS))
    currency = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=3, max=3),
        metadata={"description": "ISO 4217 code Stripe supports, e.g. `eur`"},
    )
    dm_policy = ma.fields.String(load_default="followers", validate=ma.validate.OneOf(DM_POLICIES))
    dm_tier_ids = ma.fields.List(ma.fields.UUID(), load_default=list, validate=ma.validate.Length(max=50))

    @ma.validates("currency")
    def _currency(self, value: str, **kwargs: object) -> None:
        if value.lower() not in SUPPORTED_CURRENCIES:
            raise ma.ValidationError("Not a currency Stripe supports.")

    @ma.post_load
    def _lower_currency(self, data: dict, **kwargs: object) -> dict:
        if "currency" in data:
            data["currency"] = data["currency"].lower()
        return data


class CreatorUpdateSchema(BaseSchema):
    """Handle and currency are fixed once chosen: links and prices depend on them."""

    display_name = Trimmed(validate=ma.validate.Length(min=1, max=100))
    bio = Trimmed(validate=ma.validate.Length(max=1000))
    purpose = Trimmed(validate=ma.validate.Length(max=1000))
    tags = ma.fields.List(Tag, validate=ma.validate.Length(max=MAX_TAGS))
    dm_policy = ma.fields.String(validate=ma.validate.OneOf(DM_POLICIES))
    dm_tier_ids = ma.fields.List(ma.fields.UUID(), validate=ma.validate.Length(max=50))


class CreatorSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    handle = ma.fields.String(required=True)
    display_name = ma.fields.String(required=True)
    bio = ma.fields.String(required=True)
    purpose = ma.fields.String(required=True)
    tags = ma.fields.List(ma.fields.String(), required=True)
    currency = ma.fields.String(required=True)
    dm_policy = ma.fields.String(required=True)
    follower_count = ma.fields.Integer(required=True)
    payouts_enabled = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)


class CreatorRefSchema(BaseSchema):
    """A creator as other resources embed it: enough to show and link it."""

    id = ma.fields.UUID(required=True)
    handle = ma.fields.String(required=True)
    display_name = ma.fields.String(required=True)


class CreatorOwnerSchema(CreatorSchema):
    dm_tier_ids = ma.fields.List(ma.fields.UUID(), required=True)


class DiscoveryArgs(CursorArgs):
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    tag = ma.fields.String(validate=ma.validate.Length(min=1, max=30))
