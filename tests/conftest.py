"""Test app, database lifecycle, accounts and shops through the API.

The schema is built once per session by the Alembic migrations, exactly as in
production; every test then starts from empty tables. Set DATABASE_URL to run
the suite on PostgreSQL (the database is wiped first).

Each fixture that makes something (`signup`, `make_creator`, `make_offering`) wraps a plain
function of the same job (`sign_up`, `create_creator`, `create_offering`) that builders
without fixtures can call. The fake Stripe's fixtures (`stripe_mode`, `seller`, `tiers`,
`product`) and `postgres_only` are registered here for every module. More helpers:
tests/billing_helpers.py (checkouts and reads), tests/fake_stripe.py (Stripe mode),
tests/factories.py (state through the services, without HTTP).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

import flask_migrate
import pytest
from flask import Flask, has_request_context
from flask.testing import FlaskClient
from sqlalchemy import event as sqla_event
from sqlalchemy import make_url, select, text
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.orm import Session

from service import create_app, jobs
from service.common import cache, clock
from service.extensions import db, limiter
from service.jobs.outbox import QUEUE

from .concurrency import postgres_only  # noqa: F401 (fixture for every module)
from .fake_stripe import fake_stripe, product, seller, stripe_mode, tiers  # noqa: F401 (fixtures)

TEST_PASSWORD = "correct horse battery"
T = TypeVar("T")


def _test_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """TEST_DATABASE_URL, else a DATABASE_URL whose database is named as a test one, else a
    fresh SQLite file. The suite wipes the database it runs on, so the one exported for
    `make run` must never be taken by accident."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    url = os.environ.get("DATABASE_URL")
    if url:
        name = make_url(url).database or ""
        if "test" not in name:
            pytest.exit(
                f"DATABASE_URL names the database {name!r}, which the suite would wipe: set "
                "TEST_DATABASE_URL, or use a database whose name contains 'test'",
                returncode=2,
            )
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _quick_commits(app: Flask) -> None:
    """Commits of the suite do not wait for the disk (SQLite `synchronous=OFF`, PostgreSQL
    `synchronous_commit=off`): speed only. Transactions, their locks and what they see are
    unchanged; a crash could lose the last commits, and the suite starts afresh anyway."""
    statement = {"sqlite": "PRAGMA synchronous=OFF", "postgresql": "SET synchronous_commit TO off"}

    def relax(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement[engine.dialect.name])
        cursor.close()
        if engine.dialect.name == "postgresql":
            dbapi_connection.commit()

    with app.app_context():
        engine = db.engine
    sqla_event.listen(engine, "connect", relax)
    engine.dispose()


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
            # The schedule runs when a test ticks it, never behind its back.
            "JOBS_RUN_PERIODIC": False,
            # The sites the tests' buyers and creators come back to.
            "ALLOWED_REDIRECT_ORIGINS": ["https://app.example", "https://app.example.com"],
        }
    )
    app.test_client_class = JobsWaitingClient
    _wait_for_jobs_after_test_commits(app)
    # Limits are built (so a test can switch them on) but off by default.
    limiter.enabled = False
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        _wipe_postgres(app)
    _quick_commits(app)
    with app.app_context():
        flask_migrate.upgrade()
    return app


def _tables_with_rows(tables: list[str]) -> list[str]:
    """Which of the tables hold rows, in one query (most tests touch a handful)."""
    probes = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in tables)
    found = {row[0] for row in db.session.execute(text(probes))}
    return [name for name in tables if name in found]


