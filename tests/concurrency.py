"""Race tests: run requests truly in parallel against the app.

Each call gets its own test client and its own thread; a barrier releases them
together, so their transactions overlap in the database as concurrent requests
do in production.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient

T = TypeVar("T")

POSTGRES_ONLY_REASON = (
    "needs PostgreSQL: SQLite has no row locks and lets one writer at a time hold the whole "
    "database, so parallel requests queue up instead of racing as they do in production"
)


def run_parallel(app: Flask, calls: Sequence[Callable[[FlaskClient], T]], timeout: float = 30) -> list[T]:
    """Run each call with its own test client, all released at once; their results, in order.

    An exception raised by a call is raised here, so a failing thread fails the test.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[[FlaskClient], T]) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout)
            results[index] = call(client)
        except BaseException as exc:  # handed to the test's thread below
            errors[index] = exc

    threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"a parallel call did not finish within {timeout} s")
    for error in errors:
        if error is not None:
            raise error
    return results


@pytest.fixture
def postgres_only(app: Flask) -> None:
    """Skip the test unless the app runs on PostgreSQL (use it as an argument or with usefixtures)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip(POSTGRES_ONLY_REASON)
