from __future__ import annotations

from typing import TYPE_CHECKING, Any

import marshmallow as ma

from ..common.schemas import BaseSchema, Money, MoneySchema, StrictInteger
from ..creators.schemas import CreatorRefSchema

if TYPE_CHECKING:
    from .models import UpgradeOffer

# Referrals ---------------------------------------------------------------------------


class ReferralLinkSchema(BaseSchema):
    code = ma.fields.String(required=True)
    url = ma.fields.String(required=True)


class ReferralCountsSchema(BaseSchema):
    signups = ma.fields.Integer(required=True)
    follows = ma.fields.Integer(required=True)
    purchases = ma.fields.Integer(required=True)
    subscriptions = ma.fields.Integer(required=True)


class CreatorReferralsSchema(ReferralCountsSchema):
    creator_id = ma.fields.UUID(required=True)
    creator = ma.fields.Nested(CreatorRefSchema, required=True)
    revenue = ma.fields.List(
        ma.fields.Nested(MoneySchema), required=True, metadata={"description": "One total per currency"}
    )


class ReferralSummarySchema(ReferralCountsSchema):
    by_creator = ma.fields.List(ma.fields.Nested(CreatorReferralsSchema), required=True)


class ReferralRewardSchema(BaseSchema):
    after_paid_referrals = StrictInteger(
        required=True,
        allow_none=True,
        validate=ma.validate.Range(1, 100),
        metadata={
            "description": "A free period of their membership after every N paid referrals; null: no reward"
        },
    )


# Upgrade offers ----------------------------------------------------------------------


class CreditSchema(BaseSchema):
    percent = StrictInteger(
        validate=ma.validate.Range(1, 100), metadata={"description": "Of what the buyer paid"}
    )
    amount = StrictInteger(
        validate=ma.validate.Range(1, 1_000_000),
        metadata={"description": "Minor units, at most what was paid"},
    )

    @ma.validates_schema
    def _exactly_one(self, data: dict, **kwargs: object) -> None:
        if len(data) != 1:
            raise ma.ValidationError("Give either `percent` or `amount`.")


class UpgradeOfferCreateSchema(BaseSchema):
    from_offering_id = ma.fields.UUID(required=True)
    to_price_id = ma.fields.UUID(required=True)
    credit = ma.fields.Nested(CreditSchema, required=True)
    valid_days = StrictInteger(required=True, validate=ma.validate.Range(1, 365))


class OfferCreditSchema(BaseSchema):
    """Dumps an UpgradeOffer's credit: exactly one of the two is set."""

    percent = ma.fields.Integer(
        required=True,
        allow_none=True,
        attribute="credit_percent",
        metadata={"description": "Of what was paid"},
    )
    amount = Money(
        "credit_amount_minor",
        currency="to_price.currency",
        required=True,
        allow_none=True,
        metadata={"description": "A fixed credit, at most what was paid"},
    )


class UpgradeOfferSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    creator_id = ma.fields.UUID(required=True)
    from_offering_id = ma.fields.UUID(required=True)
    to_price_id = ma.fields.UUID(required=True)
    credit = ma.fields.Nested(OfferCreditSchema, required=True)
    valid_days = ma.fields.Integer(required=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)

    def get_attribute(self, obj: UpgradeOffer, attr: str, default: Any) -> Any:
        # The credit is two columns of the offer itself.
        return obj if attr == "credit" else super().get_attribute(obj, attr, default)


class EligibleOfferSchema(BaseSchema):
    offer = ma.fields.Nested(UpgradeOfferSchema, required=True)
    creator_id = ma.fields.UUID(required=True, attribute="offer.creator_id")
    creator = ma.fields.Nested(CreatorRefSchema, required=True, attribute="offer.to_price.offering.creator")
    purchase_id = ma.fields.UUID(required=True)
    credit = ma.fields.Nested(MoneySchema, required=True, metadata={"description": "Off the first invoice"})
    expires_at = ma.fields.DateTime(required=True)


class EligibleOffersSchema(BaseSchema):
    data = ma.fields.List(ma.fields.Nested(EligibleOfferSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)
