from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import jwt
import pytest

from service.common import clock

from .conftest import TEST_PASSWORD, assert_problem

SECRET = "test-secret-key-that-is-long-enough-for-hs256"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client, token):
    return client.post("/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_the_pair(client, alice):
    rv = refresh(client, alice["refresh_token"])
    assert rv.status_code == 200
    new = rv.get_json()
    assert new["refresh_token"] != alice["refresh_token"]
    assert client.get("/v1/me", headers=bearer(new["access_token"])).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_family(client, alice):
    second = refresh(client, alice["refresh_token"]).get_json()
    reuse = refresh(client, alice["refresh_token"])
    assert_problem(reuse, 401, "invalid_token")
    # The thief's replay also kills the legitimate holder's newer tokens.
    assert refresh(client, second["refresh_token"]).status_code == 401
    assert client.get("/v1/me", headers=bearer(second["access_token"])).status_code == 401
    assert client.get("/v1/me", headers=alice.headers).status_code == 401


def test_reuse_does_not_touch_other_sessions(client, alice):
    other = client.post(
        "/v1/auth/login", json={"email": "alice@example.com", "password": TEST_PASSWORD}
    ).get_json()
    refresh(client, alice["refresh_token"])
    refresh(client, alice["refresh_token"])
    assert client.get("/v1/me", headers=bearer(other["access_token"])).status_code == 200


def test_unknown_refresh_token_returns_401(client):
    assert_problem(refresh(client, "not-a-token"), 401)


def test_concurrent_refreshes_of_one_token_let_at_most_one_win(app, alice):
    results = []

    def go():
        results.append(refresh(app.test_client(), alice["refresh_token"]).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) <= 1
    assert set(results) <= {200, 401, 409, 503}


def test_logout_ends_the_session(client, alice):
    rv = client.post("/v1/auth/logout", json={"refresh_token": alice["refresh_token"]}, headers=alice.headers)
    assert rv.status_code == 204
    assert client.get("/v1/me", headers=alice.headers).status_code == 401
    assert refresh(client, alice["refresh_token"]).status_code == 401


def test_logout_with_someone_elses_refresh_token_changes_nothing(client, alice, bob):
    rv = client.post("/v1/auth/logout", json={"refresh_token": bob["refresh_token"]}, headers=alice.headers)
    assert rv.status_code == 204
    assert client.get("/v1/me", headers=bob.headers).status_code == 200


def test_access_token_expires_after_ttl(client, alice):
    now = clock.utcnow()
    clock.freeze(now + timedelta(minutes=14, seconds=50))
    assert client.get("/v1/me", headers=alice.headers).status_code == 200
    clock.freeze(now + timedelta(minutes=15, seconds=5))
    assert_problem(client.get("/v1/me", headers=alice.headers), 401, "invalid_token")
    # The refresh token still works and gives a fresh access token.
    rv = refresh(client, alice["refresh_token"])
    assert rv.status_code == 200
    assert client.get("/v1/me", headers=bearer(rv.get_json()["access_token"])).status_code == 200


def test_refresh_token_expires_when_idle(client, alice):
    clock.freeze(clock.utcnow() + timedelta(days=7, minutes=1))
    assert refresh(client, alice["refresh_token"]).status_code == 401


def test_session_has_an_absolute_lifetime(client, alice):
    token = alice["refresh_token"]
    start = clock.utcnow()
    for day in range(6, 36, 6):  # refreshed often enough never to be idle
        clock.freeze(start + timedelta(days=day))
        rv = refresh(client, token)
        if day < 30:
            assert rv.status_code == 200
            token = rv.get_json()["refresh_token"]
        else:
            assert rv.status_code == 401


def _claims(alice, **changes):
    claims = jwt.decode(alice["access_token"], options={"verify_signature": False})
    claims.update(changes)
    return claims


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda a: jwt.encode(_claims(a), key="", algorithm="none"), id="alg-none"),
        pytest.param(
            lambda a: jwt.encode(_claims(a), "another-key-of-sufficient-length-xx", algorithm="HS256"),
            id="wrong-key",
        ),
        pytest.param(
            lambda a: jwt.encode(_claims(a, sub=str(uuid.uuid4())), SECRET, algorithm="HS256"),
            id="other-subject",
        ),
        pytest.param(
            lambda a: jwt.encode(_claims(a, aud="other-api"), SECRET, algorithm="HS256"), id="wrong-audience"
        ),
        pytest.param(
            lambda a: jwt.encode(_claims(a, typ="refresh"), SECRET, algorithm="HS256"), id="wrong-type"
        ),
        pytest.param(lambda a: jwt.encode(_claims(a, exp=1), SECRET, algorithm="HS256"), id="expired"),
        pytest.param(
            lambda a: jwt.encode(
                {k: v for k, v in _claims(a).items() if k != "sid"}, SECRET, algorithm="HS256"
            ),
            id="no-session",
        ),
        pytest.param(
            lambda a: jwt.encode(_claims(a, sid=str(uuid.uuid4())), SECRET, algorithm="HS256"),
            id="unknown-session",
        ),
        pytest.param(lambda a: a["refresh_token"], id="refresh-as-access"),
        pytest.param(lambda a: a["access_token"][:-3] + "abc", id="tampered-signature"),
        pytest.param(lambda a: "csk_" + "x" * 40, id="unknown-api-key"),
        pytest.param(lambda a: "\u00e9\u00e9\u00e9", id="non-ascii"),
    ],
)
def test_forged_tokens_are_refused(client, alice, forge):
    token = forge(alice)
    assert_problem(client.get("/v1/me", headers=bearer(token)), 401)


def test_edited_subject_pointing_at_another_real_user_is_refused(client, alice, bob):
    token = jwt.encode(_claims(alice, sub=bob.id), SECRET, algorithm="HS256")
    assert_problem(client.get("/v1/me", headers=bearer(token)), 401)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "token abc", ""])
def test_malformed_authorization_headers_are_401(client, header):
    assert_problem(client.get("/v1/me", headers={"Authorization": header}), 401)
