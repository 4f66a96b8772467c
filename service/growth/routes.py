"""Growth levers: referral links and what they brought, rewards for ambassadors,
upgrade offers for one-off buyers."""

from __future__ import annotations

from ..accounts.auth import auth_required, current_user
from ..common.http import Blueprint
from ..creators import service as creators
from ..extensions import db
from . import referrals, rewards, upgrades
from .schemas import (
    EligibleOffersSchema,
    ReferralLinkSchema,
    ReferralRewardSchema,
    ReferralSummarySchema,
    UpgradeOfferCreateSchema,
    UpgradeOfferSchema,
)

blp = Blueprint(
    "growth",
    __name__,
    url_prefix="/v1",
    description="Referral links and credits, referral rewards, upgrade offers for one-off buyers",
)


# Referrals ---------------------------------------------------------------------------


@blp.route("/creators/<string:handle>/referral-link", methods=["GET"])
@auth_required()
@blp.response(200, ReferralLinkSchema)
@blp.doc(responses={404: "NOT_FOUND"})
def referral_link(handle: str):
    """Your own referral code and link for this creator"""
    code = referrals.code_for(user=current_user(), creator=creators.get_by_handle(handle))
    db.session.commit()
    return {"code": code.code, "url": referrals.link_for(code)}


@blp.route("/me/referrals", methods=["GET"])
@auth_required()
@blp.response(200, ReferralSummarySchema)
def my_referrals():
    """What the people you referred did: sign-ups, follows, purchases, subscriptions and revenue"""
    return referrals.summary_for(user=current_user())


@blp.route("/creators/<string:handle>/referral-reward", methods=["GET"])
@auth_required()
@blp.response(200, ReferralRewardSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
def get_referral_reward(handle: str):
    """Your reward for followers who bring paying customers"""
    rule = rewards.get_reward(creator=creators.get_owned(user=current_user(), handle=handle))
    return {"after_paid_referrals": rule.after_paid_referrals if rule else None}


@blp.route("/creators/<string:handle>/referral-reward", methods=["PUT"])
@auth_required("catalog")
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


# Upgrade offers ----------------------------------------------------------------------


@blp.route("/creators/<string:handle>/upgrade-offers", methods=["POST"])
@auth_required("catalog")
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
