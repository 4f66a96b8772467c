"""The fake of Stripe's API answers in Stripe's own shapes, driven through the real SDK.

Stripe's fixture set (one example object per resource) is the reference: every
object the fake hands out carries the same top-level keys as Stripe's example,
its nested subscription items and invoice lines the same keys as theirs, and
decimal strings stay strings on the wire. The new endpoints behave as Stripe's
do for the money that moves after a checkout: refunds, failed refunds,
disputes, invoice payments and expired sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import stripe

from .fake_stripe import FakeStripe, make_event, stripe_fixture

Obj = dict[str, Any]


@pytest.fixture
def api(fake_stripe: FakeStripe) -> Iterator[stripe.StripeClient]:
    yield stripe.StripeClient(
        "sk_test_shapes",
        base_addresses={"api": fake_stripe.url},
        max_network_retries=0,
        http_client=stripe.new_default_http_client(timeout=5),
    )


def _checkout(api: stripe.StripeClient, fake: FakeStripe, mode: str, customer: str, price: str) -> Obj:
    """A hosted checkout opened through the API and paid at Stripe; the completed session."""
    destination = {"transfer_data": {"destination": "acct_creator"}}
    data: Any = (
        {"payment_intent_data": {**destination, "application_fee_amount": 250, "metadata": {"k": "v"}}}
        if mode == "payment"
        else {"subscription_data": {**destination, "application_fee_percent": 10, "metadata": {"k": "v"}}}
    )
    session = api.v1.checkout.sessions.create(
        {
            "mode": mode,
            "customer": customer,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "https://app.example/ok",
            "cancel_url": "https://app.example/no",
            **data,
        }
    )
    return fake.complete_session(session.id)


@pytest.fixture
def sale(api: stripe.StripeClient, fake_stripe: FakeStripe) -> Obj:
    """A paid membership and a paid one-off purchase, refunded in part and disputed."""
    customer = api.v1.customers.create({"email": "fan@example.com", "name": "Fan"}).id
    monthly = api.v1.prices.create(
        {
            "unit_amount": 900,
            "currency": "eur",
            "recurring": {"interval": "month"},
            "product_data": {"name": "M"},
        }
    ).id
    once = api.v1.prices.create(
        {"unit_amount": 2500, "currency": "eur", "product_data": {"name": "Ebook"}}
    ).id
    membership = _checkout(api, fake_stripe, "subscription", customer, monthly)
    purchase = _checkout(api, fake_stripe, "payment", customer, once)
    refund = api.v1.refunds.create(
        {"payment_intent": purchase["payment_intent"], "amount": 1000, "reverse_transfer": True}
    )
    dispute = fake_stripe.open_dispute(purchase["payment_intent"])
    return {
        "customer": customer,
        "membership": membership,
        "purchase": purchase,
        "refund": refund.id,
        "dispute": dispute["id"],
    }


def _retrieved(api: stripe.StripeClient, fake: FakeStripe, sale: Obj) -> dict[str, Obj]:
    """Each resource as the SDK reads it from the fake, by resource name."""
    membership, purchase = sale["membership"], sale["purchase"]
    intent = api.v1.payment_intents.retrieve(purchase["payment_intent"])
    [invoice_payment] = api.v1.invoice_payments.list({"invoice": membership["invoice"]}).data
    account = api.v1.accounts.create({"type": "express", "email": "cora@example.com"})
    objects: dict[str, stripe.StripeObject] = {
        "subscription": api.v1.subscriptions.retrieve(membership["subscription"]),
        "invoice": api.v1.invoices.retrieve(membership["invoice"]),
        "checkout.session": api.v1.checkout.sessions.retrieve(purchase["id"]),
        "payment_intent": intent,
        "charge": api.v1.charges.retrieve(str(intent.latest_charge)),
        "refund": api.v1.refunds.retrieve(sale["refund"]),
        "dispute": api.v1.disputes.retrieve(sale["dispute"]),
        "invoice_payment": invoice_payment,
        "account": api.v1.accounts.retrieve(account.id),
    }
    return {name: obj.to_dict() for name, obj in objects.items()}


RESOURCES = [
    "subscription",
    "invoice",
    "checkout.session",
    "payment_intent",
    "charge",
    "refund",
    "dispute",
    "invoice_payment",
    "account",
]


@pytest.mark.parametrize("resource", RESOURCES)
def test_objects_carry_the_keys_of_stripes_fixture(api, fake_stripe, sale, resource):
    obj = _retrieved(api, fake_stripe, sale)[resource]
    assert obj["object"] == resource
    assert set(obj) == set(stripe_fixture(resource))


def test_subscription_items_and_invoice_lines_carry_the_keys_of_stripes_fixture(api, fake_stripe, sale):
    objects = _retrieved(api, fake_stripe, sale)
    [item] = objects["subscription"]["items"]["data"]
    [line] = objects["invoice"]["lines"]["data"]
    assert set(item) == set(stripe_fixture("subscription")["items"]["data"][0])
    assert set(item["price"]) == set(stripe_fixture("price"))
    assert set(item["plan"]) == set(stripe_fixture("plan"))
    assert set(line) == set(stripe_fixture("invoice")["lines"]["data"][0])


def test_events_carry_the_keys_of_stripes_fixture(fake_stripe, sale):
    event = make_event("customer.subscription.updated", fake_stripe.get(sale["membership"]["subscription"]))
    assert set(event) == set(stripe_fixture("event"))
    assert event["api_version"] == stripe.api_version
    with_account = make_event("account.updated", {}, account="acct_1", previous_attributes={"a": 1})
    assert (with_account["account"], with_account["data"]["previous_attributes"]) == ("acct_1", {"a": 1})


def test_decimal_strings_stay_strings_on_the_wire(api, fake_stripe, sale):
    membership = sale["membership"]
    sub_path = f"/v1/subscriptions/{membership['subscription']}"
    read = api.v1.subscriptions.retrieve(membership["subscription"])
    [sent] = fake_stripe.requests_to(sub_path, "GET")
    assert sent.response is not None
    [item] = sent.response["items"]["data"]
    assert (item["price"]["unit_amount"], item["price"]["unit_amount_decimal"]) == (900, "900")
    assert (item["plan"]["amount"], item["plan"]["amount_decimal"]) == (900, "900")
    [line] = fake_stripe.get(membership["invoice"])["lines"]["data"]
    assert (line["pricing"]["unit_amount_decimal"], line["quantity_decimal"]) == ("900", "1")
    # The SDK turns them into Decimal: code reading Stripe objects meets Decimal, not str.
    assert read["items"].data[0].price.unit_amount_decimal == Decimal("900")


def test_live_subscription_and_its_invoice_have_realistic_values(fake_stripe, sale):
    sub = fake_stripe.get(sale["membership"]["subscription"])
    assert {k: sub[k] for k in ("cancel_at", "canceled_at", "ended_at", "pause_collection", "schedule")} == {
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "pause_collection": None,
        "schedule": None,
    }
    assert (sub["pending_update"], sub["discounts"], sub["latest_invoice"]) == (
        None,
        [],
        sale["membership"]["invoice"],
    )
    assert sub["transfer_data"] == {"amount_percent": None, "destination": "acct_creator"}
    invoice = fake_stripe.get(sub["latest_invoice"])
    assert invoice["parent"] == {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {"metadata": {"k": "v"}, "subscription": sub["id"]},
    }
    [line] = invoice["lines"]["data"]
    assert line["parent"]["type"] == "subscription_item_details"
    assert line["parent"]["subscription_item_details"]["subscription_item"] == sub["items"]["data"][0]["id"]


# Money after checkout ------------------------------------------------------------------------


def test_paid_invoice_is_linked_to_its_payment_intent(api, fake_stripe, sale):
    invoice_id = sale["membership"]["invoice"]
    intent = fake_stripe.invoice_payment_intent(invoice_id)
    assert intent is not None and fake_stripe.get(intent)["amount"] == 900
    expanded = api.v1.invoices.retrieve(invoice_id, {"expand": ["payments"]})
    [payment] = expanded.payments.data
    assert (payment.invoice, payment.payment.payment_intent, payment.status) == (invoice_id, intent, "paid")
    assert "payments" not in api.v1.invoices.retrieve(invoice_id)
    by_intent = {"type": "payment_intent", "payment_intent": intent}
    [listed] = api.v1.invoice_payments.list({"payment": by_intent}).data
    assert listed.id == payment.id
    other = {"type": "payment_intent", "payment_intent": sale["purchase"]["payment_intent"]}
    assert api.v1.invoice_payments.list({"payment": other}).data == []


def test_free_trial_invoice_has_no_payment(fake_stripe, sale):
    price = fake_stripe.add_price(700)
    sub = fake_stripe.add_subscription(price=price["id"], trial_days=14)
    invoice = fake_stripe.make_invoice(sub["id"], amount=0, billing_reason="subscription_create")
    assert fake_stripe.invoice_payment_intent(invoice["id"]) is None
    assert fake_stripe.get(sub["id"])["latest_invoice"] == invoice["id"]


def test_payment_mode_session_makes_intent_and_destination_charge(fake_stripe, sale):
    intent = fake_stripe.get(sale["purchase"]["payment_intent"])
    charge = fake_stripe.charge_for(intent["id"])
    assert (intent["status"], intent["metadata"], intent["application_fee_amount"]) == (
        "succeeded",
        {"k": "v"},
        250,
    )
    assert (charge["id"], charge["payment_intent"], charge["amount"]) == (
        intent["latest_charge"],
        intent["id"],
        2500,
    )
    assert charge["transfer_data"] == {"amount": None, "destination": "acct_creator"}
    assert charge["customer"] == sale["customer"]


def test_refunds_move_the_charge_and_a_failed_one_moves_it_back(api, fake_stripe, sale):
    intent = sale["purchase"]["payment_intent"]
    charge = fake_stripe.charge_for(intent)
    assert (charge["amount_refunded"], charge["refunded"]) == (1000, False)
    assert [r["id"] for r in charge["refunds"]["data"]] == [sale["refund"]]
    assert fake_stripe.get(sale["refund"])["transfer_reversal"] is not None

    dashboard = fake_stripe.refund_at_stripe(intent)
    assert (dashboard["amount"], dashboard["status"], dashboard["charge"]) == (
        1500,
        "succeeded",
        charge["id"],
    )
    assert (
        fake_stripe.charge_for(intent)["amount_refunded"],
        fake_stripe.charge_for(intent)["refunded"],
    ) == (
        2500,
        True,
    )
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.refunds.create({"payment_intent": intent, "amount": 1})

    failed = fake_stripe.fail_refund(dashboard["id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    after = fake_stripe.charge_for(intent)
    assert (after["amount_refunded"], after["refunded"]) == (1000, False)
    assert api.v1.refunds.retrieve(dashboard["id"]).status == "failed"
    # A stale snapshot for an event changes nothing at Stripe.
    assert fake_stripe.charge_for(intent, amount_refunded=0)["amount_refunded"] == 0
    assert fake_stripe.charge_for(intent)["amount_refunded"] == 1000


def test_disputes_are_stored_and_may_lack_the_payment_intent(api, fake_stripe, sale):
    intent = sale["purchase"]["payment_intent"]
    assert fake_stripe.charge_for(intent)["disputed"] is True
    assert fake_stripe.dispute_for(intent)["id"] == sale["dispute"]
    won = fake_stripe.dispute_for(intent, status="won")
    assert (won["id"], api.v1.disputes.retrieve(sale["dispute"]).status) == (sale["dispute"], "won")
    assert fake_stripe.set_dispute(sale["dispute"], status="lost")["status"] == "lost"

    other = fake_stripe.invoice_payment_intent(sale["membership"]["invoice"])
    assert other is not None
    bare = fake_stripe.open_dispute(other, status="warning_needs_response", include_payment_intent=False)
    assert bare["payment_intent"] is None
    assert api.v1.charges.retrieve(bare["charge"]).payment_intent == other


def test_open_session_expires_once(api, fake_stripe):
    price = fake_stripe.add_price(2500, interval=None)
    customer = api.v1.customers.create({"email": "x@example.com"}).id
    session = api.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "customer": customer,
            "line_items": [{"price": price["id"], "quantity": 1}],
            "success_url": "https://app.example/ok",
        }
    )
    assert (session.payment_intent, session.customer_details) == (None, None)
    assert api.v1.checkout.sessions.expire(session.id).status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.checkout.sessions.expire(session.id)
