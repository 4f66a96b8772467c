"""Checkouts through our HTTP API, on either gateway, and reads of what they left.

Where each kind of helper lives (one place each):

- here, any gateway: `start_checkout`, `checkout_status`, `access`, `subscription`, and the
  database reads `rows`, `one`, `inbox_row`;
- here, the local gateway (the app's default in tests), driven through its pages as a browser
  would: `onboard`, `buy`, `simulate`, `local_path`;
- tests/fake_stripe.py, Stripe mode (`stripe_mode` fixture): the fake's own helpers, events
  (`make_event`, `deliver`) and `onboard`, `pay`, `completed`, `subscribe`, `buy` against it;
- tests/factories.py: the same state without HTTP, through the services, for service tests;
- tests/fake_memberships.py: memberships with no billing at all, answering the followers
  domain's signals directly (messaging and broadcast tests).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from service.billing.models import WebhookEvent
from service.extensions import db

BASE = "http://127.0.0.1:8000"  # PUBLIC_BASE_URL of the test app: where the local pages live
SUCCESS = "https://app.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://app.example/cancelled"


# Any gateway ------------------------------------------------------------------------------------


def start_checkout(client, buyer, price_id: str, **body: Any):
    """POST /v1/checkout/sessions for `price_id` (extra body fields: `upgrade_offer_id`, ...)."""
    return client.post(
        "/v1/checkout/sessions",
        json={"price_id": price_id, "success_url": SUCCESS, "cancel_url": CANCEL, **body},
        headers=buyer.headers,
    )


def checkout_status(client, buyer, session_id: str) -> dict[str, Any]:
    """Our checkout session as its buyer sees it (this also fulfils it if the provider finished it)."""
    rv = client.get(f"/v1/checkout/sessions/{session_id}", headers=buyer.headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def access(client, account, handle: str = "cora") -> dict[str, Any]:
    """What `account` may see of the creator `handle` (membership, purchases, following)."""
    return client.get(f"/v1/creators/{handle}/access", headers=account.headers).get_json()


def offerings_bought(holding: dict[str, Any]) -> list[str]:
    """The offerings of the purchases an access answer lists."""
    return [p["offering_id"] for p in holding["purchases"]]


def subscription(client, account, subscription_id) -> dict[str, Any]:
    return client.get(f"/v1/subscriptions/{subscription_id}", headers=account.headers).get_json()


def rows(app: Flask, model, *where) -> list[Any]:
    """Every row of `model` matching `where`, detached (read their attributes freely)."""
    with app.app_context():
        found = db.session.scalars(select(model).where(*where)).all()
        db.session.expunge_all()
        return list(found)


def one(app: Flask, model, *where) -> Any:
    found = rows(app, model, *where)
    assert len(found) == 1, f"{len(found)} {model.__name__} rows: {found}"
    return found[0]


def inbox_row(app: Flask, event_id: str) -> WebhookEvent | None:
    """The webhook inbox's row of an event, detached, or None."""
    with app.app_context():
        row = db.session.get(WebhookEvent, event_id)
        if row is not None:
            db.session.expunge(row)
        return row


def as_uuid(value: str | uuid.UUID) -> uuid.UUID:
    """API ids are strings; our rows' ids are UUIDs."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


# Local gateway ----------------------------------------------------------------------------------


def local_path(url: str) -> str:
    """The path of a local gateway page, for the test client."""
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def onboard(client, creator) -> None:
    """Finish payout onboarding for a creator on the local gateway."""
    rv = client.post(
        f"/v1/creators/{creator['handle']}/payouts/onboarding",
        json={"return_url": "https://app.example/done", "refresh_url": "https://app.example/again"},
        headers=creator.headers,
    )
    assert rv.status_code == 201, rv.get_json()
    assert client.post(local_path(rv.get_json()["url"])).status_code == 303


def buy(client, buyer, price_id: str, **body: Any) -> dict[str, Any]:
    """Check out (extra body fields allowed) and press Pay; the completed checkout session,
    with its `purchase_id` or `subscription_id`."""
    rv = start_checkout(client, buyer, price_id, **body)
    assert rv.status_code == 201, rv.get_json()
    session = rv.get_json()
    paid = client.post(local_path(session["url"]) + "/pay")
    assert paid.status_code == 303
    assert paid.headers["Location"].endswith(session["url"].rsplit("/", 1)[1])
    done = checkout_status(client, buyer, session["id"])
    assert done["status"] == "complete", done
    return done


def simulate(app: Flask, action: str, subscription_id: str) -> str:
    """`flask billing simulate <action>` (renew, fail, cancel) on a local subscription; its output."""
    result = app.test_cli_runner().invoke(args=["billing", "simulate", action, subscription_id])
    assert result.exit_code == 0, result.output
    return str(result.output)
