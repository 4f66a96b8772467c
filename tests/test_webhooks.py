"""Stripe webhooks: signed raw bytes in, an inbox row per event id, effects applied once.

Events are built like Stripe's (snapshot payloads, endive shapes) and signed
with the `Stripe-Signature` scheme; the gateway reads current state from the
local fake of Stripe's API, which holds the truth the events hint at.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import stripe
from sqlalchemy import delete, select, update

from service.billing import subscriptions, webhooks
from service.billing.models import CheckoutSession, Payment, Purchase, Refund, Subscription, WebhookEvent
from service.common import clock
from service.extensions import db

from .billing_helpers import access, offerings_bought, one, rows, start_checkout
from .billing_helpers import inbox_row as _inbox_row
from .conftest import assert_problem, compiled_anew, request_statements
from .fake_stripe import (
    DAY,
    WEBHOOK_SECRET,
    buy,
    deliver,
    make_event,
    pay,
    provider_price,
    signed_event,
    stripe_fixture,
    stripe_session_id,
)

WEBHOOK = "/v1/webhooks/stripe"


def inbox(app, event_id):
    row = _inbox_row(app, event_id)
    return None if row is None else {"status": row.status, "attempts": row.attempts}


def paid_subscription(client, fake, buyer, price_id):
    """A subscription paid at Stripe whose events have not been delivered yet; the Stripe id."""
    return pay(client, fake, buyer, price_id)["subscription"]


def local_subscription(app, stripe_id):
    return one(app, Subscription, Subscription.stripe_subscription_id == stripe_id)


@pytest.fixture
def membership(tiers):
    return tiers[0]


# Signatures --------------------------------------------------------------------------


def _wrong_secret(event):
    return signed_event(event, secret="whsec_other")


def _missing_header(event):
    payload, _ = signed_event(event)
    return payload, {"Content-Type": "application/json"}


def _tampered_body(event):
    payload, headers = signed_event(event)
    return payload.replace(b'"livemode": false', b'"livemode": false '), headers


def _stale_timestamp(event):
    return signed_event(event, timestamp=int(time.time()) - 301)


@pytest.mark.parametrize("forge", [_wrong_secret, _missing_header, _tampered_body, _stale_timestamp])
def test_webhook_with_bad_signature_is_rejected_and_not_stored(client, app, stripe_mode, forge):
    payload, headers = forge(make_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert_problem(client.post(WEBHOOK, data=payload, headers=headers), 400, "invalid_signature")
    assert rows(app, WebhookEvent) == []


def test_webhook_with_old_and_new_signatures_is_accepted(client, app, stripe_mode):
    event = make_event("customer.created", {"id": "cus_1", "object": "customer"})
    payload, headers = signed_event(event)
    timestamp = int(time.time())
    good = stripe.WebhookSignature.generate_signature_header(payload.decode(), WEBHOOK_SECRET, timestamp)
    old = stripe.WebhookSignature.generate_signature_header(payload.decode(), "whsec_rotated_out", timestamp)
    headers["Stripe-Signature"] = f"t={timestamp},v1={old.split('v1=')[1]},v1={good.split('v1=')[1]}"
    assert client.post(WEBHOOK, data=payload, headers=headers).status_code == 200
    assert inbox(app, event["id"]) == {"status": "ignored", "attempts": 1}


def test_webhook_with_non_ascii_body_verifies_on_raw_bytes(client, app, stripe_mode):
    event = make_event("customer.updated", {"id": "cus_1", "object": "customer", "name": "Zoë Ærøskøbing"})
    payload, headers = signed_event(event)
    assert "Zoë".encode() in payload
    rv = client.post(WEBHOOK, data=payload, headers=headers)
    assert rv.status_code == 200, rv.get_json()
    [row] = rows(app, WebhookEvent)
    assert row.payload["data"]["object"]["name"] == "Zoë Ærøskøbing"


# Intake and matching -------------------------------------------------------------------


def test_webhook_with_unknown_type_is_stored_as_ignored(client, app, stripe_mode):
    event = make_event("issuing_card.created", {"id": "ic_1", "object": "issuing.card"})
    rv = deliver(client, event)
    assert rv.status_code == 200
    assert rv.get_json() == {"received": True, "duplicate": False}
    assert inbox(app, event["id"]) == {"status": "ignored", "attempts": 1}


def customer_updated():
    """Stripe's customer.updated, for a customer of its own each time."""
    return make_event("customer.updated", {**stripe_fixture("customer"), "id": f"cus_{uuid.uuid4().hex}"})


