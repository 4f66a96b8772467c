"""Money rules that hold whatever the order of events: memberships, seats, credits, trials,
referrals, refunds and disputes, against the fake Stripe in Stripe's own object shapes.

The races themselves (parallel requests and deliveries on PostgreSQL) are in
tests/test_payment_races.py; here each rule is shown one step at a time.
"""

from __future__ import annotations

import logging
import time

import pytest
import stripe

from service.billing.models import Dispute, Payment, Purchase, Refund, Subscription, WebhookEvent
from service.growth.models import Referral, RewardGrant

from .billing_helpers import access, as_uuid, offerings_bought, rows, subscription
from .conftest import assert_problem
from .fake_stripe import WEBHOOK_SECRET, buy, completed, deliver, make_event, pay, signed_event, subscribe

WEBHOOK = "/v1/webhooks/stripe"


def live(app, user):
    return rows(app, Subscription, Subscription.user_id == as_uuid(user.id), Subscription.status == "active")


# Intake -----------------------------------------------------------------------------------------


def test_subscription_event_with_decimal_strings_is_stored_as_sent(client, app, alice, tiers, stripe_mode):
    session = pay(client, stripe_mode, alice, tiers[0]["price"]["id"])
    sub = stripe_mode.get(session["subscription"])
    price = sub["items"]["data"][0]["price"]
    assert isinstance(price["unit_amount_decimal"], str)  # as Stripe sends it
    event = make_event("customer.subscription.updated", sub)
    rv = deliver(client, event)
    assert rv.status_code == 200, rv.get_data(as_text=True)
    [stored] = rows(app, WebhookEvent, WebhookEvent.id == event["id"])
    assert stored.payload == event
    assert stored.status == "done"
    [ours] = rows(app, Subscription)
    assert ours.status == "active"


def test_event_of_another_api_version_is_applied_and_reported_once(client, app, stripe_mode, caplog):
    caplog.set_level(logging.WARNING, logger="service.billing.stripe_events")
    for _ in range(2):
        event = {
            **make_event("customer.created", {"id": "cus_x", "object": "customer"}),
            "api_version": "2019-01-01",
        }
        assert deliver(client, event).status_code == 200
    reports = [r for r in caplog.records if "2019-01-01" in r.getMessage()]
    assert len(reports) == 1


def test_signature_from_the_future_is_refused(client, app, stripe_mode):
    event = make_event("customer.created", {"id": "cus_x", "object": "customer"})
    payload, headers = signed_event(event, timestamp=int(time.time()) + 600)
    assert_problem(client.post(WEBHOOK, data=payload, headers=headers), 400, "invalid_signature")


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"id": "evt_1"}', b'{"type": "x"}', b'{"id": 5, "type": "x"}', b"\xff\xfe", b"[[[[[["],
)
def test_signed_body_that_is_no_event_is_refused_without_a_500(client, app, stripe_mode, body):
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8", "replace"), WEBHOOK_SECRET
    )
    rv = client.post(
        WEBHOOK, data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )
    assert rv.status_code == 400


# One live membership --------------------------------------------------------------------------


def test_two_tabs_both_paid_keep_the_first_membership_and_refund_the_other(
    client, app, alice, tiers, stripe_mode
):
    first = pay(client, stripe_mode, alice, tiers[0]["price"]["id"])
    second = pay(client, stripe_mode, alice, tiers[1]["price"]["id"])
    completed(client, first)
    completed(client, second)

    [kept] = live(app, alice)
    assert kept.stripe_subscription_id == first["subscription"]
    [voided] = rows(app, Subscription, Subscription.stripe_subscription_id == second["subscription"])
    assert (voided.status, voided.void_reason) == ("canceled", "duplicate_membership")
    assert stripe_mode.get(second["subscription"])["status"] == "canceled"
    intent = stripe_mode.invoice_payment_intent(second["invoice"])
    [refund] = [r for r in stripe_mode.only("refund") if r["payment_intent"] == intent]
    assert refund["amount"] == 2000
    body = subscription(client, alice, voided.id)
    assert (body["status"], body["void_reason"], body["has_access"]) == (
        "canceled",
        "duplicate_membership",
        False,
    )
    assert access(client, alice)["membership"]["offering_id"] == tiers[0]["id"]


