"""`flask worker`: an RQ worker for the app's queue, and the schedule's ticker beside it."""

from __future__ import annotations

import logging
import time

from flask import Flask

from .outbox import sweep
from .queues import RedisQueue
from .schedule import Ticker, tick

log = logging.getLogger(__name__)


def work(app: Flask, *, burst: bool) -> None:
    """Run jobs until stopped; with `burst`, hand over what the outbox holds, run what the
    queue holds, and return. A Redis that goes away is waited for, not a reason to exit."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisUnavailable
    from redis.exceptions import TimeoutError as RedisTimeout
    from rq import SimpleWorker

    queue = app.extensions["jobs.queue"]
    if not isinstance(queue, RedisQueue):
        raise RuntimeError("flask worker needs REDIS_URL")
    if burst:
        with app.app_context():
            tick(app)
            sweep()
    ticker = None if burst else Ticker(app).start()
    wait = 1.0
    try:
        while True:
            # Blocking reads of the queue outlast the app's short socket timeouts.
            connection = Redis.from_url(app.config["REDIS_URL"], health_check_interval=30)
            try:
                # Jobs run in this process, one at a time: no fork inheriting the pool.
                SimpleWorker([queue.rq_queue(connection)], connection=connection).work(burst=burst)
                return
            except (RedisUnavailable, RedisTimeout) as error:
                if burst:
                    raise
                log.warning("Redis unavailable (%s); retrying in %.0f s", error, wait)
                time.sleep(wait)
                wait = min(wait * 2, 30.0)
    finally:
        if ticker is not None:
            ticker.stop()
