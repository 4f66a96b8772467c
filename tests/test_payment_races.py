"""Money rules under real concurrency: parallel checkouts, deliveries and redemptions.

Each test races real requests (one thread and one test client each, released
together) against the app on PostgreSQL, ROUNDS times with fresh buyers, and
checks the rule after every round: one live membership per follower and
creator, one sale of a last seat, one redemption of an upgrade credit, one
ledger row per paid invoice. Whoever loses a race is canceled and refunded at
the fake Stripe. The same rules, one step at a time, are in
tests/test_payment_rules.py. SQLite cannot race (one writer at a time), so
there these tests are skipped.
"""

from __future__ import annotations

import time
import uuid

import pytest

from service.billing.models import (
    LIVE_STATUSES,
    CheckoutSession,
    Payment,
    Purchase,
    Subscription,
    WebhookEvent,
)
from service.growth.models import UpgradeRedemption

from .billing_helpers import rows, start_checkout
from .concurrency import run_parallel
from .conftest import assert_problem
from .fake_stripe import buy, deliver, make_event, pay, stripe_session_id

ROUNDS = 20

pytestmark = [pytest.mark.usefixtures("postgres_only"), pytest.mark.slow]


# Helpers ----------------------------------------------------------------------------------------


def race(app, calls):
    """Run the calls in parallel; their results, and whether they all overlapped in time
    (every call still running when the last one started)."""
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(calls)

    def timed(index, call):
        def run(client):
            start = time.perf_counter()
            try:
                return call(client)
            finally:
                spans[index] = (start, time.perf_counter())

        return run

    results = run_parallel(app, [timed(i, call) for i, call in enumerate(calls)])
    return results, max(s for s, _ in spans) < min(e for _, e in spans)


def deliver_in_parallel(app, events):
    """Deliver the events at once (each is applied inline by its own request); whether they overlapped."""
    answers, overlapped = race(app, [lambda c, e=event: deliver(c, e) for event in events])
    for rv in answers:
        assert rv.status_code == 200, rv.get_data(as_text=True)
    # A handler that failed (a deadlock, a unique violation) leaves its event for a retry.
    applied = rows(app, WebhookEvent, WebhookEvent.id.in_([e["id"] for e in events]))
    assert {e.id: e.status for e in applied} == {e["id"]: "done" for e in events}, [
        e.last_error for e in applied
    ]
    return answers, overlapped


def completions(sessions):
    return [make_event("checkout.session.completed", s) for s in sessions]


def refunds_of(fake, intents):
    """The refunds made at Stripe of these payment intents."""
    return [r for r in fake.only("refund") if r["payment_intent"] in intents]


def subscriptions_of(app, buyer):
    return rows(app, Subscription, Subscription.user_id == uuid.UUID(buyer.id))


def assert_one_kept_and_others_voided(app, fake, buyer, sessions, reason):
    """One live subscription among the paid sessions; every other one canceled here and at
    Stripe with `reason`, and its first invoice refunded once, in full. The kept one's session."""
    subs = {s.stripe_subscription_id: s for s in subscriptions_of(app, buyer)}
    assert sorted(subs) == sorted(s["subscription"] for s in sessions)
    kept = [s for s in sessions if subs[s["subscription"]].status in LIVE_STATUSES]
    assert len(kept) == 1, [(s.status, s.void_reason) for s in subs.values()]
    [winner] = kept
    assert (subs[winner["subscription"]].status, subs[winner["subscription"]].void_reason) == ("active", None)
    assert fake.get(winner["subscription"])["status"] == "active"
    intents = {s["id"]: fake.invoice_payment_intent(s["invoice"]) for s in sessions}
    refunds = refunds_of(fake, set(intents.values()))
    for session in sessions:
        if session is winner:
            continue
        sub = subs[session["subscription"]]
        assert (sub.status, sub.void_reason) == ("canceled", reason)
        assert fake.get(session["subscription"])["status"] == "canceled"
        [refund] = [r for r in refunds if r["payment_intent"] == intents[session["id"]]]
        assert refund["amount"] == fake.get(session["invoice"])["amount_paid"]
    assert len(refunds) == len(sessions) - 1, refunds
    return winner


# One live membership ------------------------------------------------------------------------------


def test_two_tabs_completed_in_parallel_keep_one_membership_and_refund_the_other(
    app, client, signup, tiers, stripe_mode
):
    overlaps = 0
    for round_ in range(ROUNDS):
        buyer = signup()
        # Both tabs were opened and paid while no membership existed yet.
        sessions = [pay(client, stripe_mode, buyer, tier["price"]["id"]) for tier in tiers]
        _, overlapped = deliver_in_parallel(app, completions(sessions))
        overlaps += overlapped

        assert_one_kept_and_others_voided(app, stripe_mode, buyer, sessions, "duplicate_membership")
        assert len([s for s in subscriptions_of(app, buyer) if s.status in LIVE_STATUSES]) == 1, round_
    assert overlaps, "the deliveries never overlapped: nothing raced"


