"""gunicorn settings; environment variables override the defaults."""

import gc
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# The work is CPU-bound Python: a few sync workers beat many on a small box.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "sync"
# One request at a time per worker unless threads are asked for; the database pool is sized
# from the same variable (service/config.py).
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# A worker is replaced after this many requests (a bound on any slow leak). Starting one
# costs ~2 s of CPU (importing the app): at 5 000 requests that was paid every few seconds
# under load, a third of /healthz's throughput on 2 cores (1 770 vs 2 650 req/s, wrk -c8).
max_requests = 100_000
max_requests_jitter = 10_000
accesslog = "-" if os.environ.get("ACCESS_LOG", "true").lower() != "false" else None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Past these gunicorn answers 400/414/431 itself, in HTML. The app refuses a little earlier
# (MAX_URL_LENGTH, MAX_HEADER_LENGTH, MAX_HEADER_COUNT) with problem+json, so only a request
# in the last few bytes below gunicorn's limits, or beyond them, meets gunicorn's own page.
limit_request_line = 8190  # gunicorn's maximum; long cursors and filters fit
limit_request_fields = 100
limit_request_field_size = 8190


def post_worker_init(worker):
    """Importing the app leaves ~180 000 objects that live as long as the worker (models,
    metadata, routes, schemas). Each full garbage collection walked them all: 110-125 ms,
    every few hundred requests, which set the p99 of the list routes. Frozen once loaded,
    they are never scanned again, and a full collection takes ~1.5 ms."""
    gc.collect()
    gc.freeze()
