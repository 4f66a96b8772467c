"""Background jobs: `enqueue()` hands work to RQ when REDIS_URL is set, and runs
it inline otherwise, so development and tests need nothing but the app.

A job is a module-level function that takes ids, not ORM objects, and runs in
its own app context (and so its own database session), committing its own work.
Call `enqueue()` once what the job reads is committed; from inside a unit of
work (a service, a signal receiver), `enqueue_after_commit()` waits for its commit.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run `func(*args, **kwargs)` in a worker (RQ) or, without Redis, right now."""
    redis_url = current_app.config["REDIS_URL"]
    name = f"{func.__module__}:{func.__qualname__}"
    if redis_url:
        from redis import Redis
        from rq import Queue

        Queue(connection=Redis.from_url(redis_url)).enqueue(run, name, args, kwargs)
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        _call(app, name, args, kwargs)
    except Exception:
        # The caller's work is already committed; a failed job is retried, not the request.
        log.exception("inline job %s failed", name)


def run(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Entry point of an RQ job: the job by its dotted name, in the app of `flask worker`."""
    _call(current_app._get_current_object(), name, args, kwargs)  # type: ignore[attr-defined]


def work(*, burst: bool) -> None:
    """Run an RQ worker on the app's queue, inside the app (see `flask worker`)."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    connection = Redis.from_url(current_app.config["REDIS_URL"])
    # Jobs run in this process, one at a time: no fork inheriting the database pool
    # and the app context.
    SimpleWorker([Queue(connection=connection)], connection=connection).work(burst=burst)


def _call(app: Flask, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    module, _, qualname = name.partition(":")
    func = getattr(importlib.import_module(module), qualname)
    with app.app_context():
        func(*args, **kwargs)


def enqueue_after_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Like `enqueue()`, but only once the current transaction commits (never if it rolls back).

    For work decided deep inside a unit of work — a signal receiver, say — whose
    job must see the committed rows and must not run for a change that failed.
    """
    from .extensions import db

    pending = db.session.info.setdefault("jobs_after_commit", [])
    pending.append((func, args, kwargs))


def _register_session_hooks() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    @event.listens_for(Session, "after_commit")
    def _run_pending(session: Session) -> None:
        for func, args, kwargs in session.info.pop("jobs_after_commit", []):
            enqueue(func, *args, **kwargs)

    @event.listens_for(Session, "after_rollback")
    def _drop_pending(session: Session) -> None:
        session.info.pop("jobs_after_commit", None)


_register_session_hooks()