def empty_tables() -> None:
    """Delete every row of every table, in one transaction (inside an app context). Only the
    tables that hold rows are touched. PostgreSQL truncates them in one statement: a DELETE
    re-checks foreign keys row by row, and thousands of users against a table of thousands
    of dead messages outlast the statement timeout."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    filled = _tables_with_rows(tables)
    if filled and db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(filled)} CASCADE"))
    else:
        for name in filled:  # children first: foreign keys stay satisfied
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()


_BUILT: dict[str, tuple[dict[str, list[dict[str, Any]]], Any]] = {}


def built_once(app: Flask, key: str, build: Callable[[], T]) -> T:
    """A costly starting state shared by many tests: `build()` runs for the first test that
    asks for `key`; each later one starts from a copy of the rows it left (every table, through
    SQLAlchemy Core, so any database) and of what it returned. Tests still clean up after
    themselves, so one may write. Only for state that lives in the database: the clock, the
    limiter, monkeypatches and the fake Stripe are not copied (set them again after this), and
    the build must start from empty tables (ask for the fixture before any that writes)."""
    if key not in _BUILT:
        made = build()
        with app.app_context():
            saved = {
                # Generated columns are the database's to fill, and it refuses copies of them.
                table.name: [
                    dict(row._mapping)
                    for row in db.session.execute(select(*(c for c in table.c if c.computed is None)))
                ]
                for table in db.metadata.sorted_tables
            }
        _BUILT[key] = ({name: found for name, found in saved.items() if found}, copy.deepcopy(made))
        return made
    saved, made = _BUILT[key]
    with app.app_context():
        for table in db.metadata.sorted_tables:  # parents first
            if table.name in saved:
                db.session.execute(table.insert(), saved[table.name])
        if db.engine.dialect.name == "postgresql":
            _catch_up_sequences(saved)
        db.session.commit()
    return copy.deepcopy(made)  # type: ignore[no-any-return]


def _catch_up_sequences(saved: dict[str, list[dict[str, Any]]]) -> None:
    """Copied rows keep their integer ids: move each sequence past them."""
    for table in db.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if table.name in saved and column.autoincrement is True:
                db.session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"(SELECT max({column.name}) FROM {table.name}))"
                    )
                )


def _wait_for_jobs_after_test_commits(app: Flask) -> None:
    """A test that commits outside a request (a factory, a service called directly) sees the
    effect of the jobs its commit wrote once the commit returns. Requests are not made to
    wait (their jobs stay off the request thread; JobsWaitingClient waits after them), nor
    is the jobs thread itself."""

    @sqla_event.listens_for(Session, "after_commit")
    def _wait(session: Session) -> None:
        if not has_request_context() and threading.current_thread().name != "jobs":
            jobs.wait_idle(app)


class JobsWaitingClient(FlaskClient):
    """Jobs run off the request thread, after the request; a test reads their effect only
    once the jobs its request wrote have run, as a client that polls would."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        jobs.wait_idle(self.application)
        return response


@pytest.fixture(autouse=True)
def _clear_of_midnight() -> None:
    """Follows schedule their day's follower digest for the next UTC midnight, and many
    tests move the clock on by minutes (a digest period, a retry's wait). Begun in the last
    hour of a day, such a move also passes midnight and runs that digest too: a test begun
    then runs an hour behind real time instead, the clock still ticking."""
    now = clock.utcnow()
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
    if midnight - now < timedelta(hours=1):
        clock.shift(-timedelta(hours=1))


@pytest.fixture(autouse=True)
def _clean_state(app: Flask):
    yield
    jobs.wait_idle(app)
    clock.freeze(None)
    clock.shift(None)
    limiter.enabled = False
    limiter.reset()
    with app.app_context():
        empty_tables()
    # The rows went without the ORM seeing them, so no version was bumped: start the
    # shared cache afresh too.
    app.extensions[cache.EXTENSION] = cache.MemoryCache()


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


