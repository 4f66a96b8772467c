from __future__ import annotations

import pytest

from service.extensions import limiter

from .conftest import assert_problem


@pytest.fixture
def limits_on():
    limiter.enabled = True
    yield
    limiter.enabled = False


def test_signups_from_one_address_are_limited(client, limits_on):
    for i in range(5):
        rv = client.post(
            "/v1/auth/signup",
            json={"email": f"s{i}@example.com", "password": "long enough pass", "display_name": "S"},
        )
        assert rv.status_code == 201
    rv = client.post(
        "/v1/auth/signup",
        json={"email": "s9@example.com", "password": "long enough pass", "display_name": "S"},
    )
    assert_problem(rv, 429)
    assert "Retry-After" in rv.headers


def test_refresh_is_limited(client, alice, limits_on):
    codes = [client.post("/v1/auth/refresh", json={"refresh_token": "nope"}).status_code for _ in range(31)]
    assert codes[:30] == [401] * 30 and codes[30] == 429


def _refresh_until_limited(client):
    for _ in range(30):
        client.post("/v1/auth/refresh", json={"refresh_token": "nope"})
    return client.post("/v1/auth/refresh", json={"refresh_token": "nope"})


def test_a_limit_answers_a_typed_problem_with_retry_after(client, limits_on):
    rv = _refresh_until_limited(client)
    body = assert_problem(rv, 429, "rate_limited")
    assert body["type"] == "/problems/rate_limited"
    assert 0 < int(rv.headers["Retry-After"]) <= 60


def test_retry_after_is_sent_even_without_the_limiter_headers(client, limits_on, monkeypatch):
    monkeypatch.setattr(limiter, "_headers_enabled", False)
    rv = _refresh_until_limited(client)
    assert_problem(rv, 429, "rate_limited")
    assert "X-RateLimit-Limit" not in rv.headers
    assert rv.headers["Retry-After"] == "60"  # the window of 30/minute


def test_limits_are_off_when_disabled(client, alice):
    # (The delay after wrong passwords is part of logging in, not a limit: tests/test_login_throttle.py.)
    codes = {client.post("/v1/auth/refresh", json={"refresh_token": "nope"}).status_code for _ in range(40)}
    assert codes == {401}
