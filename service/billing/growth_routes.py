"""Growth levers creators pull: upgrade offers for one-off buyers, rewards for ambassadors."""

from __future__ import annotations

import marshmallow as ma

from ..accounts.auth import auth_required, current_user
from ..common.http import Blueprint
from ..common.schemas import BaseSchema, MoneySchema, StrictInteger
from ..creators import service as creators
from ..extensions import db
from . import rewards, upgrades

blp = Blueprint(
    "growth", __name__, url_prefix="/v1", description="Upgrade offers for one-off buyers, referral rewards"
)


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


class UpgradeOfferSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    from_offering_id = ma.fields.UUID(required=True)
    to_price_id = ma.fields.UUID(required=True)
    credit = ma.fields.Function(
        lambda o: (
            {"percent": o.credit_percent}
            if o.credit_percent is not None
            else {"amount": o.credit_amount_minor}
        ),
        required=True,
    )
    valid_days = ma.fields.Integer(required=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)


class EligibleOfferSchema(BaseSchema):
    offer = ma.fields.Nested(UpgradeOfferSchema, required=True)
    creator = ma.fields.Function(lambda e: e["offer"].to_price.offering.creator.handle, required=True)
    purchase_id = ma.fields.UUID(required=True)
    credit = ma.fields.Nested(MoneySchema, required=True, metadata={"description": "Off the first invoice"})
    expires_at = ma.fields.DateTime(required=True)


class EligibleOffersSchema(BaseSchema):
    data = ma.fields.List(ma.fields.Nested(EligibleOfferSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)


@blp.route("/creators/<string:handle>/upgrade-offers", methods=["POST"])
@auth_required()
@blp.arguments(UpgradeOfferCreateSchema)
@blp.response(201, UpgradeOfferSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
def create_upgrade_offer(data, handle: str):
    """Offer buyers of a one-off a credit towards a membership

    The credit applies to the first invoice only, for `valid_days` after the
    purchase, once per purchase.
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    offer = upgrades.create_offer(creator=creator, **data)
    db.session.commit()
    return offer


@blp.route("/me/upgrade-offers", methods=["GET"])
@auth_required()
@blp.response(200, EligibleOffersSchema)
def my_upgrade_offers():
    """Upgrade offers you can take now, with the credit you would get

    Pass `upgrade_offer_id` with the offer's `to_price_id` to POST
    /v1/checkout/sessions to use one.
    """
    return {"data": upgrades.eligible_for(user=current_user()), "next_cursor": None}


class ReferralRewardSchema(BaseSchema):
    after_paid_referrals = StrictInteger(
        required=True,
        allow_none=True,
        validate=ma.validate.Range(1, 100),
        metadata={
            "description": "A free period of their membership after every N paid referrals; null: no reward"
        },
    )


@blp.route("/creators/<string:handle>/referral-reward", methods=["GET"])
@auth_required()
@blp.response(200, ReferralRewardSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
def get_referral_reward(handle: str):
    """Your reward for followers who bring paying customers"""
    rule = rewards.get_reward(creator=creators.get_owned(user=current_user(), handle=handle))
    return {"after_paid_referrals": rule.after_paid_referrals if rule else None}


@blp.route("/creators/<string:handle>/referral-reward", methods=["PUT"])
@auth_required()
@blp.arguments(ReferralRewardSchema)
@blp.response(200, ReferralRewardSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
def set_referral_reward(data, handle: str):
    """Reward ambassadors: a free period of their membership after every N paid referrals

    The period is taken off the referrer's next invoice with you. Referrers who
    are not members when they reach a milestone get nothing for it.
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    rewards.set_reward(creator=creator, after_paid_referrals=data["after_paid_referrals"])
    db.session.commit()
    return data