def test_duplicate_found_through_the_invoice_first_is_refunded_once(client, app, alice, tiers, stripe_mode):
    first = pay(client, stripe_mode, alice, tiers[0]["price"]["id"])
    second = pay(client, stripe_mode, alice, tiers[1]["price"]["id"])
    completed(client, first)
    for _ in range(2):  # the invoice, then the checkout of the second tab, each replayed
        deliver(client, make_event("invoice.paid", stripe_mode.get(second["invoice"])))
        completed(client, second)
    intent = stripe_mode.invoice_payment_intent(second["invoice"])
    assert len([r for r in stripe_mode.only("refund") if r["payment_intent"] == intent]) == 1
    assert len(live(app, alice)) == 1


# Capacity and upgrade credits ------------------------------------------------------------------


def test_last_seat_paid_twice_is_sold_once_and_the_second_buyer_refunded(
    client, app, alice, bob, seller, make_offering, stripe_mode
):
    limited = make_offering(seller, kind="product", amount=3000, title="Workshop", capacity=1)
    first = pay(client, stripe_mode, alice, limited["price"]["id"])
    second = pay(client, stripe_mode, bob, limited["price"]["id"])  # both started while a seat was free
    completed(client, first)
    completed(client, second)
    purchases = {p.user_id: p for p in rows(app, Purchase)}
    assert purchases[as_uuid(alice.id)].status == "paid"
    loser = purchases[as_uuid(bob.id)]
    assert (loser.status, loser.void_reason, loser.amount_refunded_minor) == ("refunded", "sold_out", 3000)
    assert [r["amount"] for r in stripe_mode.only("refund")] == [3000]
    assert offerings_bought(access(client, bob)) == []


def test_full_tier_admits_no_second_member(client, app, alice, bob, seller, make_offering, stripe_mode):
    tier = make_offering(seller, amount=900, title="Circle", capacity=1)
    first = pay(client, stripe_mode, alice, tier["price"]["id"])
    second = pay(client, stripe_mode, bob, tier["price"]["id"])
    completed(client, first)
    completed(client, second)
    [ended] = rows(app, Subscription, Subscription.stripe_subscription_id == second["subscription"])
    assert (ended.status, ended.void_reason) == ("canceled", "sold_out")
    assert len(stripe_mode.only("refund")) == 1


# Trials and referrals ----------------------------------------------------------------------------


@pytest.fixture
def trial_tier(seller, make_offering):
    return make_offering(
        seller, amount=900, title="Trial", price={"type": "recurring", "interval": "month", "trial_days": 14}
    )


def referral_code(client, account):
    return client.get("/v1/creators/cora/referral-link", headers=account.headers).get_json()["code"]


def test_a_second_trial_is_refused_and_starts_paid(client, app, alice, trial_tier, stripe_mode):
    session = pay(client, stripe_mode, alice, trial_tier["price"]["id"])
    completed(client, session)
    [sub] = rows(app, Subscription)
    assert sub.status == "trialing"
    rv = client.post(
        f"/v1/subscriptions/{sub.id}/cancel", json={"at_period_end": False}, headers=alice.headers
    )
    assert rv.status_code == 200 and rv.get_json()["status"] == "canceled"

    again = pay(client, stripe_mode, alice, trial_tier["price"]["id"])
    [request] = [
        r
        for r in stripe_mode.requests_to("/v1/checkout/sessions", "POST")
        if r.response and r.response["id"] == again["id"]
    ]
    assert "trial_period_days" not in request.params["subscription_data"]
    assert stripe_mode.get(again["subscription"])["status"] == "active"


def test_trials_with_a_referral_code_earn_no_paid_referral_and_no_reward(
    client, app, alice, signup, trial_tier, seller, stripe_mode
):
    rv = client.put(
        "/v1/creators/cora/referral-reward", json={"after_paid_referrals": 1}, headers=seller.headers
    )
    assert rv.status_code == 200
    subscribe(client, stripe_mode, alice, trial_tier["price"]["id"])  # the ambassador is a member
    code = referral_code(client, alice)
    for _ in range(3):  # sock puppets: start a trial with the code, cancel at once
        puppet = signup()
        completed(client, pay(client, stripe_mode, puppet, trial_tier["price"]["id"], referral_code=code))
        [sub] = rows(app, Subscription, Subscription.user_id == as_uuid(puppet.id))
        client.post(
            f"/v1/subscriptions/{sub.id}/cancel", json={"at_period_end": False}, headers=puppet.headers
        )
    assert rows(app, Referral, Referral.kind.in_(("purchase", "subscription"))) == []
    assert rows(app, RewardGrant) == []


