"""Webhooks out and the events feed, against a real HTTP receiver on this machine.

The receiver is a threaded HTTP server on a free port that answers as a test scripts it;
sending to it needs WEBHOOKS_ALLOW_PRIVATE (it is on 127.0.0.1). Retries are reached by
moving the clock and running the sweep, as the scheduler does every minute.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import event as sqla_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from service import jobs
from service.billing.models import Purchase
from service.billing.signals import purchase_completed
from service.common import clock
from service.extensions import db
from service.integrations import delivery, events
from service.integrations.models import Delivery, Event
from service.jobs import outbox

from .billing_helpers import as_uuid, start_checkout
from .concurrency import run_parallel
from .conftest import log_in
from .fake_stripe import buy as buy_at_stripe
from .fake_stripe import deliver, make_event, provider_price, subscribe


class Receiver:
    """What the creator's system got, and what it answers next (200 once the script ends)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def answer(self, *statuses: int, **headers: str) -> None:
        self.answers.extend((status, headers) for status in statuses)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver(app, monkeypatch) -> Iterator[Receiver]:
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    made = Receiver()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def register(client, owner, url: str, events_: list[str] | None = None) -> dict[str, Any]:
    rv = client.post(
        f"/v1/creators/{owner['handle']}/webhook-endpoints",
        json={"url": url, "events": events_ or list(events.EVENT_TYPES)},
        headers=owner.headers,
    )
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def hook_path(owner, endpoint: dict[str, Any]) -> str:
    return f"/v1/creators/{owner['handle']}/webhook-endpoints/{endpoint['id']}"


