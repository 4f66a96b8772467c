"""Attribution rules, straight through growth's services (no HTTP), and the checkout port."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.accounts.models import User
from service.billing import credits
from service.creators import service as creators
from service.extensions import db
from service.growth import referrals, rewards
from service.growth.models import Referral


@pytest.fixture
def people(ctx, creator, alice, bob, signup, make_creator):
    """Alice's code for Cora, and Dan, another creator."""
    dan = make_creator(signup(display_name="Dan"), handle="dan")
    cora = creators.get_by_handle("cora")
    code = referrals.code_for(user=db.session.get(User, uuid.UUID(alice.id)), creator=cora)
    return {
        "alice": uuid.UUID(alice.id),
        "bob": uuid.UUID(bob.id),
        "cora": cora,
        "dan": creators.get_by_handle(dan["handle"]),
        "code": code.code,
    }


def credits_count(**where):
    return db.session.scalar(select(func.count()).select_from(Referral).filter_by(**where))


def test_a_self_referral_is_ignored(people):
    for kind in ("signup", "follow"):
        assert not referrals.attribute(
            code=people["code"], referred=people["alice"], kind=kind, creator_id=people["cora"].id
        )
    assert credits_count() == 0


def test_a_code_for_another_creator_earns_nothing_there(people):
    sale = uuid.uuid4()
    assert not referrals.attribute(
        code=people["code"],
        referred=people["bob"],
        kind="purchase",
        subject_id=sale,
        creator_id=people["dan"].id,
        amount_minor=500,
        currency="eur",
    )
    assert credits_count() == 0
    # A sign-up names no creator: it is credited to the creator the code is for.
    assert referrals.attribute(code=people["code"], referred=people["bob"], kind="signup")
    [credit] = db.session.scalars(select(Referral)).all()
    assert (credit.referrer_id, credit.creator_id, credit.subject_id) == (
        people["alice"],
        people["cora"].id,
        people["bob"],
    )


def test_each_subject_is_credited_once(people):
    first, second = uuid.uuid4(), uuid.uuid4()
    sale = {"referred": people["bob"], "kind": "purchase", "creator_id": people["cora"].id}
    assert referrals.attribute(code=people["code"], subject_id=first, amount_minor=500, **sale)
    assert not referrals.attribute(code=people["code"], subject_id=first, amount_minor=500, **sale)
    assert referrals.attribute(code=people["code"], subject_id=second, amount_minor=700, **sale)
    follow = {"referred": people["bob"], "kind": "follow", "creator_id": people["cora"].id}
    assert referrals.attribute(code=people["code"], **follow)
    assert not referrals.attribute(code=people["code"].upper(), **follow)  # codes ignore case
    assert credits_count(kind="purchase") == 2 and credits_count(kind="follow") == 1


@pytest.mark.parametrize("code", [None, "", "nosuchcode", "x" * 17, "not-a-code"])
def test_unknown_or_malformed_codes_are_ignored(people, code):
    assert not referrals.attribute(code=code, referred=people["bob"], kind="signup")
    assert credits_count() == 0


def test_a_sale_that_brought_no_money_is_no_paid_referral(people):
    rewards.credit_paid_referral(
        code=people["code"],
        referred=people["bob"],
        kind="subscription",
        subject_id=uuid.uuid4(),
        creator_id=people["cora"].id,
        amount_minor=0,
        currency="eur",
    )
    assert credits_count() == 0


def test_the_app_refuses_to_start_without_checkout_credits(app):
    assert isinstance(app.extensions[credits.EXTENSION], credits.CheckoutCredits)
    with pytest.raises(RuntimeError, match="CheckoutCredits"):
        credits.require_registered(Flask("bare"))
