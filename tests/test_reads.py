from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, update

from service.accounts.models import User
from service.common.reads import STANDALONE_WRITE, WriteInReadOnlyRequest
from service.extensions import db

from .conftest import recorded_statements


def isolation_levels(app):
    """The isolation level each statement meanwhile runs under."""
    return recorded_statements(
        app, lambda conn, _statement, _context: conn.get_execution_options().get("isolation_level")
    )


def test_a_read_only_route_runs_without_a_transaction_and_a_write_route_in_one(app, client, creator, alice):
    with isolation_levels(app) as reading:
        assert client.get("/v1/creators/cora/members", headers=creator.headers).status_code == 200
    with isolation_levels(app) as writing:
        assert client.post("/v1/creators/cora/follow", headers=alice.headers).status_code == 204
    assert reading and set(reading) == {"AUTOCOMMIT"}
    assert writing and "AUTOCOMMIT" not in writing


def test_a_write_in_a_read_only_request_is_refused_unless_it_stands_alone(app):
    nobody = update(User).where(User.id == uuid.uuid4()).values(display_name="x")
    with app.test_request_context("/v1/me"):
        app.preprocess_request()  # GET /v1/me is marked @reads_only
        with pytest.raises(WriteInReadOnlyRequest):
            db.session.execute(nobody)
        db.session.execute(nobody.execution_options(**{STANDALONE_WRITE: True}))
        db.session.rollback()


def test_an_answer_from_the_cache_takes_no_connection(app, client, creator):
    assert client.get("/v1/creators/cora").status_code == 200
    checkouts = []
    with app.app_context():
        engine = db.engine
    listener = lambda *_args: checkouts.append(1)  # noqa: E731
    event.listen(engine, "checkout", listener)
    try:
        assert client.get("/v1/creators/cora").status_code == 200
    finally:
        event.remove(engine, "checkout", listener)
    assert checkouts == []
