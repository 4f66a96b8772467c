"""The Stripe gateway, through the HTTP API, against a local fake of Stripe's API.

These tests check what reaches Stripe: parameters (fee, destination, metadata),
idempotency keys, retries, and how provider failures surface to our clients.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from service.billing.models import CheckoutSession, Purchase, Refund, Subscription
from service.extensions import db

from .billing_helpers import start_checkout
from .conftest import assert_problem
from .fake_stripe import API_VERSION, buy, deliver, make_event, onboard, provider_price, subscribe


def only_post(fake, path):
    [request] = fake.requests_to(path, "POST")
    return request


def add_price(client, owner, offering, amount):
    body = {"amount": amount, "type": "recurring", "interval": "month"}
    rv = client.post(f"/v1/offerings/{offering['id']}/prices", json=body, headers=owner.headers)
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()["id"]


# Checkout ------------------------------------------------------------------------


def test_checkout_for_product_sends_destination_charge_with_platform_fee(
    client, app, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, kind="product", amount=2500)
    rv = start_checkout(client, alice, offering["price"]["id"])
    assert rv.status_code == 201, rv.get_json()
    ours = rv.get_json()
    request = only_post(stripe_mode, "/v1/checkout/sessions")
    params = request.params
    [customer] = stripe_mode.only("customer")
    assert params["mode"] == "payment"
    assert params["customer"] == customer["id"]
    assert params["line_items"] == [
        {"price": provider_price(stripe_mode, offering["price"]["id"]), "quantity": "1"}
    ]
    assert params["payment_intent_data"]["application_fee_amount"] == "250"
    assert params["payment_intent_data"]["transfer_data"] == {"destination": seller["acct"]}
    metadata = {
        "checkout_session_id": ours["id"],
        "user_id": alice.id,
        "creator_id": seller["creator"]["id"],
        "offering_id": offering["id"],
        "price_id": offering["price"]["id"],
    }
    assert params["metadata"] == metadata
    assert params["payment_intent_data"]["metadata"] == metadata
    assert params["client_reference_id"] == ours["id"]
    assert "subscription_data" not in params
    assert request.idempotency_key == f"checkout:{ours['id']}"
    assert request.stripe_version == API_VERSION
    assert ours["url"] == stripe_mode.only("checkout.session")[0]["url"]
    assert ours["status"] == "open"


def test_checkout_in_zero_decimal_currency_rounds_fee_half_up(
    client, signup, make_creator, make_offering, alice, stripe_mode
):
    owner = make_creator(signup(), currency="jpy")
    onboard(client, stripe_mode, owner)
    offering = make_offering(owner, kind="product", amount=1005)
    assert start_checkout(client, alice, offering["price"]["id"]).status_code == 201
    params = only_post(stripe_mode, "/v1/checkout/sessions").params
    assert params["payment_intent_data"]["application_fee_amount"] == "101"
    price = stripe_mode.get(params["line_items"][0]["price"])
    assert (price["unit_amount"], price["currency"]) == (1005, "jpy")


@pytest.mark.parametrize("trial_days", [None, 14])
def test_checkout_for_membership_sends_fee_percent_transfer_and_trial(
    client, seller, alice, make_offering, stripe_mode, trial_days
):
    price = {"type": "recurring", "interval": "month", **({"trial_days": trial_days} if trial_days else {})}
    offering = make_offering(seller, amount=900, price=price)
    rv = start_checkout(client, alice, offering["price"]["id"])
    assert rv.status_code == 201, rv.get_json()
    request = only_post(stripe_mode, "/v1/checkout/sessions")
    params = request.params
    data = params["subscription_data"]
    assert params["mode"] == "subscription"
    assert float(data["application_fee_percent"]) == 10
    assert data["transfer_data"] == {"destination": seller["acct"]}
    assert data["metadata"] == params["metadata"]
    assert data["metadata"]["checkout_session_id"] == rv.get_json()["id"]
    assert data["metadata"]["price_id"] == offering["price"]["id"]
    assert data.get("trial_period_days") == (str(trial_days) if trial_days else None)
    assert "payment_intent_data" not in params
    assert stripe_mode.get(params["line_items"][0]["price"])["recurring"]["interval"] == "month"
    assert request.idempotency_key == f"checkout:{rv.get_json()['id']}"


def test_second_checkout_reuses_customer_and_stripe_price(
    client, seller, alice, bob, make_offering, stripe_mode
):
    first = make_offering(seller, kind="product", amount=1500, title="First")
    second = make_offering(seller, kind="product", amount=1700, title="Second")
    for buyer, offering in ((alice, first), (alice, second), (bob, first)):
        assert start_checkout(client, buyer, offering["price"]["id"]).status_code == 201

    customers = stripe_mode.requests_to("/v1/customers", "POST")
    assert [r.idempotency_key for r in customers] == [f"customer:{alice.id}", f"customer:{bob.id}"]
    assert customers[0].params["metadata"] == {"user_id": alice.id}
    prices = stripe_mode.requests_to("/v1/prices", "POST")
    assert [r.idempotency_key for r in prices] == [
        f"price:{first['price']['id']}",
        f"price:{second['price']['id']}",
    ]
    sessions = [r.params for r in stripe_mode.requests_to("/v1/checkout/sessions", "POST")]
    assert sessions[0]["customer"] == sessions[1]["customer"] != sessions[2]["customer"]
    assert sessions[0]["line_items"] == sessions[2]["line_items"] != sessions[1]["line_items"]


def test_checkout_double_click_returns_same_session_with_one_stripe_call(
    client, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, kind="product", amount=2500)
    first = start_checkout(client, alice, offering["price"]["id"])
    second = start_checkout(client, alice, offering["price"]["id"])
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert first.get_json()["url"] == second.get_json()["url"]
    assert len(stripe_mode.requests_to("/v1/checkout/sessions", "POST")) == 1


def test_checkout_after_one_stripe_500_is_retried_with_same_key_and_succeeds(
    client, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, kind="product", amount=2500)
    stripe_mode.fail_next("/v1/checkout/sessions", status=500, times=1)
    rv = start_checkout(client, alice, offering["price"]["id"])
    assert rv.status_code == 201, rv.get_json()
    attempts = stripe_mode.requests_to("/v1/checkout/sessions", "POST")
    assert len(attempts) == 2
    assert attempts[0].idempotency_key == attempts[1].idempotency_key == f"checkout:{rv.get_json()['id']}"
    assert len(stripe_mode.only("checkout.session")) == 1


def test_checkout_with_persistent_stripe_500_answers_502_without_provider_text(
    client, app, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, kind="product", amount=2500)
    stripe_mode.fail_next(
        "/v1/checkout/sessions", status=500, times=3, message="Internal shard db-7 exploded"
    )
    rv = start_checkout(client, alice, offering["price"]["id"])
    body = assert_problem(rv, 502, "payment_provider_error")
    assert "shard" not in rv.get_data(as_text=True)
    assert rv.headers.get("Retry-After") == "5"
    assert body["status"] == 502
    attempts = stripe_mode.requests_to("/v1/checkout/sessions", "POST")
    assert len(attempts) == 3 and len({r.idempotency_key for r in attempts}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(CheckoutSession.status == "complete")) == 0
        assert db.session.scalar(select(func.count()).select_from(Purchase)) == 0

    # The buyer tries again once Stripe is back: one session, the customer kept at Stripe.
    rv = start_checkout(client, alice, offering["price"]["id"])
    assert rv.status_code == 201, rv.get_json()
    assert len(stripe_mode.only("customer")) == 1


# Money after checkout ----------------------------------------------------------------


def test_refund_of_purchase_sends_reverse_transfer_with_refund_key(
    client, app, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, kind="product", amount=2500)
    purchase_id = buy(client, stripe_mode, alice, offering["price"]["id"])
    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={"amount": 1000}, headers=seller.headers)
    assert rv.status_code == 200, rv.get_json()
    assert rv.get_json()["amount_refunded"] == {"amount": 1000, "currency": "eur"}
    assert rv.get_json()["status"] == "paid"
    request = only_post(stripe_mode, "/v1/refunds")
    with app.app_context():
        refund = db.session.scalar(select(Refund))
        intent = db.session.get(Purchase, uuid.UUID(purchase_id)).stripe_payment_intent_id
        assert refund.stripe_refund_id == stripe_mode.only("refund")[0]["id"]
    assert request.params["payment_intent"] == intent
    assert request.params["amount"] == "1000"
    assert request.params["reverse_transfer"] == "true"
    assert request.idempotency_key == f"refund:{refund.id}"


def test_cancel_at_period_end_sends_the_flag_and_keeps_access(
    client, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, amount=900)
    sub_id = subscribe(client, stripe_mode, alice, offering["price"]["id"])
    rv = client.post(f"/v1/subscriptions/{sub_id}/cancel", json={}, headers=alice.headers)
    assert rv.status_code == 200, rv.get_json()
    body = rv.get_json()
    assert (body["status"], body["cancel_at_period_end"], body["has_access"]) == ("active", True, True)
    [request] = [r for r in stripe_mode.requests_to("/v1/subscriptions/", "POST")]
    assert request.params == {"cancel_at_period_end": "true"}
    assert request.idempotency_key and request.idempotency_key.startswith(f"sub:{sub_id}:cancel-at-end:")


def test_upgrade_is_invoiced_now_with_pending_if_incomplete(
    client, app, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, amount=500)
    higher = add_price(client, seller, offering, 1200)
    sub_id = subscribe(client, stripe_mode, alice, offering["price"]["id"])
    rv = client.post(f"/v1/subscriptions/{sub_id}/change", json={"price_id": higher}, headers=alice.headers)
    assert rv.status_code == 200, rv.get_json()
    assert rv.get_json()["price_id"] == higher
    assert rv.get_json()["pending_price_id"] is None
    [request] = stripe_mode.requests_to("/v1/subscriptions/", "POST")
    with app.app_context():
        stripe_id = db.session.get(Subscription, uuid.UUID(sub_id)).stripe_subscription_id
    item = stripe_mode.get(stripe_id)["items"]["data"][0]
    assert request.params["items"] == [{"id": item["id"], "price": provider_price(stripe_mode, higher)}]
    assert request.params["proration_behavior"] == "always_invoice"
    assert request.params["payment_behavior"] == "pending_if_incomplete"
    assert request.idempotency_key.startswith(f"sub:{sub_id}:upgrade:{higher}:")
    assert not stripe_mode.requests_to("/v1/subscription_schedules")


def test_downgrade_creates_subscription_schedule_for_period_end(
    client, app, seller, alice, make_offering, stripe_mode
):
    offering = make_offering(seller, amount=1200)
    lower = add_price(client, seller, offering, 500)
    sub_id = subscribe(client, stripe_mode, alice, offering["price"]["id"])
    rv = client.post(f"/v1/subscriptions/{sub_id}/change", json={"price_id": lower}, headers=alice.headers)
    assert rv.status_code == 200, rv.get_json()
    body = rv.get_json()
    assert body["price_id"] == offering["price"]["id"]
    assert body["scheduled_change"] == {"price_id": lower, "at": body["current_period_end"]}
    with app.app_context():
        stripe_id = db.session.get(Subscription, uuid.UUID(sub_id)).stripe_subscription_id
    create, update = stripe_mode.requests_to("/v1/subscription_schedules", "POST")
    assert create.params == {"from_subscription": stripe_id}
    item = stripe_mode.get(stripe_id)["items"]["data"][0]
    old, new = provider_price(stripe_mode, offering["price"]["id"]), provider_price(stripe_mode, lower)
    assert update.params["end_behavior"] == "release"
    assert update.params["phases"] == [
        {
            "items": [{"price": old}],
            "start_date": str(item["current_period_start"]),
            "end_date": str(item["current_period_end"]),
        },
        {"items": [{"price": new}]},
    ]
    assert create.idempotency_key and update.idempotency_key == create.idempotency_key + ":phases"
    assert not stripe_mode.requests_to("/v1/subscriptions/", "POST")
    assert item["price"]["id"] == old


# Connect ------------------------------------------------------------------------------


def test_onboarding_called_twice_creates_one_account(client, creator, stripe_mode):
    urls = {"return_url": "https://app.example.com/payouts", "refresh_url": "https://app.example.com/again"}
    for _ in range(2):
        rv = client.post("/v1/creators/cora/payouts/onboarding", json=urls, headers=creator.headers)
        assert rv.status_code == 201, rv.get_json()
        assert rv.get_json()["url"].startswith("https://connect.stripe.com/")
    request = only_post(stripe_mode, "/v1/accounts")
    assert request.idempotency_key == f"acct:{creator['creator']['id']}"
    assert request.params["type"] == "express"
    assert request.params["metadata"] == {"creator_id": creator["creator"]["id"]}
    assert request.params["capabilities"]["transfers"] == {"requested": "true"}
    [account] = stripe_mode.only("account")
    links = stripe_mode.requests_to("/v1/account_links", "POST")
    assert [link.params["account"] for link in links] == [account["id"], account["id"]]
    assert links[0].params["type"] == "account_onboarding"
    status = client.get("/v1/creators/cora/payouts", headers=creator.headers).get_json()
    assert status == {
        "payouts_enabled": False,
        "charges_enabled": False,
        "requirements_due": ["external_account", "tos_acceptance.date"],
        "onboarded": False,
    }


def test_referral_reward_puts_a_one_time_free_coupon_on_the_referrers_membership(
    client, seller, alice, signup, make_offering, stripe_mode
):
    tier = make_offering(seller, amount=900)
    product = make_offering(seller, kind="product", amount=2500)
    client.put("/v1/creators/cora/referral-reward", json={"after_paid_referrals": 1}, headers=seller.headers)
    sub_id = subscribe(client, stripe_mode, alice, tier["price"]["id"])
    code = client.get("/v1/creators/cora/referral-link", headers=alice.headers).get_json()["code"]
    friend = signup()
    body = {"price_id": product["price"]["id"], "referral_code": code}
    rv = client.post(
        "/v1/checkout/sessions",
        json={**body, "success_url": "https://app.example/ok", "cancel_url": "https://app.example/no"},
        headers=friend.headers,
    )
    session = stripe_mode.complete_session(rv.get_json()["url"].rsplit("/", 1)[-1])
    assert deliver(client, make_event("checkout.session.completed", session)).status_code == 200
    [coupon] = [r for r in stripe_mode.requests_to("/v1/coupons", "POST")]
    assert coupon.params == {"percent_off": "100", "duration": "once", "max_redemptions": "1"}
    assert coupon.idempotency_key.startswith("reward:") and coupon.idempotency_key.endswith(":coupon")
    update = stripe_mode.requests_to("/v1/subscriptions/", "POST")[-1]
    assert update.params["discounts"][0]["coupon"] == coupon.response["id"]
    with client.application.app_context():
        stripe_id = db.session.get(Subscription, uuid.UUID(sub_id)).stripe_subscription_id
    assert update.path.endswith(stripe_id)
