"""A small cache shared by the workers: Redis when REDIS_URL is set, else this process's memory.

What it holds must be safe to lose and to read slightly stale: every entry has a
time to live, and a Redis that fails is a miss (logged), never an error. With
process memory each worker has its own copy, so an invalidation reaches only the
worker that made it and the others wait for the time to live; deployments with
several workers set REDIS_URL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

EXTENSION = "cache"
_PENDING = "cache_versions_to_bump"
log = logging.getLogger(__name__)


class Cache(Protocol):
    def get_many(self, *keys: str) -> list[bytes | None]: ...

    def set(self, key: str, value: bytes, ttl: int) -> None: ...

    def incr(self, key: str) -> None: ...


class MemoryCache:
    # Counters expire too, so a process's memory does not grow with every key ever bumped.
    COUNTER_TTL = 24 * 3600

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get_many(self, *keys: str) -> list[bytes | None]:
        now = time.monotonic()
        with self._lock:
            found = [self._items.get(key) for key in keys]
        return [item[1] if item and item[0] > now else None for item in found]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, value)

    def incr(self, key: str) -> None:
        with self._lock:
            expires, value = self._items.get(key, (0.0, b"0"))
            now = time.monotonic()
            count = int(value) + 1 if expires > now else 1
            self._items[key] = (now + self.COUNTER_TTL, str(count).encode())


class RedisCache:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def get_many(self, *keys: str) -> list[bytes | None]:
        try:
            return [v if v is None or isinstance(v, bytes) else v.encode() for v in self._redis.mget(keys)]
        except redis.RedisError as exc:
            log.warning("cache read failed: %s", exc)
            return [None] * len(keys)

    def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            self._redis.set(key, value, ex=ttl)
        except redis.RedisError as exc:
            log.warning("cache write failed: %s", exc)

    def incr(self, key: str) -> None:
        try:
            self._redis.incr(key)
        except redis.RedisError as exc:
            log.warning("cache invalidation failed, entries live out their time: %s", exc)


def init_cache(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    app.extensions[EXTENSION] = RedisCache(url) if url else MemoryCache()


def current_cache() -> Cache:
    cache: Cache = current_app.extensions[EXTENSION]
    return cache


def versioned(key: str, version_key: str, ttl: int, render: Callable[[], bytes]) -> bytes:
    """The value kept under `key` while the counter at `version_key` is what it was when the
    value was stored; else `render()`'s, stored under the counter as read before rendering,
    so a value rendered while a change commits is never served after that change's bump."""
    cache = current_cache()
    entry, version = cache.get_many(key, version_key)
    version = version or b"0"
    stored_version, _, value = (entry or b"").partition(b"\n")
    if entry is not None and stored_version == version:
        return value
    value = render()
    cache.set(key, version + b"\n" + value, ttl)
    return value


def bump_on_commit(session: Session, *version_keys: str) -> None:
    """Advance these version counters once the session's transaction commits (not before:
    a reader in between would store what it read under the new version), and not at all
    if it rolls back."""
    if version_keys:
        session.info.setdefault(_PENDING, set()).update(version_keys)


@event.listens_for(Session, "after_commit")
def _bump_versions(session: Session) -> None:
    keys = session.info.pop(_PENDING, None)
    if keys and has_app_context():
        cache = current_cache()
        for key in keys:
            cache.incr(key)


@event.listens_for(Session, "after_rollback")
def _forget_versions(session: Session) -> None:
    session.info.pop(_PENDING, None)
