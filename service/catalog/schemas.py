from __future__ import annotations

from typing import TYPE_CHECKING, Any

import marshmallow as ma

from ..common.pagination import CursorArgs
from ..common.schemas import BaseSchema, Money, StrictInteger, Trimmed
from ..creators.schemas import CreatorSchema
from .models import INTERVALS, KINDS, PRICE_TYPES, STATUSES

if TYPE_CHECKING:
    from .service import OfferingView

MIN_AMOUNT, MAX_AMOUNT = 100, 1_000_000

Benefit = Trimmed(validate=ma.validate.Length(min=1, max=200))


class OfferingUpdateSchema(BaseSchema):
    title = Trimmed(validate=ma.validate.Length(min=1, max=120))
    description = Trimmed(validate=ma.validate.Length(max=5000))
    benefits = ma.fields.List(Benefit, validate=ma.validate.Length(max=20))
    capacity = StrictInteger(allow_none=True, validate=ma.validate.Range(1, 1_000_000))
    rank = StrictInteger(
        validate=ma.validate.Range(0, 1000), metadata={"description": "Tier order, low first"}
    )
    delivery = Trimmed(
        allow_none=True,
        validate=ma.validate.Length(min=1, max=5000),
        metadata={"description": "Products only: text or URL revealed to buyers"},
    )


class OfferingCreateSchema(OfferingUpdateSchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    title = Trimmed(required=True, validate=ma.validate.Length(min=1, max=120))


class PriceCreateSchema(BaseSchema):
    amount = StrictInteger(
        required=True,
        validate=ma.validate.Range(MIN_AMOUNT, MAX_AMOUNT),
        metadata={"description": "Minor units of the creator's currency"},
    )
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(PRICE_TYPES))
    interval = ma.fields.String(validate=ma.validate.OneOf(INTERVALS))
    interval_count = StrictInteger(validate=ma.validate.Range(1, 12))
    trial_days = StrictInteger(validate=ma.validate.Range(0, 90))

    @ma.validates_schema
    def _recurrence(self, data: dict, **kwargs: object) -> None:
        if data["type"] == "recurring":
            if "interval" not in data:
                raise ma.ValidationError("Required for a recurring price.", "interval")
            if data["interval"] == "year" and data.get("interval_count", 1) != 1:
                raise ma.ValidationError("A yearly price renews every 1 year.", "interval_count")
        else:
            extra = [f for f in ("interval", "interval_count", "trial_days") if f in data]
            if extra:
                raise ma.ValidationError({f: ["Only for recurring prices."] for f in extra})


class PriceSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    offering_id = ma.fields.UUID(required=True)
    amount = Money(
        "amount_minor", required=True, metadata={"description": "Per period for a recurring price"}
    )
    type = ma.fields.String(required=True)
    interval = ma.fields.String(required=True, allow_none=True)
    interval_count = ma.fields.Integer(required=True, allow_none=True)
    trial_days = ma.fields.Integer(required=True, allow_none=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)


class OfferingSchema(BaseSchema):
    """Dumps an `OfferingView`: the offering, as far as its flags let this viewer see it.
    A bare Offering cannot be dumped, so no route can forget to decide."""

    id = ma.fields.UUID(required=True)
    creator_id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    benefits = ma.fields.List(ma.fields.String(), required=True)
    capacity = ma.fields.Integer(required=True, allow_none=True)
    rank = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    delivery = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Shown to the creator and to buyers of a product; otherwise null"},
    )
    prices = ma.fields.List(
        ma.fields.Nested(PriceSchema),
        required=True,
        metadata={"description": "Active prices (the creator also sees archived ones)"},
    )
    created_at = ma.fields.DateTime(required=True)
    published_at = ma.fields.DateTime(required=True, allow_none=True)

    def get_attribute(self, obj: OfferingView, attr: str, default: Any) -> Any:
        offering = obj.offering
        if attr == "delivery":
            return offering.delivery if obj.sees_delivery else None
        if attr == "prices":
            return list(offering.prices) if obj.sees_all_prices else [p for p in offering.prices if p.active]
        return super().get_attribute(offering, attr, default)


class OfferingListArgs(CursorArgs):
    status = ma.fields.String(
        validate=ma.validate.OneOf(STATUSES), metadata={"description": "Creator only: filter by status"}
    )


class CreatorPageSchema(CreatorSchema):
    member_count = ma.fields.Integer(required=True)
    offerings = ma.fields.List(ma.fields.Nested(OfferingSchema), required=True)