def test_receiving_an_event_takes_the_same_statements_with_1_or_30_in_the_inbox(client, app, stripe_mode):
    def statements():
        event = customer_updated()
        with request_statements(app) as seen:
            rv = deliver(client, event)
        assert rv.get_json() == {"received": True, "duplicate": False}
        assert inbox(app, event["id"]) == {"status": "ignored", "attempts": 1}
        return len(seen)

    assert deliver(client, customer_updated()).status_code == 200
    one = statements()
    for _ in range(28):
        assert deliver(client, customer_updated()).status_code == 200
    thirty = statements()
    print(f"\nwebhook intake: {one} SQL statements with 1 event in the inbox, {thirty} with 30")
    assert one == thirty


def test_receiving_an_event_compiles_no_statement_once_the_first_was_received(client, app, stripe_mode):
    """Intake is the hot path of a busy account's webhooks: each statement comes from
    SQLAlchemy's compiled cache, not compiled again for every event."""
    assert deliver(client, customer_updated()).status_code == 200
    with compiled_anew(app) as compiled:
        assert deliver(client, customer_updated()).get_json() == {"received": True, "duplicate": False}
    assert not compiled, compiled


def test_subscription_event_without_our_metadata_is_unmatched(client, app, seller, stripe_mode):
    price = stripe_mode.add_price(700)
    foreign = stripe_mode.add_subscription(price=price["id"])
    event = make_event("customer.subscription.created", foreign)
    assert deliver(client, event).status_code == 200
    assert inbox(app, event["id"])["status"] == "unmatched"
    assert rows(app, Subscription) == []


def test_same_event_delivered_five_times_is_applied_once(client, app, alice, membership, stripe_mode):
    sub_id = paid_subscription(client, stripe_mode, alice, membership["price"]["id"])
    invoice = stripe_mode.make_invoice(sub_id, billing_reason="subscription_cycle")
    event = make_event("invoice.paid", invoice)
    answers = [deliver(client, event).get_json() for _ in range(5)]
    assert answers == [{"received": True, "duplicate": False}] + [{"received": True, "duplicate": True}] * 4
    assert inbox(app, event["id"]) == {"status": "done", "attempts": 1}
    assert len(rows(app, WebhookEvent)) == 1
    assert len(rows(app, Payment, Payment.stripe_invoice_id == invoice["id"])) == 1
    assert len(rows(app, Subscription)) == 1


def test_invoice_paid_records_payment_with_platform_fee(client, app, seller, alice, membership, stripe_mode):
    sub_id = paid_subscription(client, stripe_mode, alice, membership["price"]["id"])
    invoice = stripe_mode.make_invoice(sub_id, amount=999, billing_reason="subscription_update")
    assert deliver(client, make_event("invoice.paid", invoice)).status_code == 200
    [payment] = rows(app, Payment)
    sub = local_subscription(app, sub_id)
    assert (payment.kind, payment.stripe_invoice_id, payment.subscription_id) == (
        "invoice",
        invoice["id"],
        sub.id,
    )
    assert (payment.amount_minor, payment.fee_minor, payment.currency) == (999, 100, "eur")
    assert payment.billing_reason == "subscription_update"
    [sale] = client.get("/v1/creators/cora/sales", headers=seller.headers).get_json()["data"]
    assert sale["platform_fee"] == {"amount": 100, "currency": "eur"}


# Ordering ---------------------------------------------------------------------------------


