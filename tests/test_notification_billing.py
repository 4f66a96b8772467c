"""What billing tells members and creators: each kind through the API on the local gateway
or a signed Stripe webhook, told to the right people only, e-mailed, and once per cause
however often the provider says it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from service.billing import webhooks
from service.billing.models import Purchase, Subscription, WebhookEvent
from service.common import clock
from service.extensions import db
from service.notifications.models import Email, Notification

from .billing_helpers import as_uuid, buy, onboard, one, simulate
from .conftest import assert_problem
from .fake_stripe import DAY, deliver, make_event, pay, stripe_fixture, subscribe
from .fake_stripe import buy as buy_at_stripe
from .mailboxes import html_of, local_mail, smtp_server, text_of
from .test_notifications import verify

SITE = "http://127.0.0.1:8000"
TRIAL = {"type": "recurring", "interval": "month", "trial_days": 14}


def told(app, **where) -> list[Notification]:
    """The notifications matching `where` (kind=..., user_id=...), oldest first."""
    with app.app_context():
        stmt = select(Notification).order_by(Notification.created_at, Notification.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Notification, name) == value)
        found = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return list(found)


def kinds_of(app, account) -> list[str]:
    return [n.kind for n in told(app, user_id=as_uuid(account.id))]


def emails_of(app, account, kind: str) -> list[Email]:
    with app.app_context():
        return list(
            db.session.scalars(select(Email).where(Email.user_id == as_uuid(account.id), Email.kind == kind))
        )


def mail_to(app, account, subject_part: str):
    return [m for m in local_mail(app, to=account["email"]) if subject_part in m["Subject"]]


@pytest.fixture
def cora(client, app, creator):
    return verify(client, app, creator)


@pytest.fixture
def fans(client, app, alice, bob):
    """Alice buys; Bob, verified too, follows Cora and must hear nothing of Alice's money."""
    verify(client, app, alice)
    verify(client, app, bob)
    return alice, bob


@pytest.fixture
def shop(client, cora, make_offering):
    onboard(client, cora)
    return {
        "supporter": make_offering(cora, title="Supporter", amount=900, rank=0),
        "patron": make_offering(cora, title="Patron", amount=2000, rank=1),
        "ebook": make_offering(cora, kind="product", title="Ebook", amount=2500, delivery="https://dl/e"),
        "trial": make_offering(cora, title="Trial tier", amount=700, rank=2, price=TRIAL),
    }


def _follow(client, account):
    assert client.post("/v1/creators/cora/follow", headers=account.headers).status_code == 204


# Receipts and refunds --------------------------------------------------------------------


def test_a_purchase_sends_the_buyer_a_receipt_that_cannot_be_turned_off(client, app, cora, fans, shop):
    alice, bob = fans
    _follow(client, bob)
    rv = client.patch(
        "/v1/me/notification-settings",
        json={"kinds": [{"kind": "receipt", "email": False}]},
        headers=alice.headers,
    )
    assert_problem(rv, 422, "required_notification")
    # Everything that can be turned off is; the receipt still comes.
    kinds = client.get("/v1/me/notification-settings", headers=alice.headers).get_json()["kinds"]
    optional = [{"kind": k["kind"], "email": False} for k in kinds if not k["email_required"]]
    rv = client.patch("/v1/me/notification-settings", json={"kinds": optional}, headers=alice.headers)
    assert rv.status_code == 200, rv.get_json()

    purchase_id = buy(client, alice, shop["ebook"]["price"]["id"])["purchase_id"]

    [receipt] = told(app, kind="receipt")
    assert receipt.user_id == as_uuid(alice.id)
    assert receipt.data["amount"] == {"amount": 2500, "currency": "eur", "formatted": "€25.00"}
    assert (receipt.data["offering_title"], receipt.data["creator_name"]) == ("Ebook", "Cora")
    assert receipt.data["purchase_id"] == purchase_id and receipt.data["payment_kind"] == "purchase"
    assert kinds_of(app, bob) == [] and "receipt" not in kinds_of(app, cora)
    [message] = mail_to(app, alice, "receipt")
    assert message["Subject"] == "Your receipt from Cora: €25.00"
    assert message["From"] == "Cora via Creator Platform <no-reply@localhost>"
    assert "€25.00" in text_of(message) and "Ebook" in text_of(message)
    assert receipt.data["payment_id"] in text_of(message)
    assert f"{SITE}/cora" in text_of(message)
    shown = client.get("/v1/me/notifications", headers=alice.headers).get_json()["data"]
    assert [n["kind"] for n in shown] == ["receipt"]


