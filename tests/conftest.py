"""Test app, database lifecycle and helpers.

The schema is built once per session by the Alembic migrations, exactly as in
production; every test then starts from empty tables. Set DATABASE_URL to run
the suite on PostgreSQL (the database is wiped first).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from service import create_app
from service.common import clock
from service.extensions import db, limiter

TEST_PASSWORD = "correct horse battery"


def _test_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _wipe_postgres(app: Flask) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    os.environ["DATABASE_URL"] = _test_database_url(tmp_path_factory)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
            # Cheap hashing keeps the suite fast; the production profile is checked apart.
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 1024,
        }
    )
    # Limits are built (so a test can switch them on) but off by default.
    limiter.enabled = False
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        _wipe_postgres(app)
    with app.app_context():
        flask_migrate.upgrade()
    return app


@pytest.fixture(autouse=True)
def _clean_state(app: Flask):
    yield
    clock.freeze(None)
    limiter.enabled = False
    limiter.reset()
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                db.session.execute(text(f"DELETE FROM {name}"))
        db.session.commit()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask):
    """An app context for tests that call services or query the database directly."""
    with app.app_context():
        yield
        db.session.rollback()


class Account(dict):
    """A signed-up user as the API returned it, plus a ready Authorization header."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self['access_token']}"}

    @property
    def id(self) -> str:
        return self["user"]["id"]


@pytest.fixture
def signup(client: FlaskClient) -> Callable[..., Account]:
    def _signup(
        email: str | None = None, password: str = TEST_PASSWORD, display_name: str = "Test User", **extra: Any
    ) -> Account:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        rv = client.post(
            "/v1/auth/signup",
            json={"email": email, "password": password, "display_name": display_name, **extra},
        )
        assert rv.status_code == 201, rv.get_json()
        return Account(rv.get_json(), email=email, password=password)

    return _signup


@pytest.fixture
def make_creator(client: FlaskClient) -> Callable[..., Account]:
    """Give an account a creator profile; the Account gains `handle`."""

    def _make(account: Account, handle: str | None = None, **fields: Any) -> Account:
        handle = handle or f"c_{uuid.uuid4().hex[:12]}"
        body = {
            "handle": handle,
            "display_name": account["user"]["display_name"],
            "currency": "eur",
            **fields,
        }
        rv = client.post("/v1/creators", json=body, headers=account.headers)
        assert rv.status_code == 201, rv.get_json()
        account["handle"] = rv.get_json()["handle"]
        account["creator"] = rv.get_json()
        return account

    return _make


@pytest.fixture
def creator(signup, make_creator) -> Account:
    return make_creator(signup(email="cora@example.com", display_name="Cora"), handle="cora")


@pytest.fixture
def make_offering(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Create an offering for a creator, with a price, published unless told otherwise."""

    def _make(
        owner: Account,
        kind: str = "membership",
        amount: int = 500,
        published: bool = True,
        price: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        rv = client.post(
            f"/v1/creators/{owner['handle']}/offerings",
            json={"kind": kind, "title": fields.pop("title", f"{kind} offering"), **fields},
            headers=owner.headers,
        )
        assert rv.status_code == 201, rv.get_json()
        offering = rv.get_json()
        if price is None:
            price = (
                {"type": "recurring", "interval": "month"} if kind == "membership" else {"type": "one_time"}
            )
        rv = client.post(
            f"/v1/offerings/{offering['id']}/prices", json={"amount": amount, **price}, headers=owner.headers
        )
        assert rv.status_code == 201, rv.get_json()
        offering["price"] = rv.get_json()
        if published:
            rv = client.post(f"/v1/offerings/{offering['id']}/publish", headers=owner.headers)
            assert rv.status_code == 200, rv.get_json()
        return offering

    return _make


@pytest.fixture
def alice(signup) -> Account:
    return signup(email="alice@example.com", display_name="Alice")


@pytest.fixture
def bob(signup) -> Account:
    return signup(email="bob@example.com", display_name="Bob")


def assert_problem(rv, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and code)."""
    assert rv.status_code == status, rv.get_data(as_text=True)
    assert rv.mimetype == "application/problem+json"
    body = rv.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    return body