def test_subscription_events_out_of_order_converge_to_stripe_state(
    client, app, alice, membership, stripe_mode
):
    fake = stripe_mode
    sub_id = paid_subscription(client, fake, alice, membership["price"]["id"])
    created = make_event("customer.subscription.created", {**fake.get(sub_id), "status": "incomplete"})
    updated_active = make_event("customer.subscription.updated", fake.get(sub_id))

    # `updated` overtakes `created`: the row is made once, from Stripe's current state.
    assert deliver(client, updated_active).status_code == 200
    assert deliver(client, created).status_code == 200
    assert local_subscription(app, sub_id).status == "active"

    now = int(time.time())
    fake.set_subscription(sub_id, status="canceled", canceled_at=now, ended_at=now)
    assert deliver(client, make_event("customer.subscription.deleted", fake.get(sub_id))).status_code == 200
    # A late copy of an older `updated` (active) must not bring it back.
    stale = make_event("customer.subscription.updated", updated_active["data"]["object"], created=now - 60)
    assert deliver(client, stale).status_code == 200

    truth, sub = fake.get(sub_id), local_subscription(app, sub_id)
    item = truth["items"]["data"][0]
    assert sub.status == truth["status"] == "canceled"
    assert sub.cancel_at_period_end is truth["cancel_at_period_end"]
    assert int(sub.current_period_end.timestamp()) == item["current_period_end"]
    assert str(sub.price_id) == membership["price"]["id"]
    assert int(sub.canceled_at.timestamp()) == now
    assert len(rows(app, Subscription)) == 1


@pytest.mark.parametrize("kind", ["membership", "product"])
def test_checkout_status_before_webhook_is_open_then_complete(
    client, app, alice, membership, product, stripe_mode, kind
):
    offering = membership if kind == "membership" else product
    rv = start_checkout(client, alice, offering["price"]["id"])
    assert rv.status_code == 201
    url = f"/v1/checkout/sessions/{rv.get_json()['id']}"

    # The buyer is back from Stripe before anything was paid or delivered.
    body = client.get(url, headers=alice.headers).get_json()
    assert (body["status"], body["purchase_id"], body["subscription_id"]) == ("open", None, None)

    session = stripe_mode.complete_session(stripe_session_id(rv))
    assert deliver(client, make_event("checkout.session.completed", session)).status_code == 200
    body = client.get(url, headers=alice.headers).get_json()
    assert body["status"] == "complete"
    if kind == "membership":
        assert body["purchase_id"] is None
        assert local_subscription(app, session["subscription"]).id == uuid.UUID(body["subscription_id"])
    else:
        assert body["subscription_id"] is None
        [purchase] = rows(app, Purchase)
        assert (str(purchase.id), purchase.stripe_payment_intent_id) == (
            body["purchase_id"],
            session["payment_intent"],
        )
        assert offerings_bought(access(client, alice)) == [product["id"]]