def test_each_refund_is_told_once_with_what_it_gave_back(client, app, cora, fans, shop):
    alice, bob = fans
    purchase_id = buy(client, alice, shop["ebook"]["price"]["id"])["purchase_id"]
    refund = f"/v1/purchases/{purchase_id}/refund"
    assert client.post(refund, json={"amount": 1000}, headers=cora.headers).status_code == 200
    assert client.post(refund, json={}, headers=cora.headers).status_code == 200

    refunds = told(app, kind="refund_issued")
    assert [n.user_id for n in refunds] == [as_uuid(alice.id)] * 2
    assert [(n.data["amount"]["formatted"], n.data["in_full"]) for n in refunds] == [
        ("€10.00", False),
        ("€15.00", True),
    ]
    subjects = sorted(m["Subject"] for m in mail_to(app, alice, "refunded you"))
    assert subjects == ["Cora refunded you €10.00", "Cora refunded you €15.00"]
    partial = next(m for m in mail_to(app, alice, "€10.00"))
    assert "€10.00 of €25.00" in text_of(partial) and "you keep what you bought" in text_of(partial)
    assert kinds_of(app, bob) == [] and "refund_issued" not in kinds_of(app, cora)


# A membership's course --------------------------------------------------------------------


def test_a_membership_from_start_to_end(client, app, cora, fans, shop):
    alice, bob = fans
    _follow(client, bob)
    sub_id = buy(client, alice, shop["supporter"]["price"]["id"])["subscription_id"]

    assert sorted(kinds_of(app, alice)) == ["membership_started", "receipt"]
    assert kinds_of(app, cora) == ["new_member"]
    [welcome] = mail_to(app, alice, "Welcome")
    assert welcome["Subject"] == "Welcome to Supporter"
    assert f"{SITE}/cora" in text_of(welcome)
    [joined] = mail_to(app, cora, "joined")
    assert joined["Subject"] == "Alice joined Supporter"
    assert f"{SITE}/cora/members" in text_of(joined)
    [first] = told(app, kind="receipt")
    assert first.data["billing_reason"] == "subscription_create"

    simulate(app, "renew", sub_id)
    receipts = told(app, kind="receipt")
    assert [r.data["amount"]["formatted"] for r in receipts] == ["€9.00", "€9.00"]
    assert "renewal" in text_of(mail_to(app, alice, "receipt")[-1])
    assert len(told(app, kind="membership_started")) == 1  # a renewal starts nothing

    rv = client.post(
        f"/v1/subscriptions/{sub_id}/change",
        json={"price_id": shop["patron"]["price"]["id"]},
        headers=alice.headers,
    )
    assert rv.status_code == 200, rv.get_json()
    [changed] = told(app, kind="membership_changed")
    assert changed.user_id == as_uuid(alice.id) and changed.data["offering_title"] == "Patron"
    assert [m["Subject"] for m in mail_to(app, alice, "is now")] == ["Your membership is now Patron"]
    assert len(told(app, kind="receipt")) == 3  # the upgrade's charge

    # Cancel, change one's mind, cancel again: the member and the creator are told once.
    cancel = f"/v1/subscriptions/{sub_id}/cancel"
    assert client.post(cancel, json={}, headers=alice.headers).status_code == 200
    assert client.post(f"/v1/subscriptions/{sub_id}/resume", headers=alice.headers).status_code == 200
    assert client.post(cancel, json={}, headers=alice.headers).status_code == 200
    [ending] = told(app, kind="membership_ending")
    [scheduled] = told(app, kind="cancellation_scheduled")
    assert (ending.user_id, scheduled.user_id) == (as_uuid(alice.id), as_uuid(cora.id))
    period_end = subscription_row(app, sub_id).current_period_end
    assert ending.data["ends_at"] == period_end.isoformat()
    ends_on = ending.data["ends_on"]
    assert [m["Subject"] for m in mail_to(app, alice, "ends on")] == [
        f"Your Patron membership ends on {ends_on}"
    ]
    assert [m["Subject"] for m in mail_to(app, cora, "cancelled")] == ["Alice cancelled Patron"]

    simulate(app, "renew", sub_id)  # the period ends: so does the membership
    [ended] = told(app, kind="membership_ended")
    assert ended.user_id == as_uuid(alice.id)
    assert [m["Subject"] for m in mail_to(app, alice, "has ended")] == ["Your Patron membership has ended"]

    assert kinds_of(app, bob) == []
    assert kinds_of(app, cora) == ["new_member", "cancellation_scheduled"]
    assert "receipt" not in kinds_of(app, cora)