def test_a_referred_subscription_counts_as_paid_at_its_first_paid_invoice(
    client, app, alice, bob, trial_tier, seller, stripe_mode
):
    code = referral_code(client, alice)
    session = pay(client, stripe_mode, bob, trial_tier["price"]["id"], referral_code=code)
    completed(client, session)
    assert rows(app, Referral, Referral.kind == "subscription") == []
    renewal = stripe_mode.make_invoice(session["subscription"], billing_reason="subscription_cycle")
    for _ in range(2):
        assert deliver(client, make_event("invoice.paid", renewal)).status_code == 200
    [credit] = rows(app, Referral, Referral.kind == "subscription")
    assert (credit.referrer_id, credit.amount_minor) == (as_uuid(alice.id), 900)


# Refunds and disputes of subscription invoices and purchases -------------------------------------


def _member(client, fake, buyer, tier):
    session = pay(client, fake, buyer, tier["price"]["id"])
    completed(client, session)
    return session, fake.invoice_payment_intent(session["invoice"])


def _dispute(client, fake, intent, status, *, dispute_id=None, event_type=None, **kwargs):
    dispute = (
        fake.set_dispute(dispute_id, status=status)
        if dispute_id
        else fake.open_dispute(intent, status=status, **kwargs)
    )
    event_type = event_type or ("charge.dispute.created" if dispute_id is None else "charge.dispute.closed")
    rv = deliver(client, make_event(event_type, dispute))
    assert rv.status_code == 200
    return dispute["id"]


def test_invoice_refunded_in_the_dashboard_reduces_the_creators_revenue(
    client, app, alice, tiers, seller, stripe_mode
):
    session, intent = _member(client, stripe_mode, alice, tiers[0])
    stripe_mode.refund_at_stripe(intent, 400)
    assert deliver(client, make_event("charge.refunded", stripe_mode.charge_for(intent))).status_code == 200
    [payment] = rows(app, Payment)
    assert (payment.kind, payment.refunded_minor, payment.net_minor) == ("invoice", 400, 500)
    [sale] = client.get("/v1/creators/cora/sales", headers=seller.headers).get_json()["data"]
    assert sale["amount_refunded"] == {"amount": 400, "currency": "eur"}


def test_inquiry_on_a_member_invoice_keeps_access_until_closed(client, app, alice, tiers, stripe_mode):
    session, intent = _member(client, stripe_mode, alice, tiers[0])
    dispute = _dispute(client, stripe_mode, intent, "warning_needs_response")
    assert access(client, alice)["membership"] is not None
    _dispute(client, stripe_mode, intent, "warning_closed", dispute_id=dispute)
    assert access(client, alice)["membership"] is not None
    [row] = rows(app, Dispute)
    assert row.status == "warning_closed"


def test_open_dispute_on_a_member_invoice_suspends_access_until_won(client, app, alice, tiers, stripe_mode):
    session, intent = _member(client, stripe_mode, alice, tiers[0])
    dispute = _dispute(client, stripe_mode, intent, "needs_response", include_payment_intent=False)
    assert access(client, alice)["membership"] is None
    [sub] = rows(app, Subscription)
    assert subscription(client, alice, sub.id)["disputed"] is True
    _dispute(
        client, stripe_mode, intent, "under_review", dispute_id=dispute, event_type="charge.dispute.updated"
    )
    assert access(client, alice)["membership"] is None
    _dispute(client, stripe_mode, intent, "won", dispute_id=dispute)
    assert access(client, alice)["membership"]["offering_id"] == tiers[0]["id"]
    [payment] = rows(app, Payment)
    assert payment.disputed_minor == 0


