"""Wrong passwords slow down the address that sends them, never the account's owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service.accounts.models import LoginFailures
from service.common import clock
from service.extensions import db, limiter

from .concurrency import run_parallel
from .conftest import TEST_PASSWORD, assert_problem

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def login(client, password, address=ATTACKER, email="alice@example.com"):
    return client.post(
        "/v1/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.fixture
def now():
    at = clock.utcnow()
    clock.freeze(at)
    return at


def fail_five_times(client):
    for _ in range(5):
        assert_problem(login(client, "wrong one!"), 401, "invalid_credentials")


def test_after_five_wrong_passwords_that_address_must_wait(client, alice, now):
    fail_five_times(client)
    rv = login(client, "wrong one!")
    body = assert_problem(rv, 429, "rate_limited")
    assert body["type"] == "/problems/rate_limited"
    assert rv.headers["Retry-After"] == "1"
    # Even the right password waits: the guesser cannot tell it from a wrong one.
    assert_problem(login(client, TEST_PASSWORD), 429)


def test_the_owner_logs_in_from_elsewhere_meanwhile(client, alice, now):
    limiter.enabled = True  # with the per-address limits on too, as in production
    fail_five_times(client)
    for _ in range(10):  # the guesser keeps going
        clock.freeze(clock.utcnow() + timedelta(minutes=20))
        assert_problem(login(client, "wrong one!"), 401)
    assert login(client, TEST_PASSWORD, address=OWNER).status_code == 200


def test_another_account_from_the_same_address_is_not_slowed(client, alice, bob, now):
    fail_five_times(client)
    assert login(client, TEST_PASSWORD, email="bob@example.com").status_code == 200


def test_the_wait_doubles_with_each_further_failure_up_to_the_maximum(client, app, alice, now):
    fail_five_times(client)
    waits = []
    for _ in range(12):
        rv = login(client, "wrong one!")
        assert rv.status_code == 429
        wait = int(rv.headers["Retry-After"])
        waits.append(wait)
        clock.freeze(clock.utcnow() + timedelta(seconds=wait))
        assert_problem(login(client, "wrong one!"), 401)
    maximum = app.config["LOGIN_BACKOFF_MAX"]
    assert waits == [min(2**n, maximum) for n in range(12)]
    assert waits[-1] == maximum == 900


def test_the_right_password_after_the_wait_clears_the_count(client, alice, now):
    fail_five_times(client)
    clock.freeze(now + timedelta(seconds=1))
    assert login(client, TEST_PASSWORD).status_code == 200
    fail_five_times(client)  # five free tries again
    assert login(client, "wrong one!").status_code == 429


def test_failures_are_forgotten_after_a_quiet_day(client, app, alice, now):
    fail_five_times(client)
    clock.freeze(now + timedelta(days=1, seconds=1))
    assert_problem(login(client, "wrong one!", address=OWNER), 401)  # sweeps the stale pair
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginFailures)) == 1
    fail_five_times(client)


def test_unknown_e_mails_are_slowed_alike(client, now):
    for _ in range(5):
        assert_problem(login(client, "wrong one!", email="nobody@example.com"), 401)
    assert_problem(login(client, "wrong one!", email="nobody@example.com"), 429)


def test_the_count_is_kept_in_the_database_without_the_e_mail_or_address(client, app, alice, now):
    fail_five_times(client)
    with app.app_context():
        (row,) = db.session.scalars(select(LoginFailures)).all()
        assert row.failures == 5 and row.blocked_until == now + timedelta(seconds=1)
        assert "alice" not in row.key and ATTACKER not in row.key


def test_parallel_failures_all_count(app, alice, postgres_only, now):
    results = run_parallel(app, [lambda c: login(c, "wrong one!").status_code for _ in range(8)])
    assert set(results) <= {401, 429}
    with app.app_context():
        assert db.session.scalar(select(LoginFailures.failures)) == results.count(401)
