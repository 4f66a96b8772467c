"""Upgrade offers (one-off buyer → member) and referrals."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from service.billing import checkout as checkout_service
from service.billing.models import CheckoutSession
from service.common import clock
from service.extensions import db
from service.growth.models import RewardGrant

from .billing_helpers import buy, onboard, simulate, start_checkout
from .conftest import assert_problem, log_in


@pytest.fixture
def shop(client, creator, make_offering):
    onboard(client, creator)
    return {
        "tier": make_offering(creator, title="Tier", amount=1000),
        "yearly": make_offering(
            creator, title="Yearly", amount=12000, price={"type": "recurring", "interval": "year"}
        ),
        "product": make_offering(creator, kind="product", title="Pack", amount=2500),
    }


def offer(client, creator, shop, credit, valid_days=14, to="tier"):
    rv = client.post(
        "/v1/creators/cora/upgrade-offers",
        json={
            "from_offering_id": shop["product"]["id"],
            "to_price_id": shop[to]["price"]["id"],
            "credit": credit,
            "valid_days": valid_days,
        },
        headers=creator.headers,
    )
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def my_offers(client, account):
    rv = client.get("/v1/me/upgrade-offers", headers=account.headers)
    assert rv.status_code == 200
    return rv.get_json()["data"]


def sales(client, creator):
    return client.get("/v1/creators/cora/sales", headers=creator.headers).get_json()["data"]


def test_upgrade_offer_credits_the_first_invoice_only(app, client, creator, alice, shop):
    made = offer(client, creator, shop, {"percent": 20})
    assert made["credit"] == {"percent": 20, "amount": None}
    assert my_offers(client, alice) == []
    buy(client, alice, shop["product"]["price"]["id"])
    [eligible] = my_offers(client, alice)
    assert eligible["offer"]["id"] == made["id"] and eligible["credit"] == {"amount": 500, "currency": "eur"}
    cora = {
        "id": creator["creator"]["id"],
        "handle": "cora",
        "display_name": creator["creator"]["display_name"],
    }
    assert (eligible["creator_id"], eligible["creator"]) == (cora["id"], cora)
    session = buy_with_offer(client, alice, shop["tier"]["price"]["id"], made["id"])
    first_invoice = [s for s in sales(client, creator) if s["kind"] == "invoice"]
    assert [s["amount"]["amount"] for s in first_invoice] == [500]  # 1000 − 20 % of 2500
    simulate(app, "renew", session["subscription_id"])
    invoices = sorted(s["amount"]["amount"] for s in sales(client, creator) if s["kind"] == "invoice")
    assert invoices == [500, 1000]


def buy_with_offer(client, account, price_id, offer_id):
    return buy(client, account, price_id, upgrade_offer_id=offer_id)


def test_credit_never_exceeds_the_first_invoice(client, creator, alice, shop):
    made = offer(client, creator, shop, {"amount": 2500})
    assert made["credit"] == {"percent": None, "amount": {"amount": 2500, "currency": "eur"}}
    buy(client, alice, shop["product"]["price"]["id"])
    assert my_offers(client, alice)[0]["credit"]["amount"] == 1000
    buy_with_offer(client, alice, shop["tier"]["price"]["id"], made["id"])
    assert [s["kind"] for s in sales(client, creator)] == ["purchase"]  # the first invoice was free


def test_fixed_credit_is_capped_at_what_was_paid(client, creator, alice, shop):
    offer(client, creator, shop, {"amount": 100_000}, to="yearly")
    buy(client, alice, shop["product"]["price"]["id"])
    assert my_offers(client, alice)[0]["credit"]["amount"] == 2500


def test_offer_expires_after_valid_days(client, creator, alice, shop):
    made = offer(client, creator, shop, {"percent": 50}, valid_days=7)
    buy(client, alice, shop["product"]["price"]["id"])
    clock.freeze(clock.utcnow() + timedelta(days=8))
    later = log_in(client, alice)
    assert my_offers(client, later) == []
    rv = start_checkout(client, later, shop["tier"]["price"]["id"], upgrade_offer_id=made["id"])
    assert "expired" in assert_problem(rv, 409, "upgrade_offer_not_eligible")["detail"]


def test_offer_is_used_once_per_purchase_and_not_by_members(client, creator, alice, bob, shop):
    made = offer(client, creator, shop, {"percent": 10})
    buy(client, alice, shop["product"]["price"]["id"])
    session = buy_with_offer(client, alice, shop["tier"]["price"]["id"], made["id"])
    assert my_offers(client, alice) == []
    client.post(
        f"/v1/subscriptions/{session['subscription_id']}/cancel",
        json={"at_period_end": False},
        headers=alice.headers,
    )
    rv = start_checkout(client, alice, shop["tier"]["price"]["id"], upgrade_offer_id=made["id"])
    assert "already used" in assert_problem(rv, 409, "upgrade_offer_not_eligible")["detail"]
    rv = start_checkout(client, bob, shop["tier"]["price"]["id"], upgrade_offer_id=made["id"])
    assert "not bought" in assert_problem(rv, 409)["detail"]


def test_member_is_not_eligible(client, creator, alice, shop):
    offer(client, creator, shop, {"percent": 10})
    buy(client, alice, shop["product"]["price"]["id"])
    buy(client, alice, shop["tier"]["price"]["id"])
    assert my_offers(client, alice) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"credit": {"percent": 0}}, "credit"),
        ({"credit": {"percent": 101}}, "credit"),
        ({"credit": {"percent": 10, "amount": 100}}, "credit"),
        ({"credit": {}}, "credit"),
        ({"valid_days": 0}, "valid_days"),
        ({"to": "product"}, "to_price_id"),
    ],
)
def test_bad_upgrade_offers_are_refused(client, creator, shop, body, field):
    to = body.pop("to", "tier")
    payload = {
        "from_offering_id": shop["product"]["id"],
        "to_price_id": shop[to]["price"]["id"],
        "credit": {"percent": 10},
        "valid_days": 7,
        **body,
    }
    rv = client.post("/v1/creators/cora/upgrade-offers", json=payload, headers=creator.headers)
    assert field in assert_problem(rv, 422)["errors"]


def test_only_the_owner_creates_upgrade_offers(client, creator, bob, shop):
    payload = {
        "from_offering_id": shop["product"]["id"],
        "to_price_id": shop["tier"]["price"]["id"],
        "credit": {"percent": 10},
        "valid_days": 7,
    }
    assert_problem(client.post("/v1/creators/cora/upgrade-offers", json=payload, headers=bob.headers), 403)


def referral_code(client, account):
    rv = client.get("/v1/creators/cora/referral-link", headers=account.headers)
    assert rv.status_code == 200
    body = rv.get_json()
    assert body["url"].endswith(f"?ref={body['code']}")
    return body["code"]


def referrals(client, account):
    return client.get("/v1/me/referrals", headers=account.headers).get_json()


def test_referral_code_is_stable_per_user_and_creator(client, creator, alice, bob):
    assert referral_code(client, alice) == referral_code(client, alice)
    assert referral_code(client, alice) != referral_code(client, bob)


def test_signup_follow_purchase_and_subscription_are_credited_once(client, creator, alice, signup, shop):
    code = referral_code(client, alice)
    friend = signup(referral_code=code)
    assert client.post(f"/v1/creators/cora/follow?ref={code}", headers=friend.headers).status_code == 204
    assert client.post(f"/v1/creators/cora/follow?ref={code}", headers=friend.headers).status_code == 204
    buy(client, friend, shop["product"]["price"]["id"], referral_code=code)
    buy(client, friend, shop["tier"]["price"]["id"], referral_code=code)
    summary = referrals(client, alice)
    assert (summary["signups"], summary["follows"], summary["purchases"], summary["subscriptions"]) == (
        1,
        1,
        1,
        1,
    )
    [cora] = summary["by_creator"]
    assert cora["creator_id"] == creator["creator"]["id"]
    assert cora["creator"] == {"id": creator["creator"]["id"], "handle": "cora", "display_name": "Cora"}
    assert summary["by_creator"][0]["revenue"] == [{"amount": 3500, "currency": "eur"}]


def test_self_referral_and_unknown_codes_are_ignored(client, creator, alice, shop, signup):
    code = referral_code(client, alice)
    client.post(f"/v1/creators/cora/follow?ref={code}", headers=alice.headers)
    rv = start_checkout(client, alice, shop["product"]["price"]["id"], referral_code=code)
    assert rv.status_code == 201
    stranger = signup(referral_code="nosuchcode")
    assert client.post("/v1/creators/cora/follow?ref=zzzz", headers=stranger.headers).status_code == 204
    assert referrals(client, alice)["follows"] == 0 and referrals(client, alice)["purchases"] == 0


def test_attribution_survives_a_retried_webhook_once(app, client, creator, alice, signup, shop):
    code = referral_code(client, alice)
    friend = signup()
    session = buy(client, friend, shop["product"]["price"]["id"], referral_code=code)
    with app.app_context():
        provider_id = db.session.get(CheckoutSession, uuid.UUID(session["id"])).stripe_session_id
        checkout_service.fulfil_checkout(provider_id)
        db.session.commit()
    assert referrals(client, alice)["purchases"] == 1


def test_top_referrers_in_analytics(client, creator, alice, signup, shop):
    code = referral_code(client, alice)
    friend = signup()
    buy(client, friend, shop["product"]["price"]["id"], referral_code=code)
    summary = client.get("/v1/creators/cora/analytics/summary", headers=creator.headers).get_json()
    assert summary["top_referrers"][0]["referrer"]["display_name"] == "Alice"
    assert summary["top_referrers"][0]["paid_referrals"] == 1


def test_referrer_member_gets_a_free_period_after_n_paid_referrals(app, client, creator, alice, signup, shop):
    rv = client.put(
        "/v1/creators/cora/referral-reward", json={"after_paid_referrals": 2}, headers=creator.headers
    )
    assert rv.status_code == 200 and rv.get_json() == {"after_paid_referrals": 2}
    own = buy(client, alice, shop["tier"]["price"]["id"])
    code = referral_code(client, alice)
    for _ in range(2):
        buy(client, signup(), shop["product"]["price"]["id"], referral_code=code)
    simulate(app, "renew", own["subscription_id"])
    alice_invoices = [
        s["amount"]["amount"]
        for s in sales(client, creator)
        if s["kind"] == "invoice" and s["buyer"]["display_name"] == "Alice"
    ]
    assert alice_invoices == [1000]  # the renewal was free (zero-amount invoices are not sales)
    # Replaying the same fulfilment grants nothing more.
    with app.app_context():
        assert [g.status for g in db.session.query(RewardGrant)] == ["applied"]


def test_referral_reward_is_for_the_owner_and_validated(client, creator, bob):
    assert_problem(
        client.put(
            "/v1/creators/cora/referral-reward", json={"after_paid_referrals": 3}, headers=bob.headers
        ),
        403,
    )
    bad = client.put(
        "/v1/creators/cora/referral-reward", json={"after_paid_referrals": 0}, headers=creator.headers
    )
    assert "after_paid_referrals" in assert_problem(bad, 422)["errors"]
    off = client.put(
        "/v1/creators/cora/referral-reward", json={"after_paid_referrals": None}, headers=creator.headers
    )
    assert off.get_json() == {"after_paid_referrals": None}
    assert client.get("/v1/creators/cora/referral-reward", headers=creator.headers).get_json() == {
        "after_paid_referrals": None
    }
