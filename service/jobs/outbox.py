"""Writing jobs, running them once, and finding the ones a queue lost.

`enqueue()` adds a row to the caller's transaction; the session's after-commit hook
hands the new due rows to the queue (a rollback drops them with everything else).
`run_job()` claims a row with a lease, runs its function and marks it done in the
function's own transaction, so a job that does not commit by itself takes effect
exactly once however often it is handed over. `sweep()` hands over again what is due
and not done: rows the queue never got (Redis down) and rows whose worker died.
"""

from __future__ import annotations

import importlib
import logging
import random
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..common import clock
from ..common.db import insert_or_ignore
from ..extensions import db
from .models import Job

log = logging.getLogger(__name__)

_NEW = "jobs.new"  # session.info: ids of due jobs this transaction wrote
QUEUE = "jobs.queue"  # app.extensions: where due jobs are handed (RQ or the in-process runner)
# A job that failed waits 10 s, 20 s, 40 s … at most an hour (±20 %), then is given up.
FIRST_RETRY = timedelta(seconds=10)
LAST_RETRY = timedelta(hours=1)
KEEP_FINISHED = timedelta(days=7)

# A plain table insert run with the row as parameters: compiled once, and past the ORM's
# bulk-insert bookkeeping, which a row the session never loads does not need.
_INSERT_JOB = insert(cast(Table, Job.__table__))


def job_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def enqueue(
    fn: Callable[..., Any],
    *args: Any,
    key: str | None = None,
    delay: timedelta | None = None,
    max_attempts: int = 10,
) -> uuid.UUID | None:
    """Add the job `fn(*args)` to the current transaction; it is handed to the queue once
    that commits. With `key`, a job of that key that exists already wins and None is
    returned. `args` must be JSON (ids as strings)."""
    now = clock.utcnow()
    job_id = uuid.uuid4()
    row = {
        "id": job_id,
        "name": job_name(fn),
        "args": list(args),
        "key": key,
        "state": "pending",
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": now + (delay or timedelta(0)),
        "created_at": now,
    }
    if key is None:
        db.session.execute(_INSERT_JOB, row)
    elif not insert_or_ignore(db.session, Job, row):
        return None
    if not delay:
        db.session.info.setdefault(_NEW, []).append(job_id)
    return job_id


def hand_over(ids: Iterable[uuid.UUID]) -> None:
    """Give due jobs to the queue. Never raises: what the queue does not take, the sweep
    hands over later, and the work that wrote the rows is committed already."""
    ids = list(ids)
    if not ids:
        return
    try:
        current_app.extensions[QUEUE].hand_over(ids)
    except Exception:
        log.warning("queue did not take %d jobs; the sweep will hand them over", len(ids), exc_info=True)


def run_job(job_id: str) -> None:
    """What a queue message means: claim the job, run it, record the result."""
    claimed = _claim(uuid.UUID(job_id))
    if claimed is None:
        return  # done already, or another worker holds a live lease on it
    name, args, attempt, max_attempts = claimed
    try:
        resolve(name)(*args)
        finished = db.session.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job_id), Job.state == "running", Job.attempts == attempt)
            .values(state="done", finished_at=clock.utcnow(), lease_until=None, last_error=None)
        )
        if finished.rowcount != 1:  # type: ignore[attr-defined]
            # Our lease ran out and another worker took the job: its run is the one that counts.
            db.session.rollback()
            return
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        log.exception("job %s (%s) failed on attempt %d", name, job_id, attempt)
        _fail(uuid.UUID(job_id), attempt, error, last=attempt >= max_attempts)


def resolve(name: str) -> Callable[..., Any]:
    module, _, qualname = name.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), qualname)
    return fn


def _claim(job_id: uuid.UUID) -> tuple[str, list[Any], int, int] | None:
    now = clock.utcnow()
    lease = timedelta(seconds=current_app.config["JOBS_LEASE_SECONDS"])
    row = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.run_at <= now, _free(now))
        .values(state="running", attempts=Job.attempts + 1, lease_until=now + lease)
        .returning(Job.name, Job.args, Job.attempts, Job.max_attempts)
    ).first()
    db.session.commit()
    return None if row is None else (row.name, list(row.args), row.attempts, row.max_attempts)


def _free(now: datetime) -> Any:
    """Pending, or running under a lease that ran out (its worker died)."""
    return or_(Job.state == "pending", and_(Job.state == "running", Job.lease_until < now))


def _fail(job_id: uuid.UUID, attempt: int, error: Exception, *, last: bool) -> None:
    now = clock.utcnow()
    wait = min(FIRST_RETRY * 2 ** (attempt - 1), LAST_RETRY) * random.uniform(0.8, 1.2)  # noqa: S311
    db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running", Job.attempts == attempt)
        .values(
            state="dead" if last else "pending",
            run_at=now + wait,
            lease_until=None,
            last_error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=now if last else None,
        )
    )
    db.session.commit()


def sweep(limit: int = 1000) -> int:
    """Job, every minute: hand over due jobs the queue may not have, and those whose
    worker died. A job that was written a moment ago is left to its own hand-over."""
    now = clock.utcnow()
    grace = timedelta(seconds=current_app.config["JOBS_REHAND_SECONDS"])
    lost = and_(
        Job.state == "pending",
        Job.created_at < now - grace,
        or_(Job.handed_at.is_(None), Job.handed_at < now - grace),
    )
    abandoned = and_(Job.state == "running", Job.lease_until < now)
    ids = list(
        db.session.scalars(
            select(Job.id).where(Job.run_at <= now, or_(lost, abandoned)).order_by(Job.run_at).limit(limit)
        )
    )
    if ids:
        db.session.execute(update(Job).where(Job.id.in_(ids)).values(handed_at=now))
    db.session.commit()
    hand_over(ids)
    return len(ids)


def purge_finished() -> int:
    """Job, daily: forget jobs that finished a week ago."""
    result = db.session.execute(
        delete(Job).where(Job.state.in_(("done", "dead")), Job.finished_at < clock.utcnow() - KEEP_FINISHED)
    )
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def counts() -> dict[str, int]:
    """Jobs by state, and how many open ones are overdue by more than a minute."""
    found = {state: 0 for state in ("pending", "running", "done", "dead")}
    found.update(
        {
            state: count
            for state, count in db.session.execute(select(Job.state, func.count()).group_by(Job.state))
        }
    )
    found["overdue"] = (
        db.session.scalar(
            select(func.count()).where(
                Job.state.in_(("pending", "running")), Job.run_at < clock.utcnow() - timedelta(minutes=1)
            )
        )
        or 0
    )
    return found


def _register_session_hooks() -> None:
    from sqlalchemy import event

    @event.listens_for(Session, "after_commit")
    def _hand_over_new(session: Session) -> None:
        hand_over(session.info.pop(_NEW, []))

    @event.listens_for(Session, "after_rollback")
    def _forget_new(session: Session) -> None:
        session.info.pop(_NEW, None)


_register_session_hooks()