def log(client, owner, endpoint) -> list[dict[str, Any]]:
    rv = client.get(hook_path(owner, endpoint) + "/deliveries", headers=owner.headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()["data"]


def feed(client, owner, **args: Any) -> dict[str, Any]:
    rv = client.get(f"/v1/creators/{owner['handle']}/events", query_string=args, headers=owner.headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def run_due(app, after: timedelta) -> None:
    """Move the clock on and run the sweep, which hands due attempts to the runner."""
    clock.freeze(clock.utcnow() + after)
    with app.app_context():
        outbox.sweep()
    jobs.wait_idle(app)


def follow(client, account, owner) -> None:
    assert client.post(f"/v1/creators/{owner['handle']}/follow", headers=account.headers).status_code == 204


def test_a_delivery_verifies_with_the_standard_webhooks_library(client, creator, alice, receiver):
    endpoint = register(client, creator, receiver.url, ["follower.created"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    assert "secret" not in client.get(hook_path(creator, endpoint), headers=creator.headers).get_json()

    follow(client, alice, creator)

    [sent] = receiver.requests
    payload = Webhook(endpoint["secret"]).verify(sent["body"], sent["headers"])
    assert payload["type"] == "follower.created"
    assert payload["data"]["user"] == {"id": alice.id, "display_name": "Alice"}
    assert sent["headers"]["webhook-id"] == payload["id"]
    assert sent["headers"]["webhook-signature"].startswith("v1,")
    [attempt] = log(client, creator, endpoint)
    assert (attempt["status_code"], attempt["attempt"], attempt["event_id"]) == (200, 1, payload["id"])
    assert attempt["response_excerpt"] == "ok" and attempt["latency_ms"] >= 0
    assert attempt["delivery_status"] == "succeeded" and attempt["next_attempt_at"] is None


def test_events_of_types_not_chosen_are_not_sent(client, creator, alice, receiver):
    register(client, creator, receiver.url, ["member.created"])
    follow(client, alice, creator)
    assert receiver.requests == []
    assert [e["type"] for e in feed(client, creator)["data"]] == ["follower.created"]


def test_a_receiver_failing_twice_then_succeeding_gets_three_attempts_logged(
    client, app, creator, alice, receiver
):
    endpoint = register(client, creator, receiver.url, ["follower.created"])
    receiver.answer(500, 503)

    follow(client, alice, creator)
    [first] = log(client, creator, endpoint)
    assert (first["status_code"], first["delivery_status"]) == (500, "pending")
    assert first["next_attempt_at"] is not None

    run_due(app, timedelta(minutes=2))  # the 5 s retry, once the sweep sees it
    assert len(receiver.requests) == 2
    run_due(app, timedelta(minutes=1))  # the next one waits about 5 minutes
    assert len(receiver.requests) == 2
    run_due(app, timedelta(minutes=6))

    assert len(receiver.requests) == 3
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # one message, resent
    for sent in receiver.requests:
        assert sent["body"] == receiver.requests[0]["body"]
    attempts = log(client, creator, endpoint)
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(3, 200), (2, 503), (1, 500)]
    assert {a["delivery_status"] for a in attempts} == {"succeeded"}
    run_due(app, timedelta(hours=3))
    assert len(receiver.requests) == 3


def test_an_endpoint_failing_for_a_day_is_disabled_with_its_reason_and_retried_by_hand(
    client, app, creator, alice, receiver
):
    endpoint = register(client, creator, receiver.url, ["follower.created"])
    receiver.answer(*[500] * delivery.LAST_ATTEMPT)
    follow(client, alice, creator)
    for wait in delivery.SCHEDULE:
        run_due(app, wait * 1.1 + timedelta(minutes=2))
    assert len(receiver.requests) == delivery.LAST_ATTEMPT
    log_in(client, creator)  # a day went by
    shown = client.get(hook_path(creator, endpoint), headers=creator.headers).get_json()
    assert shown["status"] == "disabled"
    assert "8 attempts" in shown["disabled_reason"] and "HTTP 500" in shown["disabled_reason"]

    delivery_id = log(client, creator, endpoint)[0]["delivery_id"]
    retry = hook_path(creator, endpoint) + f"/deliveries/{delivery_id}/retry"
    assert client.post(retry, headers=creator.headers).status_code == 409  # enable it first
    rv = client.patch(hook_path(creator, endpoint), json={"status": "enabled"}, headers=creator.headers)
    assert rv.get_json()["disabled_reason"] is None
    clock.freeze(clock.utcnow() + timedelta(minutes=1))
    assert client.post(retry, headers=creator.headers).status_code == 202
    assert len(receiver.requests) == delivery.LAST_ATTEMPT + 1
    assert log(client, creator, endpoint)[0]["status_code"] == 200


def test_a_name_resolving_to_loopback_is_refused_unless_allowed(
    client, app, creator, alice, receiver, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    endpoint = register(client, creator, f"http://localhost:{receiver.port}/hook", ["follower.created"])
    follow(client, alice, creator)

    assert receiver.requests == []
    [attempt] = log(client, creator, endpoint)
    assert attempt["status_code"] is None
    assert "not a public address" in attempt["error"]

    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    client.post(hook_path(creator, endpoint) + "/test", headers=creator.headers)
    [ping] = receiver.payloads()
    assert ping["type"] == "ping" and ping["data"] == {"endpoint_id": endpoint["id"]}


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::1",
        "::ffff:127.0.0.1",
        "ff02::1",
    ],
)
def test_private_and_special_addresses_are_not_sent_to(address):
    assert not delivery.allowed(ipaddress.ip_address(address))


def test_public_addresses_are_sent_to():
    assert delivery.allowed(ipaddress.ip_address("93.184.216.34"))
    assert delivery.allowed(ipaddress.ip_address("2606:4700::1111"))


def test_a_redirect_is_not_followed_and_counts_as_a_failure(client, creator, alice, receiver):
    endpoint = register(client, creator, receiver.url, ["follower.created"])
    receiver.answer(302, Location=f"http://127.0.0.1:{receiver.port}/elsewhere")
    follow(client, alice, creator)

    assert [r["path"] for r in receiver.requests] == ["/hook"]
    [attempt] = log(client, creator, endpoint)
    assert attempt["status_code"] == 302 and "not followed" in attempt["error"]
    assert attempt["delivery_status"] == "pending"


def test_during_a_rotation_both_secrets_sign(client, app, creator, alice, receiver):
    endpoint = register(client, creator, receiver.url, ["follower.created"])
    rotated = client.post(hook_path(creator, endpoint) + "/rotate-secret", headers=creator.headers)
    assert rotated.status_code == 200
    new_secret = rotated.get_json()["secret"]
    assert new_secret != endpoint["secret"] and rotated.get_json()["previous_secret_until"]

    follow(client, alice, creator)
    [sent] = receiver.requests
    assert len(sent["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], new_secret):
        Webhook(secret).verify(sent["body"], sent["headers"])

    clock.freeze(clock.utcnow() + timedelta(hours=25))
    log_in(client, creator)
    client.post(hook_path(creator, endpoint) + "/test", headers=creator.headers)
    assert len(receiver.requests[1]["headers"]["webhook-signature"].split(" ")) == 1


def test_the_feed_gives_the_webhooks_events_in_order_and_resumes_after_one(
    client, creator, alice, bob, receiver
):
    register(client, creator, receiver.url)
    follow(client, alice, creator)
    follow(client, bob, creator)
    assert client.delete(f"/v1/creators/{creator['handle']}/follow", headers=alice.headers).status_code == 204
    follow(client, alice, creator)

    sent = receiver.payloads()
    listed = feed(client, creator)
    assert listed["has_more"] is False
    assert listed["data"] == sent
    assert [e["type"] for e in sent] == [
        "follower.created",
        "follower.created",
        "follower.deleted",
        "follower.created",
    ]

    ids = [e["id"] for e in sent]
    assert [e["id"] for e in feed(client, creator, after=ids[1])["data"]] == ids[2:]
    first = feed(client, creator, limit=3)
    assert first["has_more"] is True and [e["id"] for e in first["data"]] == ids[:3]
    assert [e["id"] for e in feed(client, creator, after=ids[2], limit=3)["data"]] == ids[3:]
    assert [e["id"] for e in feed(client, creator, types="follower.deleted")["data"]] == [ids[2]]


def test_the_feed_refuses_unknown_events_and_types(client, creator, make_creator, signup, alice):
    follow(client, alice, creator)
    other = make_creator(signup())
    follow(client, alice, other)
    theirs = feed(client, other)["data"][0]["id"]
    for args in ({"after": theirs}, {"after": "evt_999999"}, {"after": "nonsense"}, {"types": "member.nope"}):
        rv = client.get(
            f"/v1/creators/{creator['handle']}/events", query_string=args, headers=creator.headers
        )
        assert rv.status_code == 422, args


def test_endpoint_urls_are_checked(client, app, creator, monkeypatch):
    path = f"/v1/creators/{creator['handle']}/webhook-endpoints"
    for url in (
        "ftp://hooks.example/x",
        "https://user:pw@hooks.example/x",
        "hooks.example/x",
        "https://:80/x",
    ):
        rv = client.post(path, json={"url": url, "events": ["member.created"]}, headers=creator.headers)
        assert rv.status_code == 422, url
    rv = client.post(
        path, json={"url": "https://hooks.example/x", "events": ["nope"]}, headers=creator.headers
    )
    assert rv.status_code == 422
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    rv = client.post(
        path, json={"url": "http://hooks.example/x", "events": ["member.created"]}, headers=creator.headers
    )
    assert rv.status_code == 422
    rv = client.post(
        path, json={"url": "https://hooks.example/x", "events": ["member.created"]}, headers=creator.headers
    )
    assert rv.status_code == 201
    assert client.delete(path + f"/{rv.get_json()['id']}", headers=creator.headers).status_code == 204
    assert client.get(path, headers=creator.headers).get_json() == []


def test_a_message_to_the_creator_is_an_event_with_a_short_excerpt(client, creator, alice):
    follow(client, alice, creator)
    started = client.post("/v1/conversations", json={"creator_handle": "cora"}, headers=alice.headers)
    conversation_id = started.get_json()["id"]
    body = "Hello! " + "x" * 300
    sent = client.post(
        f"/v1/conversations/{conversation_id}/messages", json={"body": body}, headers=alice.headers
    )
    assert sent.status_code == 201
    reply = {"body": "Thanks"}
    client.post(f"/v1/conversations/{conversation_id}/messages", json=reply, headers=creator.headers)

    message = feed(client, creator, types="message.received")["data"]
    assert len(message) == 1  # the creator's own reply is not news to the creator
    data = message[0]["data"]
    assert data["message_id"] == sent.get_json()["id"] and data["conversation_id"] == conversation_id
    assert data["sender"] == {"id": alice.id, "display_name": "Alice"}
    assert data["excerpt"] == body[: events.EXCERPT_CHARS]


def _types(client, owner, after: str | None = None) -> list[dict[str, Any]]:
    return feed(client, owner, **({"after": after} if after else {}))["data"]


@pytest.fixture
def member(client, stripe_mode, seller, tiers, alice):
    """Alice on the Supporter tier at the fake Stripe: our subscription id and Stripe's."""
    sub_id = subscribe(client, stripe_mode, alice, tiers[0]["price"]["id"])
    with client.application.app_context():
        from service.billing.models import Subscription

        stripe_id = db.session.get(Subscription, as_uuid(sub_id)).stripe_subscription_id
    return sub_id, stripe_id


def test_a_new_membership_is_created_and_paid_events(client, seller, tiers, alice, member):
    sub_id, _ = member
    found = {e["type"]: e["data"] for e in _types(client, seller)}
    assert {"member.created", "payment.succeeded"} <= found.keys()
    created = found["member.created"]
    assert created["subscription_id"] == sub_id and created["tier_id"] == tiers[0]["id"]
    assert created["user"] == {"id": alice.id, "display_name": "Alice"}
    paid = found["payment.succeeded"]
    assert paid["amount"] == {"amount": 900, "currency": "eur"} and paid["subscription_id"] == sub_id
    assert "@" not in json.dumps(found)  # nobody's e-mail address


def _last(client, owner, type_: str) -> dict[str, Any]:
    matching = [e for e in _types(client, owner) if e["type"] == type_]
    assert matching, type_
    return matching[-1]["data"]


def test_cancel_at_period_end_and_resume_are_member_updates(client, seller, alice, member):
    sub_id, _ = member
    rv = client.post(f"/v1/subscriptions/{sub_id}/cancel", json={}, headers=alice.headers)
    assert rv.status_code == 200, rv.get_json()
    updated = _last(client, seller, "member.updated")
    assert updated["cancel_at_period_end"] is True
    assert updated["previous_attributes"] == {"cancel_at_period_end": False}

    assert client.post(f"/v1/subscriptions/{sub_id}/resume", headers=alice.headers).status_code == 200
    assert _last(client, seller, "member.updated")["previous_attributes"] == {"cancel_at_period_end": True}


def test_a_tier_change_at_stripe_is_a_member_update_with_the_old_tier(
    client, stripe_mode, seller, tiers, bob, member
):
    _, stripe_id = member
    start_checkout(client, bob, tiers[1]["price"]["id"])  # makes the tier's price at Stripe
    patron_price = provider_price(stripe_mode, tiers[1]["price"]["id"])
    sub = stripe_mode.set_subscription(stripe_id, price=patron_price)
    assert deliver(client, make_event("customer.subscription.updated", sub)).status_code == 200
    updated = _last(client, seller, "member.updated")
    assert updated["tier_id"] == tiers[1]["id"]
    assert updated["previous_attributes"]["tier_id"] == tiers[0]["id"]


def test_a_failed_renewal_is_payment_failed_and_ending_is_member_deleted(
    client, stripe_mode, seller, alice, member
):
    sub_id, stripe_id = member
    invoice = stripe_mode.make_invoice(stripe_id, paid=False)
    stripe_mode.set_subscription(stripe_id, status="past_due")
    assert deliver(client, make_event("invoice.payment_failed", invoice)).status_code == 200
    failed = _last(client, seller, "payment.failed")
    assert (failed["subscription_id"], failed["status"]) == (sub_id, "past_due")
    assert _last(client, seller, "member.updated")["previous_attributes"] == {"status": "active"}

    rv = client.post(
        f"/v1/subscriptions/{sub_id}/cancel", json={"at_period_end": False}, headers=alice.headers
    )
    assert rv.status_code == 200, rv.get_json()
    ended = _last(client, seller, "member.deleted")
    assert ended["status"] == "canceled" and ended["subscription_id"] == sub_id


def test_a_purchase_and_its_refunds_are_events(client, stripe_mode, seller, product, alice):
    purchase_id = buy_at_stripe(client, stripe_mode, alice, product["price"]["id"])
    completed = _last(client, seller, "purchase.completed")
    assert completed["purchase_id"] == purchase_id and completed["offering_id"] == product["id"]
    assert completed["amount"] == {"amount": 2500, "currency": "eur"}
    assert _last(client, seller, "payment.succeeded")["purchase_id"] == purchase_id
    with client.application.app_context():  # a retried webhook may announce it again
        purchase_completed.send(db.session.get(Purchase, as_uuid(purchase_id)))
        db.session.commit()
    assert len([e for e in _types(client, seller) if e["type"] == "purchase.completed"]) == 1

    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={"amount": 1000}, headers=seller.headers)
    assert rv.status_code == 200, rv.get_json()
    refunded = _last(client, seller, "purchase.refunded")
    assert refunded["refunded_now"] == {"amount": 1000, "currency": "eur"}
    assert refunded["status"] == "paid"
    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=seller.headers)
    refunded = _last(client, seller, "purchase.refunded")
    assert (
        refunded["amount_refunded"] == {"amount": 2500, "currency": "eur"}
        and refunded["status"] == "refunded"
    )
    assert len([e for e in _types(client, seller) if e["type"] == "purchase.refunded"]) == 2


def test_old_events_and_deliveries_are_purged(client, app, creator, alice, receiver):
    register(client, creator, receiver.url, ["follower.created"])
    follow(client, alice, creator)
    clock.freeze(clock.utcnow() + timedelta(days=31))
    with app.app_context():
        assert events.purge_old() == 1
        assert db.session.scalars(select(Delivery)).all() == []
    log_in(client, creator)
    assert feed(client, creator)["data"] == []


def _wait_for_a_lock_wait(app) -> None:
    """Return once a session of this database waits for a lock (or fail after 10 s)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(1000):
        with app.app_context():
            if db.session.scalar(waiting):
                return
        threading.Event().wait(0.01)
    raise AssertionError("no session came to wait for the lock")


def test_a_creators_events_commit_in_the_order_of_their_numbers(app, client, creator, postgres_only):
    """The first writer is numbered, then its commit is held up; the second writer comes to
    commit meanwhile. It waits for the first, so a reader that resumes after what it saw
    never passes an event that commits late."""
    with app.app_context():
        creator_id = db.session.scalar(text("SELECT id FROM creators"))
        events.record(creator_id, "follower.created", {"n": "seen"})
        db.session.commit()
    [seen] = feed(client, creator)["data"]
    numbered, release = threading.Event(), threading.Event()
    committed: list[str] = []
    failures: list[BaseException] = []

    def hold_the_first_commit(session) -> None:  # runs after the numbering, before COMMIT
        if threading.current_thread().name == "first":
            numbered.set()
            release.wait(10)

    def writer() -> None:
        name = threading.current_thread().name
        try:
            if name == "second":
                numbered.wait(10)
            with app.app_context():
                events.record(creator_id, "follower.created", {"n": name})
                db.session.commit()
                committed.append(name)
        except BaseException as error:  # handed to the test below
            failures.append(error)
            numbered.set()

    sqla_event.listen(Session, "before_commit", hold_the_first_commit)
    try:
        threads = [threading.Thread(target=writer, name=name) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        numbered.wait(10)
        _wait_for_a_lock_wait(app)  # the second writer, at the creator's counter
        assert feed(client, creator, after=seen["id"])["data"] == []
        release.set()
        for thread in threads:
            thread.join(10)
    finally:
        sqla_event.remove(Session, "before_commit", hold_the_first_commit)
    assert not failures, failures

    assert committed == ["first", "second"]
    later = feed(client, creator, after=seen["id"])["data"]
    assert [e["data"]["n"] for e in later] == ["first", "second"]
    assert feed(client, creator, after=later[0]["id"])["data"] == later[1:]


def test_parallel_follows_number_the_events_without_gaps(app, client, creator, signup, postgres_only):
    fans = [signup() for _ in range(8)]
    run_parallel(app, [lambda c, fan=fan: follow(c, fan, creator) for fan in fans])
    with app.app_context():
        numbers = db.session.scalars(select(Event.seq).order_by(Event.seq)).all()
    assert numbers == list(range(1, len(fans) + 1))
    listed = feed(client, creator)["data"]
    assert {e["data"]["user"]["id"] for e in listed} == {fan.id for fan in fans}


def test_a_pinned_https_connection_still_names_and_verifies_the_urls_host():
    """The connection goes to the checked address; TLS asks for (SNI) and checks the
    certificate of the host in the URL, not of the address."""
    pool = delivery.PinnedAdapter("hooks.example").poolmanager.connection_from_host(
        "203.0.113.5", 443, scheme="https"
    )
    assert pool.host == "203.0.113.5"
    assert pool.conn_kw["server_hostname"] == "hooks.example"
    assert pool.assert_hostname == "hooks.example"
