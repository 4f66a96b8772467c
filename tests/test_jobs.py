"""Jobs through real Redis, run by `flask worker` processes that a test starts and kills."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from service.accounts.models import User
from service.common import clock
from service.creators.models import Creator
from service.extensions import db
from service.followers.models import Follow
from service.jobs import outbox
from service.jobs.models import Job
from service.jobs.queues import RedisQueue
from service.localpay.models import LocalObject
from service.messaging.models import Broadcast, Message

from .sample_jobs import record

ROOT = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, on a free port; can be stopped and started again."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is needed (Debian package redis-server)")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],  # noqa: S607
            stdout=subprocess.DEVNULL,
        )
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    return redis_server.url


@pytest.fixture
def through_redis(app, redis_server, monkeypatch) -> RedisServer:
    """The app hands jobs to RQ on the test's Redis, with a short lease for dead workers."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_server.url)
    monkeypatch.setitem(app.config, "JOBS_LEASE_SECONDS", LEASE_SECONDS)
    monkeypatch.setitem(app.config, "JOBS_REHAND_SECONDS", 1)
    monkeypatch.setitem(app.extensions, outbox.QUEUE, RedisQueue(app))
    return redis_server


def start_worker(app, redis_url: str, *flags: str) -> subprocess.Popen[bytes]:
    """`flask worker` in a process of its own, on the test's database and Redis."""
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "JOBS_LEASE_SECONDS": str(LEASE_SECONDS),
        "JOBS_REHAND_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("TEST_DATABASE_URL", None)
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "flask", "worker", *flags], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )


def run_burst(app, redis_url: str) -> None:
    worker = start_worker(app, redis_url, "--burst")
    assert worker.wait(120) == 0


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


def runs(app, marker: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(LocalObject.kind == f"job:{marker}")) or 0


def state_of(app, job_id) -> str:
    with app.app_context():
        return db.session.scalar(select(Job.state).where(Job.id == job_id)) or ""


def enqueue_committed(app, *args, **kwargs):
    with app.app_context():
        job_id = outbox.enqueue(*args, **kwargs)
        db.session.commit()
        return job_id


@pytest.mark.slow
def test_a_job_handed_to_redis_is_run_by_a_worker_process(app, through_redis):
    job_id = enqueue_committed(app, record, "through-rq")
    assert runs(app, "through-rq") == 0  # waiting in Redis, not run in this process
    run_burst(app, through_redis.url)
    assert runs(app, "through-rq") == 1 and state_of(app, job_id) == "done"


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_it_to_the_next_worker_and_it_takes_effect_once(app, through_redis):
    job_id = enqueue_committed(app, record, "killed", 1.5)
    worker = start_worker(app, through_redis.url)
    try:
        wait_for(lambda: state_of(app, job_id) == "running")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        worker.kill()
    assert runs(app, "killed") == 0  # its uncommitted work died with it
    time.sleep(LEASE_SECONDS + 1)  # the dead worker's lease runs out
    run_burst(app, through_redis.url)  # the sweep hands the job over again
    assert runs(app, "killed") == 1 and state_of(app, job_id) == "done"
    with app.app_context():
        assert db.session.get(Job, job_id).attempts == 2


@pytest.mark.slow
def test_with_redis_down_committed_requests_succeed_and_their_jobs_run_once_it_is_back(
    app, client, through_redis, creator, signup
):
    fan = signup()
    assert client.post("/v1/creators/cora/follow", headers=fan.headers).status_code == 204
    through_redis.stop()
    answers = [
        client.post(
            "/v1/creators/cora/broadcasts",
            json={"body": f"While Redis is down {i}", "audience": "followers"},
            headers=creator.headers,
        )
        for i in range(3)
    ]
    assert [rv.status_code for rv in answers] == [202, 202, 202], [rv.get_json() for rv in answers]
    with app.app_context():
        assert db.session.scalars(select(Broadcast.status)).all() == ["queued"] * 3
        planned = Job.name.endswith(":plan_broadcast")
        assert db.session.scalar(select(func.count()).where(Job.state == "pending", planned)) == 3

    through_redis.start()
    clock.freeze(None)
    time.sleep(1.1)  # past JOBS_REHAND_SECONDS: the rows count as lost, not as just written
    run_burst(app, through_redis.url)  # sweeps: plans go to Redis; run; their chunks follow
    run_burst(app, through_redis.url)
    with app.app_context():
        assert db.session.scalars(select(Broadcast.status)).all() == ["sent"] * 3
        assert db.session.scalar(select(func.count()).select_from(Message)) == 3


def _followers(app, handle: str, count: int) -> None:
    with app.app_context():
        creator_id = db.session.scalar(select(Creator.id).where(Creator.handle == handle))
        now = clock.utcnow()
        users = [
            {"id": uuid.uuid4(), "email": f"f{i}@example.com", "display_name": f"F{i}", "created_at": now}
            for i in range(count)
        ]
        db.session.execute(insert(User), users)
        follows = [
            {"id": uuid.uuid4(), "user_id": u["id"], "creator_id": creator_id, "created_at": now}
            for u in users
        ]
        db.session.execute(insert(Follow), follows)
        db.session.commit()


@pytest.mark.slow
def test_a_20000_recipient_broadcast_survives_its_worker_being_killed_halfway(
    app, client, through_redis, creator
):
    _followers(app, "cora", 20_000)
    started = time.perf_counter()
    rv = client.post(
        "/v1/creators/cora/broadcasts",
        json={"body": "To all twenty thousand", "audience": "followers"},
        headers=creator.headers,
    )
    print(f"\n20 000-recipient broadcast answered in {1000 * (time.perf_counter() - started):.0f} ms")
    assert rv.status_code == 202
    broadcast_id = uuid.UUID(rv.get_json()["id"])

    def delivered() -> int:
        with app.app_context():
            return db.session.scalar(select(Broadcast.delivered).where(Broadcast.id == broadcast_id)) or 0

    worker = start_worker(app, through_redis.url)
    try:
        wait_for(lambda: delivered() >= 3_000, timeout=120)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        worker.kill()
    halfway = delivered()
    assert 3_000 <= halfway < 20_000
    time.sleep(LEASE_SECONDS + 1)
    run_burst(app, through_redis.url)
    with app.app_context():
        done = db.session.get(Broadcast, broadcast_id)
        assert (done.status, done.recipients, done.delivered) == ("sent", 20_000, 20_000)
        copies = (
            select(func.count().label("n"))
            .where(Message.broadcast_id == broadcast_id)
            .group_by(Message.conversation_id)
            .subquery()
        )
        per_recipient = db.session.execute(select(copies.c.n, func.count()).group_by(copies.c.n)).all()
        assert per_recipient == [(1, 20_000)]
    print(f"killed at {halfway} delivered; resumed to 20 000, one copy each")


def test_the_worker_needs_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL" in result.output