def test_lost_dispute_on_a_member_invoice_ends_the_membership(client, app, alice, tiers, seller, stripe_mode):
    session, intent = _member(client, stripe_mode, alice, tiers[0])
    dispute = _dispute(client, stripe_mode, intent, "needs_response")
    _dispute(client, stripe_mode, intent, "lost", dispute_id=dispute)
    assert stripe_mode.get(session["subscription"])["status"] == "canceled"
    [sub] = rows(app, Subscription)
    assert (sub.status, sub.disputed) == ("canceled", True)
    assert access(client, alice)["membership"] is None
    [payment] = rows(app, Payment)
    assert (payment.disputed_minor, payment.net_minor) == (900, 0)
    [sale] = client.get("/v1/creators/cora/sales", headers=seller.headers).get_json()["data"]
    assert sale["lost_to_dispute"] == {"amount": 900, "currency": "eur"}
    summary = client.get("/v1/creators/cora/analytics/summary", headers=seller.headers).get_json()
    assert summary["recurring_revenue"] == {"amount": 0, "currency": "eur"}
    assert stripe_mode.only("refund") == []  # the dispute took the money back, not a refund


def test_purchase_dispute_lifecycle(client, app, alice, bob, product, stripe_mode):
    buy(client, stripe_mode, alice, product["price"]["id"])
    buy(client, stripe_mode, bob, product["price"]["id"])
    alice_intent, bob_intent = (
        p.stripe_payment_intent_id
        for p in sorted(rows(app, Purchase), key=lambda p: p.user_id != as_uuid(alice.id))
    )
    inquiry = _dispute(client, stripe_mode, alice_intent, "warning_under_review")
    assert offerings_bought(access(client, alice)) == [product["id"]]
    _dispute(client, stripe_mode, alice_intent, "prevented", dispute_id=inquiry)
    assert offerings_bought(access(client, alice)) == [product["id"]]

    chargeback = _dispute(client, stripe_mode, bob_intent, "needs_response")
    assert offerings_bought(access(client, bob)) == []
    _dispute(
        client,
        stripe_mode,
        bob_intent,
        "lost",
        dispute_id=chargeback,
        event_type="charge.dispute.funds_withdrawn",
    )
    assert offerings_bought(access(client, bob)) == []
    [lost] = rows(app, Payment, Payment.stripe_payment_intent_id == bob_intent)
    assert lost.net_minor == 0


def test_failed_refund_gives_the_purchase_back(client, app, alice, product, seller, stripe_mode):
    purchase_id = buy(client, stripe_mode, alice, product["price"]["id"])
    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=seller.headers)
    assert rv.status_code == 200 and rv.get_json()["status"] == "refunded"
    [refund] = rows(app, Refund)
    failed = stripe_mode.fail_refund(refund.stripe_refund_id)
    assert deliver(client, make_event("refund.updated", failed)).status_code == 200
    [purchase] = rows(app, Purchase)
    assert (purchase.status, purchase.amount_refunded_minor) == ("paid", 0)
    [refund] = rows(app, Refund)
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert offerings_bought(access(client, alice)) == [product["id"]]


def test_fully_refunded_purchase_cannot_be_refunded_again(client, app, alice, product, seller, stripe_mode):
    purchase_id = buy(client, stripe_mode, alice, product["price"]["id"])
    assert (
        client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=seller.headers).status_code == 200
    )
    body = assert_problem(
        client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=seller.headers),
        422,
        "invalid_refund_amount",
    )
    assert "refunded in full" in body["detail"]


def test_renewal_waiting_for_authentication_shows_action_required(client, app, alice, tiers, stripe_mode):
    session, _ = _member(client, stripe_mode, alice, tiers[0])
    waiting = stripe_mode.make_invoice(session["subscription"], paid=False)
    assert deliver(client, make_event("invoice.payment_action_required", waiting)).status_code == 200
    [sub] = rows(app, Subscription)
    body = subscription(client, alice, sub.id)
    assert body["action_required"] == {"url": waiting["hosted_invoice_url"]}
    paid = stripe_mode.make_invoice(session["subscription"])
    assert deliver(client, make_event("invoice.paid", paid)).status_code == 200
    assert subscription(client, alice, sub.id)["action_required"] is None