def test_four_parallel_checkouts_for_one_price_end_with_one_membership(
    app, client, signup, tiers, stripe_mode
):
    price_id = tiers[0]["price"]["id"]
    several = 0
    for round_ in range(ROUNDS):
        buyer = signup()
        answers = run_parallel(app, [lambda c, b=buyer: start_checkout(c, b, price_id)] * 4)
        assert {rv.status_code for rv in answers} <= {201, 409}, [rv.get_json() for rv in answers]
        for rv in answers:
            if rv.status_code == 409:
                assert_problem(rv, 409)
        # The reuse window may hand a later request the session of an earlier one, or not.
        opened = sorted({stripe_session_id(rv) for rv in answers if rv.status_code == 201})
        assert opened, round_
        several += len(opened) > 1

        sessions = [stripe_mode.complete_session(session_id) for session_id in opened]
        deliver_in_parallel(app, completions(sessions))

        assert_one_kept_and_others_voided(app, stripe_mode, buyer, sessions, "duplicate_membership")
        ours = rows(app, CheckoutSession, CheckoutSession.user_id == uuid.UUID(buyer.id))
        assert {s.status for s in ours if s.stripe_session_id in opened} == {"complete"}, round_
    assert several, "every round opened one session: the checkouts never raced past the reuse window"


# Capacity --------------------------------------------------------------------------------------------


def test_two_buyers_completing_the_last_seat_in_parallel_make_one_sale(
    app, client, signup, seller, make_offering, stripe_mode
):
    overlaps = 0
    for round_ in range(ROUNDS):
        workshop = make_offering(seller, kind="product", amount=3000, title="Workshop", capacity=1)
        buyers = [signup(), signup()]
        # Both started while the seat was free, and both paid.
        sessions = [pay(client, stripe_mode, b, workshop["price"]["id"]) for b in buyers]
        _, overlapped = deliver_in_parallel(app, completions(sessions))
        overlaps += overlapped

        purchases = rows(app, Purchase, Purchase.offering_id == uuid.UUID(workshop["id"]))
        assert sorted(p.status for p in purchases) == ["paid", "refunded"], round_
        [sold] = [p for p in purchases if p.status == "paid"]
        [voided] = [p for p in purchases if p.status == "refunded"]
        assert (sold.void_reason, sold.amount_refunded_minor) == (None, 0)
        assert (voided.void_reason, voided.amount_refunded_minor) == ("sold_out", 3000)
        refunds = refunds_of(stripe_mode, {s["payment_intent"] for s in sessions})
        assert [(r["payment_intent"], r["amount"]) for r in refunds] == [
            (voided.stripe_payment_intent_id, 3000)
        ], round_
        ledger = {
            p.purchase_id: p for p in rows(app, Payment, Payment.offering_id == uuid.UUID(workshop["id"]))
        }
        assert (ledger[sold.id].refunded_minor, ledger[voided.id].refunded_minor) == (0, 3000)
    assert overlaps, "the deliveries never overlapped: nothing raced"


def test_two_buyers_completing_the_last_place_in_a_tier_in_parallel_make_one_member(
    app, client, signup, seller, make_offering, stripe_mode
):
    overlaps = 0
    for round_ in range(ROUNDS):
        circle = make_offering(seller, amount=900, title="Circle", capacity=1)
        buyers = [signup(), signup()]
        sessions = [pay(client, stripe_mode, b, circle["price"]["id"]) for b in buyers]
        _, overlapped = deliver_in_parallel(app, completions(sessions))
        overlaps += overlapped

        subs = rows(app, Subscription, Subscription.offering_id == uuid.UUID(circle["id"]))
        assert sorted((s.status, s.void_reason) for s in subs) == [
            ("active", None),
            ("canceled", "sold_out"),
        ], round_
        [voided] = [s for s in subs if s.status == "canceled"]
        [lost] = [s for s in sessions if s["subscription"] == voided.stripe_subscription_id]
        assert stripe_mode.get(voided.stripe_subscription_id)["status"] == "canceled"
        intents = {stripe_mode.invoice_payment_intent(s["invoice"]) for s in sessions}
        refunds = refunds_of(stripe_mode, intents)
        assert [(r["payment_intent"], r["amount"]) for r in refunds] == [
            (stripe_mode.invoice_payment_intent(lost["invoice"]), 900)
        ], round_
    assert overlaps, "the deliveries never overlapped: nothing raced"


# Upgrade credits -------------------------------------------------------------------------------------


@pytest.fixture
def upgrade(client, seller, make_offering):
    """A product, a tier, and an offer crediting 20 % of the product's price on the tier."""
    product = make_offering(seller, kind="product", amount=2500, title="Pack")
    tier = make_offering(seller, amount=1000, title="Tier")
    rv = client.post(
        "/v1/creators/cora/upgrade-offers",
        json={
            "from_offering_id": product["id"],
            "to_price_id": tier["price"]["id"],
            "credit": {"percent": 20},
            "valid_days": 14,
        },
        headers=seller.headers,
    )
    assert rv.status_code == 201, rv.get_json()
    return {"product": product, "tier": tier, "offer": rv.get_json()}


