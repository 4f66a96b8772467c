"""Jobs through Redis: enqueued by the app, run by `flask worker` inside the app."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from service.extensions import db
from service.jobs import enqueue
from service.localpay.models import LocalObject


def record_marker(marker: str) -> None:
    """A job with a visible effect: one row, committed by the job itself."""
    db.session.add(LocalObject(id=marker, kind="test_job", data={}))
    db.session.commit()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis of this test's own, on a free port, gone afterwards."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed (Debian package redis-server)")
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def test_a_job_enqueued_through_redis_is_run_by_the_worker(app, redis_url, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    with app.app_context():
        enqueue(record_marker, "job-1")
        assert db.session.scalars(select(LocalObject).where(LocalObject.kind == "test_job")).all() == []
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalars(select(LocalObject.id).where(LocalObject.kind == "test_job")).all() == [
            "job-1"
        ]


def test_the_worker_needs_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL" in result.output
