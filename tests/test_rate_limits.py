from __future__ import annotations

import pytest

from service.extensions import limiter

from .conftest import assert_problem


@pytest.fixture
def limits_on():
    limiter.enabled = True
    yield
    limiter.enabled = False


def test_login_attempts_on_one_account_are_limited_with_retry_after(client, alice, limits_on):
    for _ in range(5):
        assert (
            client.post(
                "/v1/auth/login", json={"email": "alice@example.com", "password": "wrong one!"}
            ).status_code
            == 401
        )
    rv = client.post("/v1/auth/login", json={"email": "Alice@example.com", "password": "wrong one!"})
    assert_problem(rv, 429, "rate_limited")
    assert int(rv.headers["Retry-After"]) > 0
    # Another account from the same address is not locked out by that.
    assert (
        client.post("/v1/auth/login", json={"email": "bob@example.com", "password": "wrong one!"}).status_code
        == 401
    )


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


def test_limits_are_off_when_disabled(client, alice):
    codes = {
        client.post("/v1/auth/login", json={"email": "alice@example.com", "password": "wrong!!"}).status_code
        for _ in range(30)
    }
    assert codes == {401}
