"""Background jobs through a transactional outbox.

A job is a module-level function taking JSON arguments (ids, never ORM objects). Call
`enqueue(fn, *args)` inside the unit of work that needs it: the job is a row of that
transaction, handed to the queue after it commits and dropped if it rolls back. The
queue is RQ when REDIS_URL is set (`flask worker` runs it), else a thread of this
process. Periodic jobs are listed in `service/periodic.py`. See `outbox.py` for how a
job runs exactly once.
"""

from __future__ import annotations

import threading

from flask import Flask

from .outbox import QUEUE, enqueue
from .queues import InProcessRunner, make_queue
from .schedule import PERIODIC, Periodic, Ticker

__all__ = ["Periodic", "enqueue", "init_app", "wait_idle"]


def init_app(app: Flask, periodic: list[Periodic]) -> None:
    app.extensions[QUEUE] = make_queue(app)
    app.extensions[PERIODIC] = periodic
    if isinstance(app.extensions[QUEUE], InProcessRunner) and app.config["JOBS_RUN_PERIODIC"]:
        # Without a worker, a serving process keeps the schedule (`make run`), from its first
        # request on: not in commands such as `flask db upgrade`. Tests tick it themselves.
        start = threading.Lock()

        @app.before_request
        def _keep_schedule() -> None:
            if "jobs.ticker" in app.extensions:
                return  # every request after the first: no lock taken
            with start:
                if "jobs.ticker" not in app.extensions:
                    app.extensions["jobs.ticker"] = Ticker(app).start()


def wait_idle(app: Flask) -> None:
    """Without Redis: return once the jobs handed to this process have run (for tests and
    commands that must see a job's effect)."""
    queue = app.extensions[QUEUE]
    if isinstance(queue, InProcessRunner):
        queue.wait_idle()
