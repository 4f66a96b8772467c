from __future__ import annotations

import pytest
from sqlalchemy import select

from service.accounts.models import User
from service.common import security
from service.extensions import db

from .conftest import TEST_PASSWORD, assert_problem


def test_signup_returns_user_and_tokens(client):
    rv = client.post(
        "/v1/auth/signup",
        json={"email": "New.Person@Example.COM", "password": TEST_PASSWORD, "display_name": "  New Person "},
    )
    assert rv.status_code == 201
    body = rv.get_json()
    assert body["user"]["email"] == "new.person@example.com"
    assert body["user"]["display_name"] == "New Person"
    assert body["user"]["creator"] is None
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]


def test_signup_with_same_email_in_other_case_returns_409(client, alice):
    rv = client.post(
        "/v1/auth/signup", json={"email": "ALICE@example.com", "password": TEST_PASSWORD, "display_name": "A"}
    )
    assert_problem(rv, 409, "email_taken")


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short", "Length"),
        ("x" * 129, "Length"),
        ("qwertyuiop", "common"),
        ("Password123", "common"),
    ],
)
def test_signup_with_unacceptable_password_returns_422(client, password, reason):
    rv = client.post(
        "/v1/auth/signup", json={"email": "p@example.com", "password": password, "display_name": "P"}
    )
    body = assert_problem(rv, 422)
    assert "password" in body["errors"]


def test_signup_accepts_long_unicode_password_without_composition_rules(client):
    password = "ünïcödé pässphrase " * 6  # 114 characters, no digits or symbols needed
    rv = client.post(
        "/v1/auth/signup", json={"email": "u@example.com", "password": password, "display_name": "U"}
    )
    assert rv.status_code == 201
    rv = client.post("/v1/auth/login", json={"email": "u@example.com", "password": password})
    assert rv.status_code == 200


def test_signup_with_email_as_password_returns_422(client):
    rv = client.post(
        "/v1/auth/signup",
        json={
            "email": "someone.long@example.com",
            "password": "someone.long@example.com",
            "display_name": "S",
        },
    )
    assert_problem(rv, 422, "weak_password")


def test_signup_with_bad_email_returns_422_naming_the_field(client):
    rv = client.post(
        "/v1/auth/signup", json={"email": "not-an-email", "password": TEST_PASSWORD, "display_name": "X"}
    )
    body = assert_problem(rv, 422, "validation_failed")
    assert list(body["errors"]) == ["email"]


def test_signup_with_unknown_field_is_refused(client):
    rv = client.post(
        "/v1/auth/signup",
        json={"email": "x@example.com", "password": TEST_PASSWORD, "display_name": "X", "is_admin": True},
    )
    body = assert_problem(rv, 422)
    assert "is_admin" in body["errors"]


def test_password_is_stored_as_argon2id_hash(client, alice, ctx):
    user = db.session.scalar(select(User).where(User.email == "alice@example.com"))
    assert user.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in user.password_hash


def test_login_returns_tokens_for_any_email_case(client, alice):
    rv = client.post("/v1/auth/login", json={"email": " Alice@Example.com ", "password": TEST_PASSWORD})
    assert rv.status_code == 200
    assert rv.get_json()["user"]["id"] == alice.id


def test_login_answers_unknown_email_and_wrong_password_alike(client, alice):
    wrong = client.post("/v1/auth/login", json={"email": "alice@example.com", "password": "wrong password!"})
    unknown = client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong password!"}
    )
    a, b = assert_problem(wrong, 401), assert_problem(unknown, 401)
    for body in (a, b):
        body.pop("request_id")
    assert a == b


def test_login_for_unknown_email_costs_a_hash_verification(app, client, alice, monkeypatch):
    from service.common import security

    calls = []
    real = security._verify
    monkeypatch.setattr(security, "_verify", lambda *a: calls.append(1) or real(*a))
    client.post("/v1/auth/login", json={"email": "nobody@example.com", "password": "whatever123"})
    client.post("/v1/auth/login", json={"email": "alice@example.com", "password": "whatever123"})
    assert len(calls) == 2


def test_login_with_an_unknown_email_verifies_a_hash_like_a_known_one(client, alice, monkeypatch):
    """Both paths do the same argon2 work (one verification, same parameters), so timing cannot
    tell whether an account exists; asserted on the work done, not on a clock."""
    verified = []
    real = security._verify

    def spy(hasher, stored_hash, password):
        verified.append(stored_hash.rsplit("$", 2)[0])  # algorithm, version and parameters
        return real(hasher, stored_hash, password)

    monkeypatch.setattr(security, "_verify", spy)
    for email in ("alice@example.com", "nobody@example.com"):
        rv = client.post("/v1/auth/login", json={"email": email, "password": "not the password"})
        assert rv.status_code == 401
    known, unknown = verified
    assert known == unknown
    assert known.startswith("$argon2id$")


def test_login_rehashes_password_when_parameters_change(app, client, alice, ctx):
    before = db.session.scalar(select(User.password_hash).where(User.email == "alice@example.com"))
    app.config["ARGON2_TIME_COST"] = 2
    try:
        rv = client.post("/v1/auth/login", json={"email": "alice@example.com", "password": TEST_PASSWORD})
        assert rv.status_code == 200
    finally:
        app.config["ARGON2_TIME_COST"] = 1
    db.session.expire_all()
    after = db.session.scalar(select(User.password_hash).where(User.email == "alice@example.com"))
    assert after != before
    assert "t=2," in after


def test_production_hash_profile_is_owasp_argon2id(tmp_path):
    from service.config import load_config

    cfg = load_config(str(tmp_path))
    assert (cfg["ARGON2_MEMORY_KIB"], cfg["ARGON2_TIME_COST"], cfg["ARGON2_PARALLELISM"]) == (19456, 2, 1)