def test_concurrent_deliveries_of_one_event_apply_once(app, alice, client, membership, stripe_mode):
    sub_id = paid_subscription(client, stripe_mode, alice, membership["price"]["id"])
    invoice = stripe_mode.make_invoice(sub_id)
    payload, headers = signed_event(make_event("invoice.paid", invoice))
    barrier = threading.Barrier(2)
    answers = []

    def post():
        own_client = app.test_client()
        barrier.wait()
        answers.append(own_client.post(WEBHOOK, data=payload, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [rv.status_code < 300 for rv in answers] == [True, True], [
        rv.get_data(as_text=True) for rv in answers
    ]
    assert sorted(rv.get_json()["duplicate"] for rv in answers) == [False, True]
    [event] = rows(app, WebhookEvent)
    assert (event.status, event.attempts) == ("done", 1)
    assert len(rows(app, Payment)) == 1
    assert len(rows(app, Subscription)) == 1


def test_handler_failure_keeps_event_and_retry_applies_it_once(
    client, app, alice, membership, stripe_mode, monkeypatch
):
    sub_id = paid_subscription(client, stripe_mode, alice, membership["price"]["id"])
    original, calls = subscriptions.sync_subscription, []

    def flaky(stripe_subscription_id):
        calls.append(stripe_subscription_id)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return original(stripe_subscription_id)

    monkeypatch.setattr(subscriptions, "sync_subscription", flaky)
    event = make_event("customer.subscription.created", stripe_mode.get(sub_id))
    rv = deliver(client, event)
    assert rv.status_code == 200
    assert inbox(app, event["id"]) == {"status": "failed", "attempts": 1}
    assert rows(app, Subscription) == []

    with app.app_context():
        assert webhooks.process_due() == 0  # not due yet: it backs off
        clock.freeze(clock.utcnow() + timedelta(minutes=10))
        assert webhooks.process_due() == 1
        assert webhooks.process_due() == 0
    assert inbox(app, event["id"]) == {"status": "done", "attempts": 2}
    assert local_subscription(app, sub_id).status == "active"
    assert len(calls) == 2


# Money events ------------------------------------------------------------------------------


def test_dashboard_refund_ends_product_access_whatever_the_payload_says(
    client, app, alice, product, stripe_mode
):
    purchase_id = buy(client, stripe_mode, alice, product["price"]["id"])
    assert offerings_bought(access(client, alice)) == [product["id"]]
    [purchase] = rows(app, Purchase)
    stale = stripe_mode.charge_for(purchase.stripe_payment_intent_id)  # taken before the refund
    refund = stripe_mode.refund_at_stripe(purchase.stripe_payment_intent_id)
    event = make_event("charge.refunded", stale)
    assert deliver(client, event).status_code == 200
    assert inbox(app, event["id"])["status"] == "done"
    [purchase] = rows(app, Purchase)
    assert (str(purchase.id), purchase.status, purchase.amount_refunded_minor) == (
        purchase_id,
        "refunded",
        2500,
    )
    assert offerings_bought(access(client, alice)) == []
    [row] = rows(app, Refund)  # mirrored by Stripe's id, though not made through our API
    assert (row.stripe_refund_id, row.status, row.amount_minor) == (refund["id"], "succeeded", 2500)


def test_dispute_suspends_access_until_won(client, app, alice, product, stripe_mode):
    buy(client, stripe_mode, alice, product["price"]["id"])
    [purchase] = rows(app, Purchase)
    intent = purchase.stripe_payment_intent_id
    opened = make_event("charge.dispute.created", stripe_mode.dispute_for(intent))
    assert deliver(client, opened).status_code == 200
    assert offerings_bought(access(client, alice)) == []
    won = make_event("charge.dispute.closed", stripe_mode.dispute_for(intent, status="won"))
    assert deliver(client, won).status_code == 200
    assert offerings_bought(access(client, alice)) == [product["id"]]


def test_late_dispute_opening_after_it_was_won_changes_nothing(client, app, alice, product, stripe_mode):
    buy(client, stripe_mode, alice, product["price"]["id"])
    [purchase] = rows(app, Purchase)
    intent, now = purchase.stripe_payment_intent_id, int(time.time())
    opened_payload = stripe_mode.dispute_for(intent)
    won = make_event("charge.dispute.closed", stripe_mode.dispute_for(intent, status="won"), created=now)
    opened = make_event("charge.dispute.created", opened_payload, created=now - 60)
    assert deliver(client, won).status_code == deliver(client, opened).status_code == 200
    assert inbox(app, opened["id"])["status"] == "done"  # re-read: Stripe says won
    assert offerings_bought(access(client, alice)) == [product["id"]]


def test_refund_arriving_before_the_checkout_is_fulfilled_fulfils_it_first(
    client, app, alice, bob, product, stripe_mode
):
    # Someone else's open checkout must not make the refund wait (it used to, until dead).
    assert start_checkout(client, bob, product["price"]["id"]).status_code == 201
    provider_session = stripe_session_id(start_checkout(client, alice, product["price"]["id"]))
    intent = stripe_mode.complete_session(provider_session)["payment_intent"]
    stripe_mode.refund_at_stripe(intent)
    refund = make_event("charge.refunded", stripe_mode.charge_for(intent))
    assert deliver(client, refund).status_code == 200
    assert inbox(app, refund["id"]) == {"status": "done", "attempts": 1}
    [purchase] = rows(app, Purchase)
    assert (purchase.status, purchase.amount_refunded_minor) == ("refunded", 2500)
    completed = make_event("checkout.session.completed", stripe_mode.get(provider_session))
    assert deliver(client, completed).status_code == 200
    assert len(rows(app, Purchase)) == 1


def test_refund_of_a_payment_that_is_not_ours_is_unmatched_and_not_retried(client, app, stripe_mode, seller):
    price = stripe_mode.add_price(700, interval=None)
    foreign = stripe_mode.add_subscription(price=price["id"])
    intent = stripe_mode.invoice_payment_intent(stripe_mode.make_invoice(foreign["id"])["id"])
    stripe_mode.refund_at_stripe(intent)
    event = make_event("charge.refunded", stripe_mode.charge_for(intent))
    assert deliver(client, event).status_code == 200
    assert inbox(app, event["id"]) == {"status": "unmatched", "attempts": 1}
    with app.app_context():
        assert webhooks.process_due() == 0


# Connect -----------------------------------------------------------------------------------


def test_account_losing_charges_blocks_checkout(client, seller, alice, product, stripe_mode):
    account = stripe_mode.set_account(seller["acct"], charges_enabled=False, payouts_enabled=False)
    assert deliver(client, make_event("account.updated", account, account=seller["acct"])).status_code == 200
    assert client.get("/v1/creators/cora").get_json()["payouts_enabled"] is False
    sessions_before = len(stripe_mode.requests_to("/v1/checkout/sessions"))
    assert_problem(start_checkout(client, alice, product["price"]["id"]), 409, "payouts_not_enabled")
    assert len(stripe_mode.requests_to("/v1/checkout/sessions")) == sessions_before


def test_stale_account_update_is_read_again_from_stripe(client, app, seller, stripe_mode):
    enabled = stripe_mode.get(seller["acct"])  # a snapshot from before Stripe disabled the account
    stripe_mode.set_account(seller["acct"], charges_enabled=False, payouts_enabled=False)
    stale = make_event("account.updated", enabled, account=seller["acct"])
    assert deliver(client, stale).status_code == 200
    assert inbox(app, stale["id"])["status"] == "done"
    assert client.get("/v1/creators/cora").get_json()["payouts_enabled"] is False


def test_deauthorized_account_disables_payouts_without_reading_it(
    client, seller, alice, product, stripe_mode
):
    application = {"id": "ca_platform", "object": "application", "name": "Creator platform"}
    event = make_event("account.application.deauthorized", application, account=seller["acct"])
    reads_before = len(stripe_mode.requests_to("/v1/accounts", "GET"))
    assert deliver(client, event).status_code == 200
    assert client.get("/v1/creators/cora").get_json()["payouts_enabled"] is False
    status = client.get("/v1/creators/cora/payouts", headers=seller.headers).get_json()
    assert (status["charges_enabled"], status["payouts_enabled"]) == (False, False)
    assert_problem(start_checkout(client, alice, product["price"]["id"]), 409, "payouts_not_enabled")
    assert len(stripe_mode.requests_to("/v1/accounts", "GET")) == reads_before


# Replay -----------------------------------------------------------------------------------


# What a subscription story can do after its start, and how a story may end.
ACTIONS = ("renew", "fail", "recover", "cancel_toggle", "change")
ENDINGS = ("deleted", "past_due", "ending_at_period_end", "active")
EVENT_TYPES = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "payment_intent.succeeded",
    "charge.succeeded",
}


class Story:
    """Events about one Stripe object, built while the fake moves it to its final state."""

    def __init__(self, fake, rng, clock_start):
        self.fake, self.rng, self.events, self.at = fake, rng, [], clock_start

    def emit(self, event_type, obj):
        self.at += self.rng.randint(1, 5)
        self.events.append(make_event(event_type, obj, created=self.at))

    def subscription(self, session_id, other_price, *, min_length, ending):
        """A random walk through every action (each at least once, `min_length` events or more),
        then `ending`: deleted, left past due, set to end at the period end, or left active."""
        fake = self.fake
        session = fake.complete_session(session_id)
        sub_id = session["subscription"]
        first = fake.get(sub_id)
        self.emit("customer.subscription.created", {**first, "status": "incomplete"})
        self.emit("checkout.session.completed", session)
        self.emit("invoice.paid", fake.get(first["latest_invoice"]))
        self.emit("customer.subscription.updated", first)
        done: set[str] = set()
        while len(self.events) < min_length or done != set(ACTIONS):
            sub = fake.get(sub_id)
            if sub["status"] == "past_due":
                action = self.rng.choices(["recover", "fail"], weights=[3, 1])[0]
            elif sub["cancel_at_period_end"]:
                action = "cancel_toggle"  # resumed before the period ran out
            else:
                action = self.rng.choices(["renew", "fail", "cancel_toggle", "change"], weights=[8, 4, 3, 4])[
                    0
                ]
            other_price = self.act(sub_id, action, other_price)
            done.add(action)
        sub = fake.get(sub_id)
        if ending == "deleted":
            ended = fake.set_subscription(sub_id, status="canceled", canceled_at=self.at, ended_at=self.at)
            self.emit("customer.subscription.deleted", ended)
        elif ending == "past_due" and sub["status"] != "past_due":
            self.act(sub_id, "fail", other_price)
        elif ending == "ending_at_period_end" and not sub["cancel_at_period_end"]:
            self.act(sub_id, "cancel_toggle", other_price)
        elif ending == "active":
            if sub["status"] == "past_due":
                self.act(sub_id, "recover", other_price)
            if sub["cancel_at_period_end"]:
                self.act(sub_id, "cancel_toggle", other_price)
        return self.events

    def act(self, sub_id, action, other_price):
        """Move the subscription at Stripe and emit what Stripe would; the other tier's price after."""
        fake = self.fake
        sub = fake.get(sub_id)
        item = sub["items"]["data"][0]
        if action == "renew":
            start, end = item["current_period_end"], item["current_period_end"] + 30 * DAY
            fake.set_subscription(sub_id, current_period_start=start, current_period_end=end)
            self.emit("customer.subscription.updated", fake.get(sub_id))
            self.emit("invoice.paid", fake.make_invoice(sub_id))
        elif action == "fail":
            self.emit("invoice.payment_failed", fake.make_invoice(sub_id, paid=False))
            self.emit("customer.subscription.updated", fake.set_subscription(sub_id, status="past_due"))
        elif action == "recover":
            self.emit("customer.subscription.updated", fake.set_subscription(sub_id, status="active"))
            self.emit("invoice.paid", fake.make_invoice(sub_id))
        elif action == "cancel_toggle":
            flag = not sub["cancel_at_period_end"]
            self.emit(
                "customer.subscription.updated", fake.set_subscription(sub_id, cancel_at_period_end=flag)
            )
        else:  # change to the other tier, with its prorated invoice
            price, other_price = other_price, item["price"]["id"]
            self.emit("customer.subscription.updated", fake.set_subscription(sub_id, price=price))
            self.emit(
                "invoice.paid", fake.make_invoice(sub_id, amount=350, billing_reason="subscription_update")
            )
        return other_price

    def purchase(self, session_id):
        session = self.fake.complete_session(session_id)
        intent = self.fake.get(session["payment_intent"])
        self.emit("payment_intent.succeeded", intent)
        self.emit("charge.succeeded", self.fake.charge_for(intent["id"]))
        self.emit("checkout.session.completed", session)
        return self.events


def billing_state(app):
    """What the events produced, keyed by Stripe ids (our own ids and clock times left out)."""
    with app.app_context():
        subs = {
            s.stripe_subscription_id: (
                s.status,
                str(s.price_id),
                str(s.offering_id),
                s.current_period_end,
                s.cancel_at_period_end,
                s.canceled_at,
                str(s.user_id),
            )
            for s in db.session.scalars(select(Subscription))
        }
        purchases = {
            p.stripe_payment_intent_id: (p.status, p.amount_minor, p.amount_refunded_minor, str(p.user_id))
            for p in db.session.scalars(select(Purchase))
        }
        by_id = {s.id: s.stripe_subscription_id for s in db.session.scalars(select(Subscription))}
        intents = {p.id: p.stripe_payment_intent_id for p in db.session.scalars(select(Purchase))}
        payments = {
            p.stripe_invoice_id or intents[p.purchase_id]: (
                p.kind,
                p.amount_minor,
                p.fee_minor,
                p.currency,
                p.billing_reason,
                by_id.get(p.subscription_id),
            )
            for p in db.session.scalars(select(Payment))
        }
        sessions = {
            s.stripe_session_id: (s.status, by_id.get(s.subscription_id), intents.get(s.purchase_id))
            for s in db.session.scalars(select(CheckoutSession))
        }
        inbox = {e.id: e.status for e in db.session.scalars(select(WebhookEvent))}
        return {
            "subscriptions": subs,
            "purchases": purchases,
            "payments": payments,
            "sessions": sessions,
        }, inbox


def forget_deliveries(app):
    """Back to the state before any event: our checkout sessions open, nothing bought."""
    with app.app_context():
        for model in (Payment, Refund, Purchase, Subscription, WebhookEvent):
            db.session.execute(delete(model))
        db.session.execute(
            update(CheckoutSession).values(status="open", purchase_id=None, subscription_id=None)
        )
        db.session.commit()


def deliver_all(client, events):
    for event in events:
        payload, headers = signed_event(event)
        rv = client.post(WEBHOOK, data=payload, headers=headers)
        assert rv.status_code == 200, rv.get_data(as_text=True)


@pytest.mark.slow
def test_replay_shuffled_with_duplicates_matches_in_order_delivery(
    client, app, seller, signup, make_offering, stripe_mode
):
    """Eight subscriptions (each through every action, ending in each of ENDINGS) and two
    purchases: delivered in order, then again from scratch shuffled with a third more
    duplicates, the two results are identical, and both are Stripe's final state."""
    fake, rng = stripe_mode, random.Random(2026)
    tiers = [
        make_offering(seller, amount=500, title="Supporter"),
        make_offering(seller, amount=1200, title="Patron"),
    ]
    products = [
        make_offering(seller, kind="product", amount=2500, title="Ebook"),
        make_offering(seller, kind="product", amount=900, title="Presets"),
    ]
    offerings = [tiers[n % 2] for n in range(8)] + products
    stories = []
    for n, offering in enumerate(offerings):
        rv = start_checkout(client, signup(display_name=f"Buyer {n}"), offering["price"]["id"])
        assert rv.status_code == 201, rv.get_json()
        stories.append((offering, stripe_session_id(rv)))
    tier_prices = [provider_price(fake, t["price"]["id"]) for t in tiers]

    started = int(time.time()) - 400 * DAY
    events = []
    for n, (offering, session_id) in enumerate(stories):
        story = Story(fake, rng, started + n * 37)
        if offering in tiers:
            other = tier_prices[1 - tiers.index(offering)]
            events += story.subscription(session_id, other, min_length=16, ending=ENDINGS[n % len(ENDINGS)])
        else:
            events += story.purchase(session_id)
    events.sort(key=lambda e: e["created"])

    deliver_all(client, events)
    in_order, inbox_in_order = billing_state(app)

    forget_deliveries(app)
    shuffler = random.Random(7)
    stream = events + shuffler.sample(events, k=len(events) // 3)
    shuffler.shuffle(stream)
    deliver_all(client, stream)
    shuffled, inbox_shuffled = billing_state(app)

    counts = {name: len(value) for name, value in in_order.items()}
    statuses = Counter(inbox_in_order.values())
    final = Counter((s[0], s[4]) for s in in_order["subscriptions"].values())
    print(
        f"\nreplay: {len(events)} events, {len(stream)} deliveries shuffled with "
        f"{len(stream) - len(events)} duplicates; {json.dumps(counts)}; inbox {dict(statuses)}; "
        f"subscriptions (status, cancel at period end) {dict(final)}; identical: {in_order == shuffled}"
    )
    # The stories are what they claim: every event type, every ending, real duplicates.
    assert {e["type"] for e in events} == EVENT_TYPES
    assert final == {
        ("canceled", False): 2,
        ("past_due", False): 2,
        ("active", True): 2,
        ("active", False): 2,
    }
    assert len(stream) - len(set(e["id"] for e in stream)) == len(events) // 3
    paid_invoices = {e["data"]["object"]["id"] for e in events if e["type"] == "invoice.paid"}
    assert counts == {
        "subscriptions": 8,
        "purchases": 2,
        "payments": len(paid_invoices) + 2,
        "sessions": 10,
    }
    assert set(statuses) == {"done", "ignored"}
    assert inbox_shuffled == inbox_in_order
    assert shuffled == in_order

    # And both equal Stripe's final state.
    for stripe_id, (status, _, _, period_end, cancel_at_end, _, _) in in_order["subscriptions"].items():
        truth = fake.get(stripe_id)
        item = truth["items"]["data"][0]
        assert (status, cancel_at_end) == (truth["status"], truth["cancel_at_period_end"])
        assert int(period_end.timestamp()) == item["current_period_end"]
        assert provider_price(fake, in_order["subscriptions"][stripe_id][1]) == item["price"]["id"]