def subscription_row(app, sub_id: str) -> Subscription:
    return one(app, Subscription, Subscription.id == as_uuid(sub_id))


def test_cancelling_now_ends_it_at_once(client, app, cora, fans, shop):
    alice, _ = fans
    sub_id = buy(client, alice, shop["supporter"]["price"]["id"])["subscription_id"]
    rv = client.post(
        f"/v1/subscriptions/{sub_id}/cancel", json={"at_period_end": False}, headers=alice.headers
    )
    assert rv.get_json()["status"] == "canceled"
    assert sorted(kinds_of(app, alice)) == ["membership_ended", "membership_started", "receipt"]
    assert told(app, kind="cancellation_scheduled") == []


def test_a_failed_renewal_links_to_the_portal_and_counts_the_grace_left(client, app, cora, fans, shop):
    alice, bob = fans
    _follow(client, bob)
    sub_id = buy(client, alice, shop["supporter"]["price"]["id"])["subscription_id"]
    with smtp_server(app) as smtp:
        simulate(app, "fail", sub_id)
        simulate(app, "fail", sub_id)  # the provider retries within the same period: told once
        [message] = smtp.to("alice@example.com")
        [to_cora] = smtp.to("cora@example.com")
    [failed] = told(app, kind="payment_failed")
    assert failed.user_id == as_uuid(alice.id)
    assert (failed.data["grace_days_left"], failed.data["fix_path"]) == (7, "/settings/billing")
    assert failed.data["price"]["formatted"] == "€9.00"
    assert message["Subject"] == "Action needed: your Supporter payment failed"
    text = text_of(message)
    assert f"Update your payment method: {SITE}/settings/billing" in text
    assert f"You keep access until {failed.data['grace_ends_on']} (7 days left)" in text
    assert f'href="{SITE}/settings/billing"' in html_of(message)
    [for_creator] = told(app, kind="member_payment_failed")
    assert for_creator.user_id == as_uuid(cora.id)
    assert to_cora["Subject"] == "A renewal payment from Alice failed"
    assert kinds_of(app, bob) == []

    # A later period's failure is news again, and the grace left is what is left by then.
    simulate(app, "renew", sub_id)
    clock.freeze(clock.utcnow() + timedelta(days=2, hours=1))
    simulate(app, "fail", sub_id)
    assert [n.data["grace_days_left"] for n in told(app, kind="payment_failed")] == [7, 7]


