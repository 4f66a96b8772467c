"""Driving the local payment gateway through HTTP, as a browser would."""

from __future__ import annotations

from typing import Any

BASE = "http://127.0.0.1:8000"
SUCCESS = "https://app.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://app.example/cancelled"


def local_path(url: str) -> str:
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


def start_checkout(client, buyer, price_id: str, **extra: Any):
    return client.post(
        "/v1/checkout/sessions",
        json={"price_id": price_id, "success_url": SUCCESS, "cancel_url": CANCEL, **extra},
        headers=buyer.headers,
    )


def buy(client, buyer, price_id: str) -> dict[str, Any]:
    """Check out and pay; returns the completed checkout session."""
    rv = start_checkout(client, buyer, price_id)
    assert rv.status_code == 201, rv.get_json()
    session = rv.get_json()
    pay = client.post(local_path(session["url"]) + "/pay")
    assert pay.status_code == 303
    assert pay.headers["Location"].endswith(session["url"].rsplit("/", 1)[1])
    done = client.get(f"/v1/checkout/sessions/{session['id']}", headers=buyer.headers).get_json()
    assert done["status"] == "complete", done
    return done
