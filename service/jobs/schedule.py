"""Periodic jobs, once per period however many processes keep the schedule.

Every worker ticks the schedule; a tick writes, for each periodic job, the job of the
current time slot under the key `every:<name>:<slot>`. The key is unique in the outbox,
so the first tick of a slot wins and the others add nothing: the database is the lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask

from ..common import clock
from ..extensions import db
from .outbox import enqueue, job_name

log = logging.getLogger(__name__)

PERIODIC = "jobs.periodic"  # app.extensions: the schedule (service/periodic.py fills it)
TICK_SECONDS = 10


@dataclass(frozen=True)
class Periodic:
    fn: Callable[[], Any]
    every: timedelta


def tick(app: Flask) -> int:
    """Write the due slot of every periodic job that has none yet; how many were new."""
    now = clock.utcnow().timestamp()
    written = 0
    for periodic in app.extensions[PERIODIC]:
        seconds = int(periodic.every.total_seconds())
        slot = int(now // seconds) * seconds
        key = f"every:{job_name(periodic.fn)}:{slot}"
        # Retrying a periodic job past its next slot is pointless: the next slot does it.
        written += enqueue(periodic.fn, key=key, max_attempts=1) is not None
    db.session.commit()
    return written


class Ticker:
    """A daemon thread ticking the schedule every TICK_SECONDS, in its own app context."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="schedule", daemon=True)

    def start(self) -> Ticker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                with self.app.app_context():
                    tick(self.app)
            except Exception:
                log.exception("schedule tick failed; trying again in %d s", TICK_SECONDS)
            self.stopped.wait(TICK_SECONDS)