def test_a_trial_ending_is_told_once_on_the_local_gateway(client, app, cora, fans, shop):
    alice, bob = fans
    sub_id = buy(client, alice, shop["trial"]["price"]["id"])["subscription_id"]
    [started] = told(app, kind="membership_started")
    trial_end = subscription_row(app, sub_id).trial_end
    assert started.data["trial_ends_at"] == trial_end.isoformat()
    assert told(app, kind="receipt") == []  # a trial charges nothing
    assert "Their free trial lasts until" in text_of(mail_to(app, cora, "joined")[0])

    simulate(app, "trial_will_end", sub_id)
    simulate(app, "trial_will_end", sub_id)
    [ending] = told(app, kind="trial_ending")
    assert ending.user_id == as_uuid(alice.id) and ending.data["ends_at"] == trial_end.isoformat()
    [message] = mail_to(app, alice, "trial ends")
    assert message["Subject"] == f"Your Trial tier trial ends on {ending.data['ends_on']}"
    assert "€7.00 is charged each period" in text_of(message)
    assert kinds_of(app, bob) == [] and "trial_ending" not in kinds_of(app, cora)

    simulate(app, "renew", sub_id)  # the trial is over: nothing is left to say about it
    result = app.test_cli_runner().invoke(args=["billing", "simulate", "trial_will_end", sub_id])
    assert result.exit_code == 1 and "not in a trial" in result.output


def test_names_and_titles_are_escaped_and_cut_short(client, app, signup, make_creator, make_offering, alice):
    verify(client, app, alice)
    shady = make_creator(
        verify(client, app, signup(email="sh@example.com", display_name="<b>Sh</b> & co")), handle="shady"
    )
    onboard(client, shady)
    title = "<script>x</script> " + "very long title " * 6
    tier = make_offering(shady, title=title.strip(), amount=900)
    buy(client, alice, tier["price"]["id"])
    [welcome] = mail_to(app, alice, "Welcome")
    assert len(welcome["Subject"]) < 110 and welcome["Subject"].endswith("…")
    html = html_of(welcome)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "&lt;b&gt;Sh&lt;/b&gt; &amp; co" in html and "<b>Sh</b>" not in html
    assert "<b>Sh</b> & co" in text_of(welcome)


# Signed Stripe webhooks: what is re-sent, re-delivered or retried tells once -----------------


@pytest.fixture
def stripe_world(client, app, seller, tiers, product, alice, bob):
    verify(client, app, seller)
    verify(client, app, alice)
    verify(client, app, bob)
    return seller, alice, bob


def _renewal(fake, sub) -> dict:
    item = fake.get(sub.stripe_subscription_id)["items"]["data"][0]
    start = item["current_period_end"]
    fake.set_subscription(
        sub.stripe_subscription_id, current_period_start=start, current_period_end=start + 30 * DAY
    )
    return fake.make_invoice(sub.stripe_subscription_id)


def _retried(app, event_id: str) -> None:
    """Process a stored event again, as after a failure that left it for a retry."""
    with app.app_context():
        row = db.session.get(WebhookEvent, event_id)
        row.status, row.next_attempt_at = "failed", clock.utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert webhooks.process_due() == 1
        assert db.session.get(WebhookEvent, event_id).status == "done"


def test_a_renewal_receipt_survives_duplicates_redeliveries_and_retries(
    client, app, stripe_mode, stripe_world, tiers
):
    cora, alice, bob = stripe_world
    sub_id = subscribe(client, stripe_mode, alice, tiers[0]["price"]["id"])
    sub = subscription_row(app, sub_id)
    invoice = _renewal(stripe_mode, sub)
    event = make_event("invoice.paid", invoice)
    assert deliver(client, event).get_json() == {"received": True, "duplicate": False}
    assert deliver(client, event).get_json() == {"received": True, "duplicate": True}
    # Stripe sends the same news again under a new event id, with fields we never read.
    again = make_event("invoice.paid", {**invoice, "x_unknown": {"nested": [1, None]}, "footer": None})
    assert deliver(client, again).status_code == 200
    _retried(app, event["id"])

    receipts = told(app, kind="receipt")
    assert [r.data["billing_reason"] for r in receipts] == ["subscription_create", "subscription_cycle"]
    assert {r.user_id for r in receipts} == {as_uuid(alice.id)}
    assert len(emails_of(app, alice, "receipt")) == 2
    assert len(mail_to(app, alice, "receipt")) == 2
    assert kinds_of(app, bob) == []


