"""Where due jobs are handed: RQ in production, a thread of this process without Redis.

Either way a queue message carries only a job id; `outbox.run_job` decides from the
row whether there is anything to do, so a message delivered twice, or late, is harmless.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

QUEUE_NAME = "jobs"


class RedisQueue:
    """RQ on REDIS_URL. Short socket timeouts: with Redis down, a committed request
    answers at once, and its jobs wait in the outbox for the sweep."""

    def __init__(self, app: Flask) -> None:
        from redis import Redis

        self.app = app
        self.connection = Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=0.5, socket_timeout=2, health_check_interval=30
        )

    def rq_queue(self, connection: Any = None) -> Any:
        from rq import Queue

        return Queue(QUEUE_NAME, connection=connection or self.connection)

    def hand_over(self, ids: Iterable[uuid.UUID]) -> None:
        lease = self.app.config["JOBS_LEASE_SECONDS"]
        rq_queue = self.rq_queue()
        with rq_queue.connection.pipeline() as pipe:
            for job_id in ids:
                rq_queue.enqueue_call(
                    run_queued,
                    args=(str(job_id),),
                    timeout=lease,
                    result_ttl=0,
                    failure_ttl=24 * 3600,
                    pipeline=pipe,
                )
            pipe.execute()


class InProcessRunner:
    """Without Redis (`make run`, tests): one thread runs handed-over jobs in order,
    each in its own app context, after the request that wrote them has committed."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pending: queue.Queue[uuid.UUID] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def hand_over(self, ids: Iterable[uuid.UUID]) -> None:
        for job_id in ids:
            self.pending.put(job_id)
        self._ensure_thread()

    def wait_idle(self) -> None:
        """Return once every job handed over so far (and any they wrote) has run."""
        self.pending.join()

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        from .outbox import run_job

        while True:
            job_id = self.pending.get()
            try:
                with self.app.app_context():
                    run_job(str(job_id))
            except Exception:
                log.exception("job %s could not be run", job_id)
            finally:
                self.pending.task_done()


def make_queue(app: Flask) -> RedisQueue | InProcessRunner:
    return RedisQueue(app) if app.config["REDIS_URL"] else InProcessRunner(app)


def run_queued(job_id: str) -> None:
    """The function RQ calls: each job in a fresh app context (and so a fresh session)."""
    from flask import current_app

    from .outbox import run_job

    with current_app._get_current_object().app_context():  # type: ignore[attr-defined]
        run_job(job_id)