def sign_up(
    client: FlaskClient,
    email: str | None = None,
    password: str = TEST_PASSWORD,
    display_name: str = "Test User",
    **extra: Any,
) -> Account:
    """POST /v1/auth/signup (a fresh e-mail unless given); the account with its tokens."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    rv = client.post(
        "/v1/auth/signup",
        json={"email": email, "password": password, "display_name": display_name, **extra},
    )
    assert rv.status_code == 201, rv.get_json()
    return Account(rv.get_json(), email=email, password=password)


def log_in(client: FlaskClient, account: Account) -> Account:
    """Log the account in again: a fresh access token (one lasts 15 minutes of clock time)."""
    rv = client.post("/v1/auth/login", json={"email": account["email"], "password": account["password"]})
    assert rv.status_code == 200, rv.get_json()
    account.update(rv.get_json())
    return account


def create_creator(
    client: FlaskClient, account: Account, handle: str | None = None, **fields: Any
) -> Account:
    """Give an account a creator profile (eur unless told); the Account gains `handle` and `creator`."""
    body = {
        "handle": handle or f"c_{uuid.uuid4().hex[:12]}",
        "display_name": account["user"]["display_name"],
        "currency": "eur",
        **fields,
    }
    rv = client.post("/v1/creators", json=body, headers=account.headers)
    assert rv.status_code == 201, rv.get_json()
    account["handle"] = rv.get_json()["handle"]
    account["creator"] = rv.get_json()
    return account


def create_offering(
    client: FlaskClient,
    owner: Account,
    kind: str = "membership",
    amount: int = 500,
    published: bool = True,
    price: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An offering of the owner's, with one price (monthly for memberships, one-off otherwise)
    under `price`, published unless told otherwise."""
    rv = client.post(
        f"/v1/creators/{owner['handle']}/offerings",
        json={"kind": kind, "title": fields.pop("title", f"{kind} offering"), **fields},
        headers=owner.headers,
    )
    assert rv.status_code == 201, rv.get_json()
    offering = rv.get_json()
    if price is None:
        price = {"type": "recurring", "interval": "month"} if kind == "membership" else {"type": "one_time"}
    rv = client.post(
        f"/v1/offerings/{offering['id']}/prices", json={"amount": amount, **price}, headers=owner.headers
    )
    assert rv.status_code == 201, rv.get_json()
    offering["price"] = rv.get_json()
    if published:
        rv = client.post(f"/v1/offerings/{offering['id']}/publish", headers=owner.headers)
        assert rv.status_code == 200, rv.get_json()
    return offering


@pytest.fixture
def signup(client: FlaskClient) -> Callable[..., Account]:
    """`signup(email=None, password=..., display_name=...)`: a new account through the API."""
    return functools.partial(sign_up, client)


@pytest.fixture
def make_creator(client: FlaskClient) -> Callable[..., Account]:
    """`make_creator(account, handle=None, **fields)`: give an account a creator profile."""
    return functools.partial(create_creator, client)


@pytest.fixture
def creator(signup, make_creator) -> Account:
    return make_creator(signup(email="cora@example.com", display_name="Cora"), handle="cora")


@pytest.fixture
def make_offering(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """`make_offering(owner, kind="membership", amount=500, published=True, price=None, **fields)`."""
    return functools.partial(create_offering, client)


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


@contextlib.contextmanager
def recorded_statements(
    app: Flask, what: Callable[[Any, str, Any], Any] = lambda _conn, statement, _context: statement
) -> Iterator[list[Any]]:
    """The SQL statements the app's engine runs meanwhile (or `what(connection, statement,
    execution context)` of each)."""
    seen: list[Any] = []

    def record(conn, _cursor, statement, _parameters, context, _many) -> None:
        seen.append(what(conn, statement, context))

    with app.app_context():
        engine = db.engine
    sqla_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sqla_event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def request_statements(
    app: Flask, what: Callable[[Any, str, Any], Any] = lambda _conn, statement, _context: statement
) -> Iterator[list[Any]]:
    """The SQL statements of the block's requests (or `what` of each, as in
    `recorded_statements`) without those of the jobs they write. The jobs wait for the block
    to end and run then, as they would have: they run off the request, and may rightly do
    more for more data (a broadcast's fan-out)."""
    held: list[uuid.UUID] = []
    queue = app.extensions[QUEUE]
    app.extensions[QUEUE] = SimpleNamespace(hand_over=held.extend)
    try:
        with recorded_statements(app, what) as seen:
            yield seen
    finally:
        app.extensions[QUEUE] = queue
        queue.hand_over(held)
        jobs.wait_idle(app)


@contextlib.contextmanager
def compiled_anew(app: Flask) -> Iterator[list[str]]:
    """The SQL of the block's requests that SQLAlchemy compiled afresh instead of taking it
    from its compiled cache (filled when the block ends, which must have run some SQL)."""
    compiled: list[str] = []
    with request_statements(app, lambda _conn, sql, context: (context.cache_hit, sql)) as seen:
        yield compiled
    assert seen, "the block ran no SQL"
    compiled.extend(sql for hit, sql in seen if hit is not CACHE_HIT)