def test_trial_will_end_from_stripe_tells_once(client, app, stripe_mode, stripe_world, make_offering):
    cora, alice, bob = stripe_world
    trial = make_offering(cora, title="Trial tier", amount=700, price=TRIAL)
    sub_id = subscribe(client, stripe_mode, alice, trial["price"]["id"])
    sub = subscription_row(app, sub_id)
    truth = stripe_mode.get(sub.stripe_subscription_id)
    base = {**stripe_fixture("subscription"), **truth}
    event = make_event("customer.subscription.trial_will_end", {**base, "description": None, "x_new": 1})
    assert deliver(client, event).status_code == 200
    assert deliver(client, event).get_json()["duplicate"] is True
    assert deliver(client, make_event("customer.subscription.trial_will_end", truth)).status_code == 200
    _retried(app, event["id"])

    [ending] = told(app, kind="trial_ending")
    assert ending.user_id == as_uuid(alice.id)
    assert ending.data["ends_at"] == subscription_row(app, sub_id).trial_end.isoformat()
    assert len(mail_to(app, alice, "trial ends")) == 1
    assert kinds_of(app, bob) == []


def test_a_trial_already_over_is_not_told(client, app, stripe_mode, stripe_world, make_offering):
    cora, alice, _ = stripe_world
    trial = make_offering(cora, title="Trial tier", amount=700, price=TRIAL)
    sub = subscription_row(app, subscribe(client, stripe_mode, alice, trial["price"]["id"]))
    truth = stripe_mode.set_subscription(sub.stripe_subscription_id, status="active", trial_end=None)
    assert deliver(client, make_event("customer.subscription.trial_will_end", truth)).status_code == 200
    assert told(app, kind="trial_ending") == []


def test_failed_payments_and_the_end_from_stripe_tell_once(client, app, stripe_mode, stripe_world, tiers):
    cora, alice, bob = stripe_world
    sub = subscription_row(app, subscribe(client, stripe_mode, alice, tiers[0]["price"]["id"]))
    stripe_id = sub.stripe_subscription_id
    invoice = stripe_mode.make_invoice(stripe_id, paid=False)
    stripe_mode.set_subscription(stripe_id, status="past_due")
    for _ in range(2):  # the first delivery, then the provider's next attempt failing too
        assert deliver(client, make_event("invoice.payment_failed", invoice)).status_code == 200
    [failed] = told(app, kind="payment_failed")
    [for_creator] = told(app, kind="member_payment_failed")
    assert (failed.user_id, for_creator.user_id) == (as_uuid(alice.id), as_uuid(cora.id))
    assert failed.data["grace_days_left"] == 7

    truth = stripe_mode.set_subscription(stripe_id, status="active", cancel_at_period_end=True)
    update = make_event(
        "customer.subscription.updated", truth, previous_attributes={"cancel_at_period_end": False}
    )
    assert deliver(client, update).status_code == 200
    assert deliver(client, make_event("customer.subscription.updated", truth)).status_code == 200
    _retried(app, update["id"])
    assert [n.user_id for n in told(app, kind="membership_ending")] == [as_uuid(alice.id)]
    assert [n.user_id for n in told(app, kind="cancellation_scheduled")] == [as_uuid(cora.id)]

    now = int(clock.utcnow().timestamp())
    ended = stripe_mode.set_subscription(stripe_id, status="canceled", canceled_at=now, ended_at=now)
    for _ in range(2):
        assert deliver(client, make_event("customer.subscription.deleted", ended)).status_code == 200
    assert [n.user_id for n in told(app, kind="membership_ended")] == [as_uuid(alice.id)]
    assert len(mail_to(app, alice, "has ended")) == 1
    assert kinds_of(app, bob) == []


