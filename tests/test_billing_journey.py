"""A follower's whole life with a creator, on the local gateway, through HTTP only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from service.billing.models import Purchase
from service.catalog.models import Price
from service.common import clock
from service.extensions import db
from service.localpay.models import LocalObject

from .billing_helpers import (
    CANCEL,
    access,
    as_uuid,
    buy,
    checkout_status,
    local_path,
    offerings_bought,
    onboard,
    simulate,
    start_checkout,
    subscription,
)
from .conftest import Account, assert_problem, recorded_statements, request_statements


@pytest.fixture
def shop(client, creator, make_offering):
    """Cora, onboarded, selling two tiers, a product and a service."""
    onboard(client, creator)
    return {
        "basic": make_offering(creator, title="Basic", amount=500, rank=0),
        "pro": make_offering(creator, title="Pro", amount=1500, rank=1),
        "product": make_offering(
            creator, kind="product", title="Pack", amount=2500, delivery="https://dl.example/p"
        ),
        "service": make_offering(creator, kind="service", title="Review", amount=9000),
    }


def test_full_journey_on_the_local_gateway(app, client, creator, alice, shop):
    assert client.post("/v1/creators/cora/follow", headers=alice.headers).status_code == 204

    # One-off product: delivery revealed once bought.
    bought = buy(client, alice, shop["product"]["price"]["id"])
    assert bought["purchase_id"] and offerings_bought(access(client, alice)) == [shop["product"]["id"]]
    assert [p["purchase_id"] for p in access(client, alice)["purchases"]] == [bought["purchase_id"]]
    cora = {
        "id": creator["creator"]["id"],
        "handle": "cora",
        "display_name": creator["creator"]["display_name"],
    }
    [purchase] = client.get("/v1/me/purchases", headers=alice.headers).get_json()["data"]
    assert (purchase["creator_id"], purchase["creator"]) == (cora["id"], cora)
    assert purchase["amount_refunded"] == {"amount": 0, "currency": "eur"}
    product = client.get(f"/v1/offerings/{shop['product']['id']}", headers=alice.headers).get_json()
    assert product["delivery"] == "https://dl.example/p"

    # Membership: access, member count, the creator sees the member and the money.
    session = buy(client, alice, shop["basic"]["price"]["id"])
    sub_id = session["subscription_id"]
    membership = access(client, alice)["membership"]
    assert (membership["subscription_id"], membership["offering_id"], membership["price_id"]) == (
        sub_id,
        shop["basic"]["id"],
        shop["basic"]["price"]["id"],
    )
    joined = subscription(client, alice, sub_id)
    assert (joined["creator_id"], joined["creator"]) == (cora["id"], cora)
    assert (joined["offering_id"], joined["price_id"]) == (shop["basic"]["id"], shop["basic"]["price"]["id"])
    assert client.get("/v1/creators/cora").get_json()["member_count"] == 1
    members = client.get("/v1/creators/cora/members", headers=creator.headers).get_json()["data"]
    assert [m["subscriber"]["display_name"] for m in members] == ["Alice"]
    assert members[0] == joined  # the creator's list shows the same subscription as its member sees
    followers = client.get("/v1/creators/cora/followers", headers=creator.headers).get_json()["data"]
    assert followers[0]["is_member"] is True
    sales = client.get("/v1/creators/cora/sales", headers=creator.headers).get_json()["data"]
    assert sorted(s["amount"]["amount"] for s in sales) == [500, 2500]
    assert {s["platform_fee"]["amount"] for s in sales} == {50, 250}
    assert {s["amount_refunded"]["amount"] for s in sales} == {0}

    # Renewal moves the period on and records another payment.
    end = subscription(client, alice, sub_id)["current_period_end"]
    simulate(app, "renew", sub_id)
    renewed = subscription(client, alice, sub_id)
    assert renewed["status"] == "active" and renewed["current_period_end"] > end
    assert len(client.get("/v1/creators/cora/sales", headers=creator.headers).get_json()["data"]) == 3

    # A failed payment: past due, access kept within the grace period, lost after it.
    simulate(app, "fail", sub_id)
    assert subscription(client, alice, sub_id)["status"] == "past_due"
    assert access(client, alice)["membership"]["status"] == "past_due"
    clock.freeze(clock.utcnow() + timedelta(days=8))
    later = client.post(
        "/v1/auth/login", json={"email": alice["email"], "password": alice["password"]}
    ).get_json()
    assert access(client, Account(later))["membership"] is None
    clock.freeze(None)
    simulate(app, "renew", sub_id)
    assert subscription(client, alice, sub_id)["status"] == "active"

    # Cancel at period end keeps access; resume undoes it.
    rv = client.post(f"/v1/subscriptions/{sub_id}/cancel", json={}, headers=alice.headers)
    assert rv.status_code == 200 and rv.get_json()["cancel_at_period_end"] is True
    assert access(client, alice)["membership"] is not None
    rv = client.post(f"/v1/subscriptions/{sub_id}/resume", headers=alice.headers)
    assert rv.status_code == 200 and rv.get_json()["cancel_at_period_end"] is False

    # Upgrade applies at once (paid); a downgrade waits for the period end.
    rv = client.post(
        f"/v1/subscriptions/{sub_id}/change",
        json={"price_id": shop["pro"]["price"]["id"]},
        headers=alice.headers,
    )
    assert rv.status_code == 200, rv.get_json()
    assert subscription(client, alice, sub_id)["price_id"] == shop["pro"]["price"]["id"]
    assert access(client, alice)["membership"]["offering_id"] == shop["pro"]["id"]
    rv = client.post(
        f"/v1/subscriptions/{sub_id}/change",
        json={"price_id": shop["basic"]["price"]["id"]},
        headers=alice.headers,
    )
    assert rv.get_json()["scheduled_change"]["price_id"] == shop["basic"]["price"]["id"]
    assert rv.get_json()["price_id"] == shop["pro"]["price"]["id"]
    simulate(app, "renew", sub_id)
    assert subscription(client, alice, sub_id)["price_id"] == shop["basic"]["price"]["id"]
    assert subscription(client, alice, sub_id)["scheduled_change"] is None

    # Refunds: partial keeps access, full ends it.
    purchase_id = bought["purchase_id"]
    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={"amount": 1000}, headers=creator.headers)
    assert rv.status_code == 200 and rv.get_json()["amount_refunded"]["amount"] == 1000
    assert offerings_bought(access(client, alice)) == [shop["product"]["id"]]
    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=creator.headers)
    assert rv.get_json()["status"] == "refunded"
    assert offerings_bought(access(client, alice)) == []
    assert_problem(client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=creator.headers), 422)

    # Cancel now ends access; a cancelled subscription cannot be resumed.
    rv = client.post(
        f"/v1/subscriptions/{sub_id}/cancel", json={"at_period_end": False}, headers=alice.headers
    )
    assert rv.get_json()["status"] == "canceled" and rv.get_json()["has_access"] is False
    assert access(client, alice)["membership"] is None
    assert_problem(
        client.post(f"/v1/subscriptions/{sub_id}/resume", headers=alice.headers), 409, "cannot_resume"
    )


def test_checkout_refusals(client, creator, alice, shop, make_offering, signup, make_creator):
    assert_problem(start_checkout(client, creator, shop["basic"]["price"]["id"]), 422, "cannot_buy_own")
    buy(client, alice, shop["basic"]["price"]["id"])
    assert_problem(start_checkout(client, alice, shop["pro"]["price"]["id"]), 409, "already_member")
    other = make_creator(signup(display_name="Unpaid"))
    tier = make_offering(other)
    assert_problem(start_checkout(client, alice, tier["price"]["id"]), 409, "payouts_not_enabled")
    draft = make_offering(creator, published=False)
    assert_problem(start_checkout(client, alice, draft["price"]["id"]), 404)
    client.post(f"/v1/offerings/{shop['service']['id']}/archive", headers=creator.headers)
    assert_problem(start_checkout(client, alice, shop["service"]["price"]["id"]), 409, "not_for_sale")


def test_a_recurring_price_left_on_a_product_is_not_sold(app, client, alice, shop):
    """Made before the catalog refused them: checkout must not start a subscription that
    grants nothing."""
    with app.app_context():
        legacy = Price(
            offering_id=as_uuid(shop["product"]["id"]),
            amount_minor=900,
            currency="eur",
            type="recurring",
            interval="month",
            interval_count=1,
            active=True,
        )
        db.session.add(legacy)
        db.session.commit()
        legacy_id = str(legacy.id)
    assert_problem(start_checkout(client, alice, legacy_id), 409, "not_for_sale")
    assert client.get("/v1/me/subscriptions", headers=alice.headers).get_json()["data"] == []


def test_capacity_sells_out(client, creator, shop, make_offering, signup):
    limited = make_offering(creator, kind="product", title="Limited", capacity=1, amount=300)
    buy(client, signup(), limited["price"]["id"])
    assert_problem(start_checkout(client, signup(), limited["price"]["id"]), 409, "sold_out")


def test_double_click_returns_the_same_session(client, alice, shop):
    first = start_checkout(client, alice, shop["product"]["price"]["id"]).get_json()
    second = start_checkout(client, alice, shop["product"]["price"]["id"]).get_json()
    assert first["id"] == second["id"] and first["url"] == second["url"]


def test_idempotency_key_replays_the_first_answer(client, alice, shop, signup):
    headers = {**alice.headers, "Idempotency-Key": "order-1"}
    body = {"price_id": shop["product"]["price"]["id"], "success_url": CANCEL, "cancel_url": CANCEL}
    first = client.post("/v1/checkout/sessions", json=body, headers=headers)
    again = client.post("/v1/checkout/sessions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    other = client.post(
        "/v1/checkout/sessions", json={**body, "price_id": shop["service"]["price"]["id"]}, headers=headers
    )
    assert_problem(other, 422, "idempotency_key_reused")


def test_cancelled_checkout_expires(client, alice, shop):
    session = start_checkout(client, alice, shop["product"]["price"]["id"]).get_json()
    assert client.post(local_path(session["url"]) + "/cancel").headers["Location"] == CANCEL
    assert checkout_status(client, alice, session["id"])["status"] == "expired"
    assert offerings_bought(access(client, alice)) == []


def test_trial_grants_access_without_a_payment(client, creator, alice, make_offering):
    onboard(client, creator)
    tier = make_offering(creator, price={"type": "recurring", "interval": "month", "trial_days": 14})
    session = buy(client, alice, tier["price"]["id"])
    sub = subscription(client, alice, session["subscription_id"])
    assert sub["status"] == "trialing" and sub["trial_end"]
    assert client.get("/v1/creators/cora/sales", headers=creator.headers).get_json()["data"] == []


def test_portal_needs_a_billing_record(client, alice, shop):
    assert_problem(client.post("/v1/billing/portal", json={"return_url": CANCEL}, headers=alice.headers), 404)
    buy(client, alice, shop["product"]["price"]["id"])
    rv = client.post("/v1/billing/portal", json={"return_url": CANCEL}, headers=alice.headers)
    assert rv.status_code == 201
    assert client.get(local_path(rv.get_json()["url"])).status_code == 200


def test_deleting_the_account_ends_subscriptions_at_period_end(client, alice, shop, creator):
    sub_id = buy(client, alice, shop["basic"]["price"]["id"])["subscription_id"]
    assert client.delete("/v1/me", headers=alice.headers).status_code == 204
    member = client.get("/v1/creators/cora/members", headers=creator.headers).get_json()["data"][0]
    assert member["id"] == sub_id and member["cancel_at_period_end"] is True
    # Money records stay.
    assert len(client.get("/v1/creators/cora/sales", headers=creator.headers).get_json()["data"]) == 1


def test_checkout_page_escapes_creator_text(client, creator, alice, make_offering):
    onboard(client, creator)
    offering = make_offering(creator, kind="product", title="<script>alert(1)</script>")
    session = start_checkout(client, alice, offering["price"]["id"]).get_json()
    page = client.get(local_path(session["url"])).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_checkout_creation_is_rate_limited_per_user(client, alice, shop):
    from service.extensions import limiter

    limiter.enabled = True
    try:
        codes = [start_checkout(client, alice, shop["product"]["price"]["id"]).status_code for _ in range(11)]
    finally:
        limiter.enabled = False
    assert codes[:10] == [201] * 10 and codes[10] == 429


def test_member_and_sales_lists_page_newest_first_without_gaps_and_filter(client, creator, shop, signup):
    bought = [buy(client, signup(), shop[tier]["price"]["id"]) for tier in ("basic", "pro", "basic")]
    newest_first = [b["subscription_id"] for b in reversed(bought)]

    def pages(url, **query):
        seen, cursor = [], None
        while True:
            params = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
            rv = client.get(url, query_string=params, headers=creator.headers)
            assert rv.status_code == 200, rv.get_json()
            body = rv.get_json()
            seen.append(body["data"])
            if not (cursor := body["next_cursor"]):
                return seen

    members = pages("/v1/creators/cora/members")
    assert [len(p) for p in members] == [2, 1]
    assert [m["id"] for p in members for m in p] == newest_first
    assert [m["id"] for p in pages("/v1/creators/cora/members", status="active") for m in p] == newest_first
    basic = pages("/v1/creators/cora/members", offering_id=shop["basic"]["id"], status="active")
    assert [m["id"] for p in basic for m in p] == [newest_first[0], newest_first[2]]
    assert pages("/v1/creators/cora/members", status="canceled") == [[]]
    sales = pages("/v1/creators/cora/sales")
    assert [len(p) for p in sales] == [2, 1]
    assert [s["subscription_id"] for p in sales for s in p] == newest_first


def test_member_and_sales_lists_take_a_constant_number_of_queries(app, client, creator, shop, signup):
    def statements(url):
        with recorded_statements(app) as seen:
            assert client.get(url, headers=creator.headers).status_code == 200
        return len(seen)

    def both():
        return statements("/v1/creators/cora/members"), statements("/v1/creators/cora/sales")

    buy(client, signup(), shop["basic"]["price"]["id"])
    one = both()
    for _ in range(3):
        buy(client, signup(), shop["basic"]["price"]["id"])
    assert both() == one


@pytest.mark.parametrize("kind", ["membership", "product"])
def test_starting_a_checkout_takes_the_same_statements_for_1_or_5_offerings_and_0_or_4_purchases(
    app, client, creator, make_offering, signup, kind
):
    onboard(client, creator)
    sold = make_offering(creator, kind=kind)

    def statements(buyer):
        with request_statements(app) as seen:
            assert start_checkout(client, buyer, sold["price"]["id"]).status_code == 201
        return len(seen)

    # A buyer's first checkout makes their customer at the provider, and a price's first makes
    # its provider price. A checkout given up before measuring leaves both sizes past those.
    newcomer = signup()
    given_up = start_checkout(client, newcomer, sold["price"]["id"]).get_json()
    assert client.post(local_path(given_up["url"]) + "/cancel").status_code == 303
    none = statements(newcomer)
    price = {"type": "recurring", "interval": "year"} if kind == "membership" else {"type": "one_time"}
    rv = client.post(
        f"/v1/offerings/{sold['id']}/prices", json={"amount": 4500, **price}, headers=creator.headers
    )
    assert rv.status_code == 201, rv.get_json()
    regular = signup()
    for i in range(4):
        buy(client, regular, make_offering(creator, kind="product", title=f"Pack {i}")["price"]["id"])
    four = statements(regular)
    print(
        f"\ncheckout of a {kind}: {none} SQL statements for 1 offering and a buyer with no purchase, "
        f"{four} for 5 offerings and a buyer with 4"
    )
    assert none == four


def test_local_gateway_answers_a_repeated_idempotency_key_with_the_same_object(app, client, alice, shop):
    """Like Stripe: so a retried job or request fails and succeeds the same way on both gateways."""
    purchase_id = buy(client, alice, shop["product"]["price"]["id"])["purchase_id"]
    with app.app_context():
        gateway = app.extensions["billing.gateway"]
        first = gateway.create_customer(
            email="a@example.com", name="A", user_id="u1", idempotency_key="cus:u1"
        )
        again = gateway.create_customer(
            email="a@example.com", name="A", user_id="u1", idempotency_key="cus:u1"
        )
        other = gateway.create_customer(
            email="a@example.com", name="A", user_id="u1", idempotency_key="cus:u2"
        )
        purchase = db.session.get(Purchase, uuid.UUID(purchase_id))
        refunds = [
            gateway.refund(
                payment_intent=purchase.stripe_payment_intent_id,
                amount=500,
                reason="test",
                idempotency_key="re:1",
            )
            for _ in range(2)
        ]
        intent = db.session.get(LocalObject, purchase.stripe_payment_intent_id)
        charge = gateway.retrieve_charge(intent.data["latest_charge"])
        db.session.commit()
    assert first == again != other
    assert refunds[0] == refunds[1]
    assert (charge.amount_refunded, len(charge.refunds)) == (500, 1)
