"""Every Stripe event type we apply, end to end, and the inbox under arbitrary signed payloads.

Each handled type gets one scenario: the fake of Stripe is moved to some state
with its helpers, an event about it (in Stripe's fixture shapes, sometimes a
deliberately stale snapshot) is signed and delivered, and our mirror must show
Stripe's state after a single attempt. The scenario table must list exactly the
keys of `webhooks.HANDLERS`, and the README's subscription list must name only
types we handle.

The property tests then sign random, mutated fixture objects and envelopes:
the endpoint answers 200 (stored exactly as sent) or 400, never 5xx, and
processing ends in a final or retryable inbox state without escaping the request.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from service.billing import webhooks
from service.billing.models import (
    CheckoutSession,
    ConnectedAccount,
    Dispute,
    Payment,
    Purchase,
    Refund,
    Subscription,
    WebhookEvent,
)
from service.common import clock
from service.extensions import db
from service.notifications.models import Notification

from .billing_helpers import (
    access,
    checkout_status,
    inbox_row,
    offerings_bought,
    one,
    rows,
    start_checkout,
    subscription,
)
from .billing_helpers import as_uuid as _uuid
from .conftest import assert_problem, create_offering
from .fake_stripe import (
    DAY,
    FakeStripe,
    deliver,
    make_event,
    provider_price,
    signed_event,
    stripe_fixture,
    stripe_session_id,
    subscribe,
)

WEBHOOK = "/v1/webhooks/stripe"
README = Path(__file__).resolve().parents[1] / "README.md"


# The world every scenario starts from ------------------------------------------------------


@dataclass
class World:
    client: Any
    app: Any
    fake: FakeStripe
    seller: Any
    alice: Any
    bob: Any
    tiers: tuple[dict[str, Any], dict[str, Any]]
    product: dict[str, Any]

    def access(self, buyer=None) -> dict[str, Any]:
        return access(self.client, buyer or self.alice)

    def subscription(self, sub_id, buyer=None) -> dict[str, Any]:
        return subscription(self.client, buyer or self.alice, sub_id)

    def checkout(self, session_id, buyer=None) -> dict[str, Any]:
        return checkout_status(self.client, buyer or self.alice, session_id)

    def open_checkout(self, price_id, buyer=None) -> tuple[str, str]:
        """A checkout started through our API: (our session id, Stripe's session id)."""
        rv = start_checkout(self.client, buyer or self.alice, price_id)
        assert rv.status_code == 201, rv.get_json()
        return rv.get_json()["id"], stripe_session_id(rv)

    def applied(self, event) -> None:
        """Deliver a preliminary event and check it was applied."""
        rv = deliver(self.client, event)
        assert rv.status_code == 200, rv.get_data(as_text=True)
        assert inbox_row(self.app, event["id"]).status == "done"

    def member(self, tier=0) -> Subscription:
        """Alice subscribed to a tier (checkout completed and delivered); our row."""
        sub_id = subscribe(self.client, self.fake, self.alice, self.tiers[tier]["price"]["id"])
        return one(self.app, Subscription, Subscription.id == _uuid(sub_id))

    def purchase(self) -> Purchase:
        """Alice bought the product (checkout completed and delivered); our row."""
        _, session_id = self.open_checkout(self.product["price"]["id"])
        session = self.fake.complete_session(session_id)
        self.applied(make_event("checkout.session.completed", session))
        return one(self.app, Purchase, Purchase.stripe_payment_intent_id == session["payment_intent"])

    def member_invoice_intent(self, sub: Subscription) -> str:
        intent = self.fake.invoice_payment_intent(self.fake.get(sub.stripe_subscription_id)["latest_invoice"])
        assert intent
        return intent


@pytest.fixture
def world(client, app, seller, alice, bob, tiers, product, stripe_mode) -> World:
    return World(client, app, stripe_mode, seller, alice, bob, tiers, product)


# Scenarios: one per handled event type ----------------------------------------------------


@dataclass
class Case:
    event: dict[str, Any]
    check: Callable[[], None]
    status: str = "done"
    notes: list[str] = field(default_factory=list)


SCENARIOS: dict[str, Callable[[World], Case]] = {}


def scenario(event_type: str):
    def register(build: Callable[[World], Case]) -> Callable[[World], Case]:
        assert event_type not in SCENARIOS, event_type
        SCENARIOS[event_type] = build
        return build

    return register


# Checkout sessions


@scenario("checkout.session.completed")
def _checkout_completed(w: World) -> Case:
    ours, session_id = w.open_checkout(w.product["price"]["id"])
    session = w.fake.complete_session(session_id)

    def check():
        purchase = one(w.app, Purchase)
        assert (purchase.status, purchase.amount_minor, purchase.stripe_payment_intent_id) == (
            "paid",
            2500,
            session["payment_intent"],
        )
        body = w.checkout(ours)
        assert (body["status"], body["purchase_id"]) == ("complete", str(purchase.id))
        assert offerings_bought(w.access()) == [w.product["id"]]
        payment = one(w.app, Payment)
        assert (payment.kind, payment.amount_minor, payment.fee_minor) == ("purchase", 2500, 250)

    return Case(make_event("checkout.session.completed", session), check)


@scenario("checkout.session.async_payment_succeeded")
def _checkout_async_succeeded(w: World) -> Case:
    ours, session_id = w.open_checkout(w.tiers[0]["price"]["id"])
    session = w.fake.complete_session(session_id)
    # Stale: the snapshot of the moment the delayed payment was still unpaid. Stripe says paid.
    stale = {**session, "payment_status": "unpaid"}

    def check():
        sub = one(w.app, Subscription)
        assert (sub.stripe_subscription_id, sub.status, sub.user_id) == (
            session["subscription"],
            "active",
            _uuid(w.alice.id),
        )
        body = w.checkout(ours)
        assert (body["status"], body["subscription_id"]) == ("complete", str(sub.id))
        payment = one(w.app, Payment)
        assert (payment.stripe_invoice_id, payment.amount_minor) == (session["invoice"], 900)
        assert w.access()["membership"]["offering_id"] == w.tiers[0]["id"]

    return Case(make_event("checkout.session.async_payment_succeeded", stale), check)


@scenario("checkout.session.async_payment_failed")
def _checkout_async_failed(w: World) -> Case:
    ours, session_id = w.open_checkout(w.product["price"]["id"])
    session = w.fake.complete_session(session_id, paid=False)
    assert (session["status"], session["payment_status"]) == ("complete", "unpaid")

    def check():
        assert one(w.app, CheckoutSession).status == "failed"
        assert w.checkout(ours)["status"] == "failed"
        assert rows(w.app, Purchase) == []
        assert offerings_bought(w.access()) == []

    return Case(make_event("checkout.session.async_payment_failed", session), check)


@scenario("checkout.session.expired")
def _checkout_expired(w: World) -> Case:
    ours, session_id = w.open_checkout(w.tiers[1]["price"]["id"])
    session = w.fake.expire_session(session_id)

    def check():
        # The row first: reading the session through the API would ask Stripe and close it anyway.
        assert one(w.app, CheckoutSession).status == "expired"
        body = w.checkout(ours)
        assert (body["status"], body["subscription_id"], body["purchase_id"]) == ("expired", None, None)
        assert rows(w.app, Subscription) == []

    return Case(make_event("checkout.session.expired", session), check)


# Subscriptions


@scenario("customer.subscription.created")
def _subscription_created(w: World) -> Case:
    ours, session_id = w.open_checkout(w.tiers[0]["price"]["id"])
    sub_id = w.fake.complete_session(session_id)["subscription"]
    # Stale: `created` carries the subscription as it was before its first payment.
    stale = {**w.fake.get(sub_id), "status": "incomplete"}

    def check():
        sub = one(w.app, Subscription)
        assert (sub.stripe_subscription_id, sub.status, str(sub.price_id)) == (
            sub_id,
            "active",
            w.tiers[0]["price"]["id"],
        )
        item = w.fake.get(sub_id)["items"]["data"][0]
        assert int(sub.current_period_end.timestamp()) == item["current_period_end"]
        assert one(w.app, CheckoutSession).subscription_id == sub.id
        assert w.subscription(sub.id)["has_access"] is True
        assert w.checkout(ours)["subscription_id"] == str(sub.id)

    return Case(make_event("customer.subscription.created", stale), check)


@scenario("customer.subscription.updated")
def _subscription_updated(w: World) -> Case:
    sub = w.member()
    truth = w.fake.set_subscription(sub.stripe_subscription_id, cancel_at_period_end=True)
    previous = {"cancel_at_period_end": False, "cancel_at": None}

    def check():
        body = w.subscription(sub.id)
        assert (body["status"], body["cancel_at_period_end"], body["has_access"]) == ("active", True, True)
        row = one(w.app, Subscription)
        assert int(row.current_period_end.timestamp()) == truth["cancel_at"]

    event = make_event("customer.subscription.updated", truth, previous_attributes=previous)
    return Case(event, check)


@scenario("customer.subscription.deleted")
def _subscription_deleted(w: World) -> Case:
    sub = w.member()
    now = int(time.time())
    truth = w.fake.set_subscription(
        sub.stripe_subscription_id, status="canceled", canceled_at=now, ended_at=now
    )

    def check():
        row = one(w.app, Subscription)
        assert (row.status, row.canceled_at is not None, row.ended_at is not None) == ("canceled", True, True)
        assert (int(row.canceled_at.timestamp()), int(row.ended_at.timestamp())) == (now, now)
        assert w.subscription(sub.id)["has_access"] is False
        assert w.access()["membership"] is None

    return Case(make_event("customer.subscription.deleted", truth), check)


@scenario("customer.subscription.paused")
def _subscription_paused(w: World) -> Case:
    sub = w.member()
    truth = w.fake.set_subscription(sub.stripe_subscription_id, status="paused")

    def check():
        body = w.subscription(sub.id)
        assert (body["status"], body["has_access"]) == ("paused", False)
        assert w.access()["membership"] is None

    return Case(make_event("customer.subscription.paused", truth), check)


@scenario("customer.subscription.resumed")
def _subscription_resumed(w: World) -> Case:
    sub = w.member()
    paused = w.fake.set_subscription(sub.stripe_subscription_id, status="paused")
    w.applied(make_event("customer.subscription.paused", paused))
    assert w.access()["membership"] is None
    start = int(time.time())
    truth = w.fake.set_subscription(
        sub.stripe_subscription_id,
        status="active",
        current_period_start=start,
        current_period_end=start + 30 * DAY,
    )

    def check():
        body = w.subscription(sub.id)
        assert (body["status"], body["has_access"]) == ("active", True)
        assert int(one(w.app, Subscription).current_period_end.timestamp()) == start + 30 * DAY
        assert w.access()["membership"]["offering_id"] == w.tiers[0]["id"]

    return Case(make_event("customer.subscription.resumed", truth), check)


def _pending_upgrade(w: World, sub: Subscription) -> str:
    """Our row waits for an upgrade to the second tier; Stripe's price of that tier."""
    w.open_checkout(w.tiers[1]["price"]["id"], buyer=w.bob)  # makes the tier's price at Stripe
    with w.app.app_context():
        row = db.session.get(Subscription, sub.id)
        row.pending_price_id = _uuid(w.tiers[1]["price"]["id"])
        db.session.commit()
    return provider_price(w.fake, w.tiers[1]["price"]["id"])


@scenario("customer.subscription.pending_update_applied")
def _subscription_pending_update_applied(w: World) -> Case:
    sub = w.member()
    new_price = _pending_upgrade(w, sub)
    # Stale: the payload still shows the old price with the update pending; Stripe has applied it.
    stale = w.fake.get(sub.stripe_subscription_id)
    stale["pending_update"] = stripe_fixture("subscription")["pending_update"] or {"expires_at": 1}
    w.fake.set_subscription(sub.stripe_subscription_id, price=new_price)

    def check():
        row = one(w.app, Subscription)
        assert (str(row.price_id), str(row.offering_id), row.pending_price_id) == (
            w.tiers[1]["price"]["id"],
            w.tiers[1]["id"],
            None,
        )
        assert w.subscription(sub.id)["price_id"] == w.tiers[1]["price"]["id"]
        assert w.access()["membership"]["offering_id"] == w.tiers[1]["id"]

    return Case(make_event("customer.subscription.pending_update_applied", stale), check)


@scenario("customer.subscription.pending_update_expired")
def _subscription_pending_update_expired(w: World) -> Case:
    sub = w.member()
    _pending_upgrade(w, sub)
    truth = w.fake.get(sub.stripe_subscription_id)  # the old price, nothing pending any more
    assert truth["pending_update"] is None

    def check():
        row = one(w.app, Subscription)
        assert (str(row.price_id), row.pending_price_id, row.status) == (
            w.tiers[0]["price"]["id"],
            None,
            "active",
        )
        assert w.access()["membership"]["offering_id"] == w.tiers[0]["id"]

    return Case(make_event("customer.subscription.pending_update_expired", truth), check)


@scenario("customer.subscription.trial_will_end")
def _subscription_trial_will_end(w: World) -> Case:
    trial = create_offering(
        w.client,
        w.seller,
        amount=700,
        title="Trial",
        price={"type": "recurring", "interval": "month", "trial_days": 14},
    )
    sub_id = subscribe(w.client, w.fake, w.alice, trial["price"]["id"])
    sub = one(w.app, Subscription, Subscription.id == _uuid(sub_id))
    truth = w.fake.get(sub.stripe_subscription_id)
    # Stale: an older snapshot with fields this code never reads, some of them null.
    stale = {
        **truth,
        "trial_end": truth["trial_end"] - DAY,
        "default_payment_method": None,
        "x_new": {"a": 1},
    }

    def check():
        row = one(w.app, Subscription)
        assert (row.status, int(row.trial_end.timestamp())) == ("trialing", truth["trial_end"])
        told = one(w.app, Notification, Notification.kind == "trial_ending")
        assert (told.user_id, told.cause_key) == (
            _uuid(w.alice.id),
            f"subscription:{sub.id}:{truth['trial_end'] * 1000}",
        )

    return Case(make_event("customer.subscription.trial_will_end", stale), check)


# Invoices


@scenario("invoice.paid")
def _invoice_paid(w: World) -> Case:
    sub = w.member()
    item = w.fake.get(sub.stripe_subscription_id)["items"]["data"][0]
    start, end = item["current_period_end"], item["current_period_end"] + 30 * DAY
    w.fake.set_subscription(sub.stripe_subscription_id, current_period_start=start, current_period_end=end)
    invoice = w.fake.make_invoice(sub.stripe_subscription_id)

    def check():
        payment = one(w.app, Payment, Payment.stripe_invoice_id == invoice["id"])
        assert (payment.kind, payment.amount_minor, payment.fee_minor, payment.billing_reason) == (
            "invoice",
            900,
            90,
            "subscription_cycle",
        )
        assert payment.stripe_payment_intent_id == w.fake.invoice_payment_intent(invoice["id"])
        assert payment.subscription_id == sub.id
        assert int(one(w.app, Subscription).current_period_end.timestamp()) == end

    return Case(make_event("invoice.paid", invoice), check)


@scenario("invoice.payment_failed")
def _invoice_payment_failed(w: World) -> Case:
    sub = w.member()
    invoice = w.fake.make_invoice(sub.stripe_subscription_id, paid=False)
    w.fake.set_subscription(sub.stripe_subscription_id, status="past_due")

    def check():
        row = one(w.app, Subscription)
        assert row.status == "past_due" and row.past_due_since is not None
        body = w.subscription(sub.id)
        assert (body["status"], body["has_access"]) == ("past_due", True)  # the grace period
        assert rows(w.app, Payment, Payment.stripe_invoice_id == invoice["id"]) == []

    return Case(make_event("invoice.payment_failed", invoice), check)


@scenario("invoice.payment_action_required")
def _invoice_action_required(w: World) -> Case:
    sub = w.member()
    invoice = w.fake.make_invoice(sub.stripe_subscription_id, paid=False)

    def check():
        assert one(w.app, Subscription).action_required_url == invoice["hosted_invoice_url"]
        assert w.subscription(sub.id)["action_required"] == {"url": invoice["hosted_invoice_url"]}

    return Case(make_event("invoice.payment_action_required", invoice), check)


# Refunds


@scenario("charge.refunded")
def _charge_refunded(w: World) -> Case:
    purchase = w.purchase()
    intent = purchase.stripe_payment_intent_id
    stale = w.fake.charge_for(intent)  # taken before the refund: nothing refunded
    refund = w.fake.refund_at_stripe(intent, 1000)

    def check():
        row = one(w.app, Purchase)
        assert (row.status, row.amount_refunded_minor) == ("paid", 1000)
        assert one(w.app, Payment).refunded_minor == 1000
        mirrored = one(w.app, Refund)
        assert (mirrored.stripe_refund_id, mirrored.amount_minor, mirrored.status) == (
            refund["id"],
            1000,
            "succeeded",
        )
        assert offerings_bought(w.access()) == [w.product["id"]]  # a partial refund keeps the product

    assert stale["amount_refunded"] == 0
    return Case(make_event("charge.refunded", stale), check)


@scenario("charge.refund.updated")
def _charge_refund_updated(w: World) -> Case:
    sub = w.member()
    intent = w.member_invoice_intent(sub)
    refund = w.fake.refund_at_stripe(intent, 400)
    failed = w.fake.fail_refund(refund["id"])

    def check():
        payment = one(w.app, Payment)
        assert (payment.kind, payment.refunded_minor) == ("invoice", 0)
        mirrored = one(w.app, Refund)
        assert (mirrored.stripe_refund_id, mirrored.status, mirrored.failure_reason) == (
            refund["id"],
            "failed",
            "expired_or_canceled_card",
        )
        assert mirrored.purchase_id is None and mirrored.payment_id == payment.id

    return Case(make_event("charge.refund.updated", failed), check)


@scenario("refund.created")
def _refund_created(w: World) -> Case:
    purchase = w.purchase()
    refund = w.fake.refund_at_stripe(purchase.stripe_payment_intent_id)

    def check():
        row = one(w.app, Purchase)
        assert (row.status, row.amount_refunded_minor) == ("refunded", 2500)
        assert one(w.app, Payment).refunded_minor == 2500
        assert one(w.app, Refund).status == "succeeded"
        assert offerings_bought(w.access()) == []

    return Case(make_event("refund.created", refund), check)


@scenario("refund.updated")
def _refund_updated(w: World) -> Case:
    purchase = w.purchase()
    refund = w.fake.refund_at_stripe(purchase.stripe_payment_intent_id, 500)
    stale = {**refund, "status": "pending"}  # Stripe's copy has succeeded since

    def check():
        row = one(w.app, Purchase)
        assert (row.status, row.amount_refunded_minor) == ("paid", 500)
        mirrored = one(w.app, Refund)
        assert (mirrored.stripe_refund_id, mirrored.status, mirrored.amount_minor) == (
            refund["id"],
            "succeeded",
            500,
        )

    return Case(make_event("refund.updated", stale), check)


@scenario("refund.failed")
def _refund_failed(w: World) -> Case:
    purchase = w.purchase()
    refund = w.fake.refund_at_stripe(purchase.stripe_payment_intent_id)
    w.applied(make_event("refund.created", refund))
    assert offerings_bought(w.access()) == []
    failed = w.fake.fail_refund(refund["id"])

    def check():
        row = one(w.app, Purchase)
        assert (row.status, row.amount_refunded_minor) == ("paid", 0)
        assert one(w.app, Payment).refunded_minor == 0
        mirrored = one(w.app, Refund)
        assert (mirrored.status, mirrored.failure_reason) == ("failed", "expired_or_canceled_card")
        assert offerings_bought(w.access()) == [w.product["id"]]

    return Case(make_event("refund.failed", failed), check)


# Disputes


def _dispute_check(w: World, dispute_id: str, status: str, disputed: bool) -> Callable[[], None]:
    def check():
        row = one(w.app, Dispute)
        assert (row.stripe_dispute_id, row.status) == (dispute_id, status)
        assert one(w.app, Purchase).disputed is disputed
        assert one(w.app, Payment).disputed_minor == 0
        assert offerings_bought(w.access()) == ([] if disputed else [w.product["id"]])

    return check


@scenario("charge.dispute.created")
def _dispute_created(w: World) -> Case:
    purchase = w.purchase()
    dispute = w.fake.open_dispute(purchase.stripe_payment_intent_id)
    check = _dispute_check(w, dispute["id"], "needs_response", disputed=True)
    return Case(make_event("charge.dispute.created", dispute), check)


@scenario("charge.dispute.updated")
def _dispute_updated(w: World) -> Case:
    purchase = w.purchase()
    dispute = w.fake.open_dispute(purchase.stripe_payment_intent_id, status="warning_needs_response")
    w.applied(make_event("charge.dispute.created", dispute))
    assert offerings_bought(w.access()) == [w.product["id"]]  # an inquiry changes nothing
    truth = w.fake.set_dispute(dispute["id"], status="under_review")
    check = _dispute_check(w, dispute["id"], "under_review", disputed=True)
    event = make_event("charge.dispute.updated", truth, previous_attributes={"status": "needs_response"})
    return Case(event, check)


@scenario("charge.dispute.closed")
def _dispute_closed(w: World) -> Case:
    purchase = w.purchase()
    dispute = w.fake.open_dispute(purchase.stripe_payment_intent_id)
    w.applied(make_event("charge.dispute.created", dispute))
    assert offerings_bought(w.access()) == []
    w.fake.set_dispute(dispute["id"], status="won")
    # Stale: the payload still says the dispute is open; Stripe says won.
    check = _dispute_check(w, dispute["id"], "won", disputed=False)
    return Case(make_event("charge.dispute.closed", dispute), check)


@scenario("charge.dispute.funds_withdrawn")
def _dispute_funds_withdrawn(w: World) -> Case:
    purchase = w.purchase()
    # Disputes do not always name the payment intent: the charge leads to it.
    dispute = w.fake.open_dispute(purchase.stripe_payment_intent_id, include_payment_intent=False)
    check = _dispute_check(w, dispute["id"], "needs_response", disputed=True)
    return Case(make_event("charge.dispute.funds_withdrawn", dispute), check)


@scenario("charge.dispute.funds_reinstated")
def _dispute_funds_reinstated(w: World) -> Case:
    sub = w.member()
    dispute = w.fake.open_dispute(w.member_invoice_intent(sub))
    w.applied(make_event("charge.dispute.created", dispute))
    assert w.access()["membership"] is None
    assert w.subscription(sub.id)["disputed"] is True
    truth = w.fake.set_dispute(dispute["id"], status="won")

    def check():
        assert one(w.app, Dispute).status == "won"
        row = one(w.app, Subscription)
        assert (row.status, row.disputed) == ("active", False)
        assert w.subscription(sub.id)["has_access"] is True
        assert w.access()["membership"]["offering_id"] == w.tiers[0]["id"]

    return Case(make_event("charge.dispute.funds_reinstated", truth), check)


# Connect


@scenario("account.updated")
def _account_updated(w: World) -> Case:
    acct = w.seller["acct"]
    requirements = w.fake.get(acct)["requirements"]
    requirements.update(currently_due=["external_account"], disabled_reason="requirements.past_due")
    truth = w.fake.set_account(acct, charges_enabled=False, payouts_enabled=False, requirements=requirements)

    def check():
        row = one(w.app, ConnectedAccount)
        assert (row.charges_enabled, row.payouts_enabled, row.requirements_due, row.disabled_reason) == (
            False,
            False,
            ["external_account"],
            "requirements.past_due",
        )
        assert w.client.get("/v1/creators/cora").get_json()["payouts_enabled"] is False
        assert_problem(start_checkout(w.client, w.bob, w.product["price"]["id"]), 409, "payouts_not_enabled")

    return Case(make_event("account.updated", truth, account=acct), check)


@scenario("account.application.deauthorized")
def _account_deauthorized(w: World) -> Case:
    acct = w.seller["acct"]
    application = {**stripe_fixture("application"), "id": "ca_platform", "name": "Creator platform"}
    created = int(time.time())
    reads_before = len(w.fake.requests_to("/v1/accounts", "GET"))

    def check():
        row = one(w.app, ConnectedAccount)
        assert (row.charges_enabled, row.payouts_enabled) == (False, False)
        assert int(row.deauthorized_at.timestamp()) == created
        assert w.client.get("/v1/creators/cora").get_json()["payouts_enabled"] is False
        assert len(w.fake.requests_to("/v1/accounts", "GET")) == reads_before  # never read back

    event = make_event("account.application.deauthorized", application, account=acct, created=created)
    return Case(event, check)


def test_scenarios_cover_exactly_the_handled_event_types():
    assert set(SCENARIOS) == set(webhooks.HANDLERS)


@pytest.mark.parametrize("event_type", sorted(SCENARIOS))
def test_handled_event_applies_stripe_state(world, event_type):
    case = SCENARIOS[event_type](world)
    assert case.event["type"] == event_type
    rv = deliver(world.client, case.event)
    assert rv.status_code == 200, rv.get_data(as_text=True)
    assert rv.get_json() == {"received": True, "duplicate": False}
    row = inbox_row(world.app, case.event["id"])
    assert (row.status, row.attempts, row.last_error) == (case.status, 1, None)
    assert row.payload == case.event
    case.check()
    # A redelivery is acknowledged, not applied again, and the state holds.
    assert deliver(world.client, case.event).get_json() == {"received": True, "duplicate": True}
    assert inbox_row(world.app, case.event["id"]).attempts == 1
    case.check()


def _foreign_subscription(fake: FakeStripe) -> dict[str, Any]:
    return fake.add_subscription(price=fake.add_price(700)["id"])


def _foreign_intent(fake: FakeStripe) -> str:
    invoice = fake.make_invoice(_foreign_subscription(fake)["id"])
    intent = fake.invoice_payment_intent(invoice["id"])
    assert intent
    return intent


def _foreign_events(fake: FakeStripe) -> list[dict[str, Any]]:
    sub = _foreign_subscription(fake)
    intent = _foreign_intent(fake)
    refund = fake.refund_at_stripe(intent, 100)
    other = fake.add_subscription(price=fake.add_price(800)["id"])
    return [
        make_event("customer.subscription.updated", sub),
        make_event("invoice.paid", fake.make_invoice(other["id"])),
        make_event("charge.refunded", fake.charge_for(intent)),
        make_event("refund.updated", refund),
        make_event("charge.dispute.created", fake.open_dispute(_foreign_intent(fake))),
        make_event("account.updated", {**stripe_fixture("account"), "id": "acct_elsewhere"}),
        make_event("account.application.deauthorized", stripe_fixture("application"), account="acct_x"),
    ]


def test_events_about_objects_that_are_not_ours_are_unmatched_and_not_retried(world):
    for event in _foreign_events(world.fake):
        rv = deliver(world.client, event)
        assert rv.status_code == 200, rv.get_data(as_text=True)
        row = inbox_row(world.app, event["id"])
        assert (row.type, row.status, row.attempts) == (event["type"], "unmatched", 1)
    with world.app.app_context():
        assert webhooks.process_due() == 0
    assert rows(world.app, Subscription) == rows(world.app, Payment) == rows(world.app, Dispute) == []


# The README's list of event types ---------------------------------------------------------


def readme_event_types() -> list[str]:
    """The types named in the README's "Subscribe the Stripe endpoints to" paragraph; a name
    starting with a dot (`.updated`) replaces the last part of the previous full name."""
    text = README.read_text(encoding="utf-8")
    start = text.index("Subscribe the Stripe endpoints to")
    paragraph = text[start : text.index("\n\n", start)]
    names, previous = [], ""
    for name in re.findall(r"`([^`]+)`", paragraph):
        if name.startswith("."):
            assert previous, f"{name} abbreviates nothing"
            name = previous.rsplit(".", 1)[0] + name
        else:
            previous = name
        names.append(name)
    return names


def test_readme_abbreviations_expand_relative_to_the_previous_full_name():
    names = readme_event_types()
    assert "customer.subscription.pending_update_expired" in names
    assert "charge.dispute.funds_reinstated" in names
    assert not any(name.startswith(".") for name in names)


def test_every_event_type_the_readme_subscribes_to_is_handled():
    names = readme_event_types()
    assert len(names) == len(set(names)) >= 20, names
    assert sorted(set(names) - set(webhooks.HANDLERS)) == []


def test_every_handled_event_type_is_subscribed_in_the_readme():
    assert sorted(set(webhooks.HANDLERS) - set(readme_event_types())) == []


# Arbitrary signed payloads -----------------------------------------------------------------

# Which of Stripe's example objects an event type carries, and which id at the fake is real.
RESOURCE_OF = {
    "checkout.session": "checkout.session",
    "customer.subscription": "subscription",
    "invoice": "invoice",
    "charge.refunded": "charge",
    "charge.refund": "refund",
    "refund": "refund",
    "charge.dispute": "dispute",
    "account.updated": "account",
    "account.application": "application",
    "customer": "customer",
    "payment_intent": "payment_intent",
    "issuing_card": "issuing.card",
    "v2": "event",
}
UNKNOWN_TYPES = [
    "customer.created",
    "payment_intent.succeeded",
    "issuing_card.created",
    "invoice.finalized",
    "invoice.upcoming",
    "v2.core.event_destination.ping",
]
EVENT_TYPES = sorted(webhooks.HANDLERS) + UNKNOWN_TYPES


def resource_of(event_type: str) -> str:
    for prefix in sorted(RESOURCE_OF, key=len, reverse=True):
        if event_type == prefix or event_type.startswith(prefix + "."):
            return RESOURCE_OF[prefix]
    raise KeyError(event_type)


_serial = itertools.count(1)

decimal_strings = st.decimals(
    min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=4
).map(str)
huge_ints = st.sampled_from([2**53 + 1, 2**63, -(2**63) - 1, 10**30, -(10**40)])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    huge_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    decimal_strings,
    st.text(max_size=12),
    st.sampled_from(["", "Zoë Ærøskøbing", "日本語", "😀‍👩‍👧", "\u202etxet", "\x00", "a" * 300]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@st.composite
def mutated_object(draw, event_type: str, real_ids: dict[str, str]) -> Any:
    resource = resource_of(event_type)
    obj = stripe_fixture(resource)
    # Mostly objects the handlers get to read (at the fake, or a 404 there); some they cannot.
    kind = draw(st.sampled_from(["real"] * 5 + ["random"] * 3 + ["fixture", "no_id", "odd_id", "not_a_dict"]))
    if kind == "real" and resource in real_ids:
        obj["id"] = real_ids[resource]
    elif kind == "random":
        obj["id"] = f"{obj['id'].split('_')[0]}_{secrets.token_hex(8)}"
    elif kind == "no_id":
        obj.pop("id", None)
    elif kind == "odd_id":
        obj["id"] = draw(st.one_of(st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
    elif kind == "not_a_dict":
        return draw(junk)
    keys = sorted(set(obj) - {"id"})
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        obj[key] = None
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        obj[key] = draw(decimal_strings)
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=10), junk, max_size=4))
    obj.update({key: value for key, value in extra.items() if key != "id"})
    return obj


class Absent:
    """A key left out of the envelope."""


ABSENT = Absent()


@st.composite
def envelope(draw, real_ids: dict[str, str], *, mutate: bool) -> tuple[Any, bool]:
    """A Stripe event, possibly mutated; and whether its id and type are well formed."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    event = make_event(
        event_type,
        {},
        event_id=f"evt_{next(_serial):06d}{secrets.token_hex(6)}",
        account=draw(st.sampled_from([None, real_ids["account"]])),
    )
    event["data"]["object"] = draw(mutated_object(event_type, real_ids))
    if draw(st.booleans()):
        event["data"]["previous_attributes"] = draw(junk)
    if not mutate:
        return event, True
    changes = {
        "id": st.one_of(
            st.just(event["id"]),
            st.sampled_from([ABSENT, None, 42, "", "e" * 256, ["evt_1"], f"evt_\x00{next(_serial)}"]),
            st.text(min_size=1, max_size=40).map(lambda t: f"{t}:{next(_serial)}"),
        ),
        "type": st.one_of(
            st.just(event_type),
            st.sampled_from([ABSENT, None, 7, "", "t" * 129, {"x": 1}, event_type + "\x00"]),
            st.text(),
        ),
        "api_version": st.one_of(
            st.sampled_from([ABSENT, None, 20261028, "v" * 80, "2026-10-28.endive\x00"]), st.text(max_size=20)
        ),
        "created": st.one_of(
            st.sampled_from([ABSENT, None, True, -5, 2**40]), st.text(max_size=12), huge_ints
        ),
        "livemode": st.sampled_from([ABSENT, False, True, "true", None, 1]),
        "account": st.one_of(
            st.sampled_from([ABSENT, None, "a" * 300, real_ids["account"] + "\x00"]),
            st.builds(dict, id=st.just(real_ids["account"]), object=st.just("account")),
            st.text(max_size=12),
        ),
        "data": st.one_of(st.just(event["data"]), junk, st.builds(dict, object=junk)),
        "pending_webhooks": junk,
        "request": junk,
    }
    for name in draw(st.lists(st.sampled_from(sorted(changes)), min_size=1, max_size=5, unique=True)):
        value = draw(changes[name])
        if value is ABSENT:
            event.pop(name, None)
        else:
            event[name] = value
    event.update(draw(st.dictionaries(st.text(min_size=1, max_size=10), junk, max_size=2)))
    if draw(st.integers(0, 19)) == 0:
        event = draw(junk)  # a signed body that is JSON but perhaps no event at all
    return event, is_well_formed(event)


def is_well_formed(event: Any) -> bool:
    """An object with a non-empty string id (at most 255) and type (at most 128), without NUL."""
    return isinstance(event, dict) and all(
        isinstance(event.get(name), str) and 0 < len(event[name]) <= limit and "\x00" not in event[name]
        for name, limit in (("id", 255), ("type", 128))
    )


@pytest.fixture
def stocked(world) -> tuple[World, dict[str, str]]:
    """A world where every kind of object exists at the fake and in our tables."""
    w = world
    purchase = w.purchase()
    intent = purchase.stripe_payment_intent_id
    refund = w.fake.refund_at_stripe(intent, 700)
    dispute = w.fake.open_dispute(intent, status="warning_needs_response")
    sub = w.member()
    invoice = w.fake.get(sub.stripe_subscription_id)["latest_invoice"]
    _, open_session = w.open_checkout(w.product["price"]["id"], buyer=w.bob)
    real_ids = {
        "checkout.session": open_session,
        "subscription": sub.stripe_subscription_id,
        "invoice": invoice,
        "charge": w.fake.get(intent)["latest_charge"],
        "refund": refund["id"],
        "dispute": dispute["id"],
        "account": w.seller["acct"],
        "payment_intent": intent,
        "customer": w.fake.get(intent)["customer"],
    }
    return w, real_ids


FINAL_OR_RETRYABLE = {"done", "ignored", "unmatched", "failed"}


def delivered_safely(w: World, event: Any, well_formed: bool, caplog) -> None:
    """Sign and deliver `event`; check the answer, what was stored, and how processing ended."""
    caplog.clear()
    payload, headers = signed_event(event)
    before = clock.utcnow()
    rv = w.client.post(WEBHOOK, data=payload, headers=headers)
    assert rv.status_code < 500, rv.get_data(as_text=True)
    if not well_formed:
        label("400")
        assert_problem(rv, 400, "invalid_event")
        return
    assert rv.status_code == 200, rv.get_data(as_text=True)
    assert rv.get_json()["received"] is True
    row = inbox_row(w.app, event["id"])
    if event.get("livemode") is True:  # another environment's event: acknowledged, not stored
        label("200 livemode, not stored")
        assert row is None
        return
    assert row is not None and rv.get_json()["duplicate"] is False
    assert row.payload == json.loads(payload)
    assert row.type == event["type"]
    assert row.status in FINAL_OR_RETRYABLE, (row.status, row.last_error)
    assert row.attempts == 1
    label(f"200 {row.status}")
    if row.status == "failed":
        assert row.last_error and row.next_attempt_at > before
    else:
        assert row.last_error is None and row.processed_at is not None
    escaped = [r for r in caplog.records if r.name == "service.jobs"]
    assert escaped == [], [r.getMessage() for r in escaped]
    assert w.client.get("/healthz").status_code == 200


@pytest.mark.parametrize("field_name", ["id", "type", "account", "api_version", "object"])
def test_nul_characters_in_a_signed_event_never_reach_a_text_column(client, app, stripe_mode, field_name):
    # PostgreSQL text columns cannot hold NUL: an id or type with one is no event (400 on every
    # database); elsewhere it stays in the payload, stored as sent, and out of the columns.
    event = make_event("customer.created", {"id": "cus_1", "object": "customer"}, account="acct_1")
    if field_name == "object":
        event["data"]["object"]["name"] = "Zo\x00ë"
    else:
        event[field_name] += "\x00"
    payload, headers = signed_event(event)
    rv = client.post(WEBHOOK, data=payload, headers=headers)
    if field_name in ("id", "type"):
        assert_problem(rv, 400, "invalid_event")
        assert rows(app, WebhookEvent) == []
        return
    assert rv.status_code == 200, rv.get_data(as_text=True)
    row = inbox_row(app, event["id"])
    assert row.payload == json.loads(payload) == event
    assert (row.status, row.type) == ("ignored", "customer.created")
    assert row.account == (None if field_name == "account" else "acct_1")
    assert row.api_version == (None if field_name == "api_version" else event["api_version"])


PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mutated_objects_in_well_formed_events_are_stored_as_sent(stocked, caplog, data):
    caplog.set_level(logging.ERROR)
    w, real_ids = stocked
    event, well_formed = data.draw(envelope(real_ids, mutate=False))
    delivered_safely(w, event, well_formed, caplog)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mutated_envelopes_are_stored_as_sent_or_refused_without_a_5xx(stocked, caplog, data):
    caplog.set_level(logging.ERROR)
    w, real_ids = stocked
    event, well_formed = data.draw(envelope(real_ids, mutate=True))
    delivered_safely(w, event, well_formed, caplog)