def test_parallel_checkouts_with_one_upgrade_offer_redeem_it_once(app, client, signup, upgrade, stripe_mode):
    offer_id, price_id = upgrade["offer"]["id"], upgrade["tier"]["price"]["id"]
    refused_total = 0
    for round_ in range(ROUNDS):
        buyer = signup()
        purchase_id = buy(client, stripe_mode, buyer, upgrade["product"]["price"]["id"])
        coupons_before = len(stripe_mode.requests_to("/v1/coupons", "POST"))
        sessions_before = len(stripe_mode.requests_to("/v1/checkout/sessions", "POST"))

        answers = run_parallel(
            app, [lambda c, b=buyer: start_checkout(c, b, price_id, upgrade_offer_id=offer_id)] * 3
        )
        assert {rv.status_code for rv in answers} <= {201, 409}, [rv.get_json() for rv in answers]
        created = [rv.get_json() for rv in answers if rv.status_code == 201]
        refused = [rv for rv in answers if rv.status_code == 409]
        for rv in refused:
            assert_problem(rv, 409, "upgrade_offer_not_eligible")
        refused_total += len(refused)

        redemptions = rows(
            app,
            UpgradeRedemption,
            UpgradeRedemption.upgrade_offer_id == uuid.UUID(offer_id),
            UpgradeRedemption.purchase_id == uuid.UUID(purchase_id),
        )
        assert len(redemptions) == 1, (round_, [(r.checkout_session_id, r.credit_minor) for r in redemptions])
        [redemption] = redemptions
        # Whoever was not refused got the one session that holds the credit (or it, reused).
        assert created and len({body["id"] for body in created}) == 1, [
            (rv.status_code, rv.get_json()) for rv in answers
        ]
        assert (str(redemption.checkout_session_id), redemption.credit_minor) == (created[0]["id"], 500)
        coupons = stripe_mode.requests_to("/v1/coupons", "POST")[coupons_before:]
        assert {r.idempotency_key for r in coupons} == {f"coupon:{created[0]['id']}"}, round_
        opened = stripe_mode.requests_to("/v1/checkout/sessions", "POST")[sessions_before:]
        assert {r.idempotency_key for r in opened} == {f"checkout:{created[0]['id']}"}, round_
    assert refused_total, "no checkout was ever refused: the redemptions never raced"


# One ledger row per invoice --------------------------------------------------------------------------


def test_one_invoice_paid_event_delivered_in_parallel_records_one_payment(
    app, client, signup, tiers, stripe_mode
):
    for round_ in range(ROUNDS):
        buyer = signup()
        session = pay(client, stripe_mode, buyer, tiers[0]["price"]["id"])
        event = make_event("invoice.paid", stripe_mode.get(session["invoice"]))
        answers, _ = deliver_in_parallel(app, [event] * 3)

        assert sorted(rv.get_json()["duplicate"] for rv in answers) == [False, True, True], round_
        payments = rows(app, Payment, Payment.stripe_invoice_id == session["invoice"])
        assert len(payments) == 1, (round_, [(p.id, p.amount_minor) for p in payments])
        [payment] = payments
        assert (payment.kind, payment.amount_minor) == ("invoice", 900)
        [sub] = subscriptions_of(app, buyer)
        assert (sub.status, sub.void_reason, payment.subscription_id) == ("active", None, sub.id)
        assert refunds_of(stripe_mode, {payment.stripe_payment_intent_id}) == []


def test_different_events_about_one_new_subscription_in_parallel_record_it_once(
    app, client, signup, tiers, stripe_mode
):
    overlaps = 0
    for round_ in range(ROUNDS):
        buyer = signup()
        session = pay(client, stripe_mode, buyer, tiers[0]["price"]["id"])
        events = [
            make_event("checkout.session.completed", session),
            make_event("invoice.paid", stripe_mode.get(session["invoice"])),
            make_event("customer.subscription.created", stripe_mode.get(session["subscription"])),
        ]
        _, overlapped = deliver_in_parallel(app, events)
        overlaps += overlapped

        subs = subscriptions_of(app, buyer)
        assert len(subs) == 1, (round_, [(s.status, s.void_reason) for s in subs])
        [sub] = subs
        assert (sub.stripe_subscription_id, sub.status, sub.void_reason) == (
            session["subscription"],
            "active",
            None,
        ), round_
        payments = rows(app, Payment, Payment.subscription_id == sub.id)
        assert len(payments) == 1, (round_, [(p.stripe_invoice_id, p.amount_minor) for p in payments])
        [payment] = payments
        assert (payment.stripe_invoice_id, payment.amount_minor) == (session["invoice"], 900)
        assert refunds_of(stripe_mode, {payment.stripe_payment_intent_id}) == []
        [ours] = rows(app, CheckoutSession, CheckoutSession.user_id == uuid.UUID(buyer.id))
        assert (ours.status, ours.subscription_id) == ("complete", sub.id), round_
    assert overlaps, "the deliveries never overlapped: nothing raced"
