"""E-mail verification: the signed link at sign-up and after a change of e-mail, its resend,
and what the link does when opened late, twice, forged or after the account moved on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.accounts import service, signals
from service.common import clock, security
from service.extensions import limiter

from .concurrency import run_parallel
from .conftest import TEST_PASSWORD, assert_problem, log_in
from .test_authorization import api_key_headers

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def links():
    """What `verification_requested` announced: one dict per link, oldest first."""
    sent: list[dict[str, Any]] = []

    def record(user, *, email: str, token: str) -> None:
        sent.append({"user_id": str(user.id), "email": email, "token": token})

    with signals.verification_requested.connected_to(record):
        yield sent


@pytest.fixture
def verified():
    """The addresses `email_verified` announced, in order."""
    seen: list[str] = []

    def record(user, *, email: str) -> None:
        seen.append(email)

    with signals.email_verified.connected_to(record):
        yield seen


def _open(client, token: str, **headers: str):
    return client.get("/v1/auth/verify", query_string={"token": token}, headers=headers)


def _me(client, account) -> dict[str, Any]:
    return client.get("/v1/me", headers=account.headers).get_json()


def _change_email(client, account, email: str, password: str = TEST_PASSWORD):
    return client.patch(
        "/v1/me", json={"email": email, "current_password": password}, headers=account.headers
    )


def _login(client, email: str):
    return client.post("/v1/auth/login", json={"email": email, "password": TEST_PASSWORD})


def test_sign_up_sends_a_link_that_verifies_the_address_once(client, app, links, verified, signup):
    alice = signup(email="Alice@Example.com")
    assert alice["user"]["email_verified"] is False
    (link,) = links
    assert link == {"user_id": alice.id, "email": "alice@example.com", "token": link["token"]}
    with app.app_context():
        url = service.verification_link(link["token"])
    assert url.startswith(app.config["PUBLIC_BASE_URL"] + "/v1/auth/verify?token=")

    rv = client.get(url)
    assert rv.status_code == 200
    assert rv.get_json() == {"email": "alice@example.com", "email_verified": True}
    assert rv.headers["Cache-Control"] == "no-store"
    me = _me(client, alice)
    assert me["email_verified"] is True and me["pending_email"] is None

    again = _open(client, link["token"])
    assert again.status_code == 200 and again.get_json()["email_verified"] is True
    assert verified == ["alice@example.com"]


def test_a_link_that_is_not_genuine_is_refused(client, app, links, signup):
    alice = signup()
    token = links[0]["token"]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with app.app_context():
        # Genuinely signed, but for another purpose.
        other_use = security.sign({"user_id": alice.id, "email": alice["email"]}, salt="another use")
    for bad in (tampered, "not-a-token", other_use, token.replace(".", "", 1)):
        assert_problem(_open(client, bad), 400, "invalid_token")
    assert_problem(client.get("/v1/auth/verify"), 422)
    assert _me(client, alice)["email_verified"] is False


def test_a_link_expires_after_the_configured_hours(client, app, links, signup):
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    clock.freeze(start)
    late = signup()
    signup()  # opens their link in time
    max_age = timedelta(hours=app.config["EMAIL_VERIFY_MAX_AGE_HOURS"])
    assert max_age == timedelta(hours=72)

    clock.freeze(start + max_age)
    assert _open(client, links[1]["token"]).status_code == 200
    clock.freeze(start + max_age + timedelta(seconds=1))
    assert_problem(_open(client, links[0]["token"]), 410, "token_expired")

    rv = client.post("/v1/auth/verify/resend", headers=log_in(client, late).headers)
    assert rv.status_code == 202 and rv.get_json() == {"email": late["email"]}
    assert _open(client, links[-1]["token"]).status_code == 200


def test_a_browser_gets_a_page(client, links, signup):
    signup(email="page@example.com")
    rv = _open(client, links[0]["token"], Accept=BROWSER_ACCEPT)
    assert rv.status_code == 200 and rv.mimetype == "text/html"
    assert "page@example.com is verified" in rv.get_data(as_text=True)
    assert rv.headers["Cache-Control"] == "no-store"

    rv = _open(client, "forged", Accept=BROWSER_ACCEPT)
    assert rv.status_code == 400 and rv.mimetype == "text/html"
    assert "not valid" in rv.get_data(as_text=True)
    # Anything else (an API client, no Accept at all) gets JSON.
    assert_problem(_open(client, "forged", Accept="application/json"), 400, "invalid_token")


def test_the_page_escapes_what_it_shows(app):
    from service.accounts.routes import _page

    with app.test_request_context():
        body = _page(200, "<script>x</script>", "a & b").get_data(as_text=True)
    assert "<script>" not in body and "&lt;script&gt;" in body and "a &amp; b" in body


def test_a_new_address_becomes_the_login_only_once_verified(client, links, verified, signup):
    alice = signup(email="alice@example.com")
    rv = client.patch("/v1/me", json={"email": "new@example.com"}, headers=alice.headers)
    assert "current_password" in assert_problem(rv, 422)["errors"]
    assert_problem(_change_email(client, alice, "new@example.com", "wrong password"), 403)
    assert_problem(_change_email(client, alice, "not an address"), 422)

    rv = _change_email(client, alice, "New@Example.com")
    assert rv.status_code == 200
    body = rv.get_json()
    assert body["email"] == "alice@example.com" and body["pending_email"] == "new@example.com"
    assert links[-1]["email"] == "new@example.com"
    assert _login(client, "alice@example.com").status_code == 200
    assert _login(client, "new@example.com").status_code == 401

    rv = _open(client, links[-1]["token"])
    assert rv.get_json() == {"email": "new@example.com", "email_verified": True}
    me = _me(client, alice)
    assert (me["email"], me["pending_email"], me["email_verified"]) == ("new@example.com", None, True)
    assert _login(client, "new@example.com").status_code == 200
    assert _login(client, "alice@example.com").status_code == 401
    assert verified == ["new@example.com"]
    # The sign-up link was for an address the account no longer has.
    assert_problem(_open(client, links[0]["token"]), 400, "invalid_token")
    # The old address is free for someone else.
    signup(email="alice@example.com")


def test_only_the_latest_change_can_be_verified(client, links, signup):
    alice = signup()
    _change_email(client, alice, "first@example.com")
    _change_email(client, alice, "second@example.com")
    first, second = links[-2]["token"], links[-1]["token"]
    assert_problem(_open(client, first), 400, "invalid_token")
    assert _open(client, second).get_json()["email"] == "second@example.com"

    # Asking for the current address drops a pending change and its link.
    _change_email(client, alice, "third@example.com")
    rv = _change_email(client, alice, "second@example.com")
    assert rv.get_json()["pending_email"] is None
    assert_problem(_open(client, links[-1]["token"]), 400, "invalid_token")
    assert _me(client, alice)["email"] == "second@example.com"


def test_an_address_another_account_has_is_refused(client, links, alice, bob):
    assert_problem(_change_email(client, alice, "BOB@example.com"), 409, "email_taken")
    assert _me(client, alice)["pending_email"] is None
    assert [link["email"] for link in links] == ["alice@example.com", "bob@example.com"]


def test_an_address_taken_before_the_link_is_opened_changes_nothing(client, links, verified, alice, signup):
    _change_email(client, alice, "wanted@example.com")
    token = links[-1]["token"]
    signup(email="wanted@example.com")
    assert_problem(_open(client, token), 409, "email_taken")
    me = _me(client, alice)
    assert (me["email"], me["pending_email"]) == ("alice@example.com", "wanted@example.com")
    assert verified == []
    assert _login(client, "alice@example.com").status_code == 200


def test_a_deleted_account_cannot_be_verified(client, links, alice):
    client.delete("/v1/me", headers=alice.headers)
    assert_problem(_open(client, links[0]["token"]), 400, "invalid_token")


def test_resend_goes_to_the_pending_address_else_the_unverified_one(client, links, alice):
    rv = client.post("/v1/auth/verify/resend", headers=alice.headers)
    assert rv.status_code == 202 and rv.get_json() == {"email": "alice@example.com"}
    assert links[-1]["email"] == "alice@example.com" and links[-1]["user_id"] == alice.id
    assert _open(client, links[-1]["token"]).status_code == 200
    assert_problem(client.post("/v1/auth/verify/resend", headers=alice.headers), 409, "already_verified")

    _change_email(client, alice, "moved@example.com")
    rv = client.post("/v1/auth/verify/resend", headers=alice.headers)
    assert rv.status_code == 202 and rv.get_json() == {"email": "moved@example.com"}
    # Both links for the pending address work; the first one opened wins.
    assert links[-1]["email"] == links[-2]["email"] == "moved@example.com"
    assert _open(client, links[-2]["token"]).status_code == 200
    assert _open(client, links[-1]["token"]).status_code == 200


def test_resend_needs_a_password_login(client, alice, make_creator):
    assert_problem(client.post("/v1/auth/verify/resend"), 401)
    make_creator(alice)
    headers = api_key_headers(client, alice, ["read", "catalog", "messaging", "billing"])
    assert_problem(client.post("/v1/auth/verify/resend", headers=headers), 403, "api_key_not_allowed")
    rv = client.patch(
        "/v1/me", json={"email": "x@example.com", "current_password": TEST_PASSWORD}, headers=headers
    )
    assert_problem(rv, 403, "api_key_not_allowed")


def test_links_sent_on_request_are_limited_per_user(client, app, links, alice, bob):
    limiter.enabled = True
    limit = int(app.config["RATELIMIT_VERIFY_MAILS"].split("/")[0])
    for _ in range(limit - 1):
        assert client.post("/v1/auth/verify/resend", headers=alice.headers).status_code == 202
    assert _change_email(client, alice, "other@example.com").status_code == 200
    body = assert_problem(client.post("/v1/auth/verify/resend", headers=alice.headers), 429, "rate_limited")
    assert body["type"] == "/problems/rate_limited"
    assert_problem(_change_email(client, alice, "third@example.com"), 429)
    # What sends no link is not held back, nor is anyone else.
    rv = client.patch("/v1/me", json={"display_name": "Still Alice"}, headers=alice.headers)
    assert rv.status_code == 200
    assert client.post("/v1/auth/verify/resend", headers=bob.headers).status_code == 202
    assert len(links) == 2 + limit + 1


def test_refusals_do_not_spend_the_allowance(client, app, links, alice, bob):
    limiter.enabled = True
    _open(client, links[0]["token"])
    limit = int(app.config["RATELIMIT_VERIFY_MAILS"].split("/")[0])
    for _ in range(limit + 1):
        assert_problem(client.post("/v1/auth/verify/resend", headers=alice.headers), 409, "already_verified")
        assert_problem(_change_email(client, alice, "bob@example.com"), 409, "email_taken")
    assert _change_email(client, alice, "free@example.com").status_code == 200


def test_me_and_the_export_tell_the_state(client, links, alice):
    _change_email(client, alice, "later@example.com")
    user = client.get("/v1/me/export", headers=alice.headers).get_json()["user"]
    assert user["email_verified"] is False and user["email_verified_at"] is None
    assert user["pending_email"] == "later@example.com"
    _open(client, links[-1]["token"])
    user = client.get("/v1/me/export", headers=alice.headers).get_json()["user"]
    assert (user["email"], user["email_verified"], user["pending_email"]) == ("later@example.com", True, None)
    assert user["email_verified_at"].endswith("+00:00")


def test_parallel_clicks_verify_once(app, client, links, verified, alice, postgres_only):
    _change_email(client, alice, "raced@example.com")
    token = links[-1]["token"]

    def linger(user, **kwargs) -> None:
        time.sleep(0.2)  # holds the verifying transaction open while the other clicks arrive

    with signals.email_verified.connected_to(linger):
        answers = run_parallel(app, [lambda c: _open(c, token).status_code] * 4)
    assert answers == [200] * 4
    assert verified == ["raced@example.com"]
    assert _me(client, alice)["email"] == "raced@example.com"