def test_a_purchase_and_its_refund_at_stripe_are_told_once(client, app, stripe_mode, stripe_world, product):
    cora, alice, bob = stripe_world
    purchase_id = buy_at_stripe(client, stripe_mode, alice, product["price"]["id"])
    [receipt] = told(app, kind="receipt")
    assert receipt.user_id == as_uuid(alice.id)

    intent = one(app, Purchase, Purchase.id == as_uuid(purchase_id)).stripe_payment_intent_id
    refund = stripe_mode.refund_at_stripe(intent, 1000)
    for _ in range(2):
        assert deliver(client, make_event("refund.created", refund)).status_code == 200
    assert deliver(client, make_event("charge.refunded", stripe_mode.charge_for(intent))).status_code == 200
    [refunded] = told(app, kind="refund_issued")
    assert refunded.user_id == as_uuid(alice.id) and refunded.data["amount"]["formatted"] == "€10.00"
    assert kinds_of(app, bob) == []


def test_payout_details_due_are_told_once_per_change(client, app, stripe_mode, stripe_world):
    cora, alice, _ = stripe_world
    acct = cora["acct"]

    def requirements_now(*due):
        requirements = {**stripe_mode.get(acct)["requirements"], "currently_due": list(due)}
        truth = stripe_mode.set_account(acct, payouts_enabled=False, requirements=requirements)
        return make_event("account.updated", truth, account=acct)

    event = requirements_now("external_account")
    assert deliver(client, event).status_code == 200
    assert deliver(client, event).get_json()["duplicate"] is True
    assert deliver(client, requirements_now("external_account")).status_code == 200  # nothing new
    _retried(app, event["id"])
    [first] = told(app, kind="payout_attention")
    assert first.user_id == as_uuid(cora.id) and first.data["newly_due"] == ["external_account"]
    [message] = mail_to(app, cora, "payout account")
    assert message["Subject"] == "Your payout account needs attention"
    assert "external_account" in text_of(message) and f"{SITE}/settings/payouts" in text_of(message)
    assert "payouts are paused" in text_of(message)

    # Something more is wanted: news. Then all is given, and later wanted again: news again.
    assert deliver(client, requirements_now("external_account", "individual.id_number")).status_code == 200
    assert deliver(client, requirements_now()).status_code == 200
    assert deliver(client, requirements_now("external_account")).status_code == 200
    assert [n.data["newly_due"] for n in told(app, kind="payout_attention")] == [
        ["external_account"],
        ["individual.id_number"],
        ["external_account"],
    ]
    assert kinds_of(app, alice) == []


def test_onboarding_itself_is_no_payout_alarm(client, app, stripe_mode, signup, make_creator):
    from .fake_stripe import onboard as onboard_at_stripe

    dana = make_creator(
        verify(client, app, signup(email="dana@example.com", display_name="Dana")), handle="dana"
    )
    onboard_at_stripe(client, stripe_mode, dana)
    assert told(app, kind="payout_attention") == []


def test_a_voided_duplicate_membership_tells_nothing_new(client, app, stripe_mode, stripe_world, tiers):
    cora, alice, _ = stripe_world
    first = pay(client, stripe_mode, alice, tiers[0]["price"]["id"])
    second = pay(client, stripe_mode, alice, tiers[1]["price"]["id"])  # two tabs, both paid
    for session in (first, second):
        assert deliver(client, make_event("checkout.session.completed", session)).status_code == 200
    assert len(told(app, kind="membership_started")) == 1
    assert len(told(app, kind="new_member")) == 1
    assert len(told(app, kind="receipt")) == 1
    assert uuid.UUID(cora.id) == told(app, kind="new_member")[0].user_id
