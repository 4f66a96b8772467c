"""The outbox on its own: jobs are rows of the transaction that needs them, each runs once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from service import jobs
from service.common import clock
from service.extensions import db
from service.jobs import outbox, schedule
from service.jobs.models import Job
from service.localpay.models import LocalObject

from .concurrency import run_parallel
from .sample_jobs import fail, record


class Held:
    """A queue that keeps what it is handed, so a test runs jobs when it wants."""

    def __init__(self) -> None:
        self.ids: list = []

    def hand_over(self, ids) -> None:
        self.ids.extend(ids)


def runs(marker: str) -> int:
    return db.session.scalar(select(func.count()).where(LocalObject.kind == f"job:{marker}")) or 0


def job_of(job_id) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job_id)


def test_a_job_is_handed_over_when_its_transaction_commits_and_never_if_it_rolls_back(app, ctx, monkeypatch):
    held = Held()
    monkeypatch.setitem(app.extensions, outbox.QUEUE, held)
    dropped = outbox.enqueue(record, "dropped")
    db.session.rollback()
    assert held.ids == [] and db.session.get(Job, dropped) is None

    kept = outbox.enqueue(record, "kept")
    assert held.ids == []  # not before the commit
    db.session.commit()
    assert held.ids == [kept] and job_of(kept).state == "pending"


def test_a_job_handed_over_twice_runs_once(app, ctx, monkeypatch):
    monkeypatch.setitem(app.extensions, outbox.QUEUE, Held())
    job_id = outbox.enqueue(record, "twice")
    db.session.commit()
    outbox.run_job(str(job_id))
    outbox.run_job(str(job_id))
    assert runs("twice") == 1
    assert (job_of(job_id).state, job_of(job_id).attempts) == ("done", 1)


def test_a_failed_job_is_retried_later_then_given_up(app, ctx, monkeypatch):
    monkeypatch.setitem(app.extensions, outbox.QUEUE, Held())
    job_id = outbox.enqueue(fail, "flaky", max_attempts=2)
    db.session.commit()
    outbox.run_job(str(job_id))
    job = job_of(job_id)
    assert job.state == "pending" and "flaky failed" in job.last_error
    assert job.run_at > clock.utcnow() + timedelta(seconds=7)  # 10 s ± 20 %
    assert runs("flaky") == 0  # its work rolled back with the failure
    outbox.run_job(str(job_id))  # not due yet: nothing happens
    assert job_of(job_id).attempts == 1

    clock.freeze(clock.utcnow() + timedelta(minutes=1))
    outbox.run_job(str(job_id))
    assert (job_of(job_id).state, job_of(job_id).attempts) == ("dead", 2)


def test_a_job_whose_worker_died_is_handed_over_by_the_sweep_and_runs_once(app, ctx, monkeypatch):
    held = Held()
    monkeypatch.setitem(app.extensions, outbox.QUEUE, held)
    job_id = outbox.enqueue(record, "orphan")
    db.session.commit()
    # A worker claimed it and died: the row says running, under a lease.
    assert outbox._claim(job_id) is not None
    held.ids.clear()
    assert outbox.sweep() == 0  # its lease still holds
    outbox.run_job(str(job_id))  # another worker may not take it either
    assert runs("orphan") == 0

    clock.freeze(clock.utcnow() + timedelta(seconds=app.config["JOBS_LEASE_SECONDS"] + 1))
    assert outbox.sweep() == 1 and held.ids == [job_id]
    outbox.run_job(str(job_id))
    assert runs("orphan") == 1 and job_of(job_id).attempts == 2


def test_the_sweep_hands_over_what_the_queue_never_took(app, ctx, monkeypatch):
    class Down:
        def hand_over(self, ids):
            raise ConnectionError("queue unavailable")

    monkeypatch.setitem(app.extensions, outbox.QUEUE, Down())
    job_id = outbox.enqueue(record, "lost")
    db.session.commit()  # the failure to hand over does not reach the committer
    held = Held()
    monkeypatch.setitem(app.extensions, outbox.QUEUE, held)
    assert outbox.sweep() == 0  # a job just written gets a moment to be picked up
    clock.freeze(clock.utcnow() + timedelta(seconds=app.config["JOBS_REHAND_SECONDS"] + 1))
    assert outbox.sweep() == 1 and held.ids == [job_id]
    assert outbox.sweep() == 0  # handed over just now: not again at once


def test_delayed_jobs_wait_for_their_time(app, ctx, monkeypatch):
    held = Held()
    monkeypatch.setitem(app.extensions, outbox.QUEUE, held)
    job_id = outbox.enqueue(record, "later", delay=timedelta(minutes=5))
    db.session.commit()
    assert held.ids == []
    outbox.run_job(str(job_id))
    assert runs("later") == 0
    clock.freeze(clock.utcnow() + timedelta(minutes=6))
    assert outbox.sweep() == 1 and held.ids == [job_id]


def test_the_in_process_runner_runs_jobs_in_order_off_the_calling_thread(app, ctx):
    job_ids = [outbox.enqueue(record, f"order-{i}") for i in range(5)]
    db.session.commit()
    jobs.wait_idle(app)
    done = db.session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
    assert {j.state for j in done} == {"done"}
    finished = sorted(done, key=lambda j: j.finished_at)
    assert [j.id for j in finished] == job_ids


def test_each_periodic_job_is_written_once_per_slot_however_many_tick(app, ctx, monkeypatch):
    held = Held()
    monkeypatch.setitem(app.extensions, outbox.QUEUE, held)
    monkeypatch.setitem(
        app.extensions, schedule.PERIODIC, [schedule.Periodic(outbox.purge_finished, timedelta(minutes=1))]
    )
    clock.freeze(clock.utcnow().replace(second=5))
    assert schedule.tick(app) == 1
    assert schedule.tick(app) == 0
    clock.freeze(clock.utcnow() + timedelta(seconds=50))
    assert schedule.tick(app) == 0  # same minute
    clock.freeze(clock.utcnow() + timedelta(seconds=10))
    assert schedule.tick(app) == 1
    assert len(held.ids) == 2


def test_parallel_ticks_write_one_job_per_slot(app, postgres_only, monkeypatch):
    monkeypatch.setitem(app.extensions, outbox.QUEUE, Held())
    monkeypatch.setitem(
        app.extensions, schedule.PERIODIC, [schedule.Periodic(outbox.purge_finished, timedelta(hours=1))]
    )

    def one_tick(_client):
        with app.app_context():
            return schedule.tick(app)

    for _ in range(5):
        assert sorted(run_parallel(app, [one_tick] * 4)) == [0, 0, 0, 1]
        with app.app_context():
            db.session.execute(Job.__table__.delete())
            db.session.commit()


def test_the_schedule_lists_module_level_jobs_that_resolve_by_name(app):
    for periodic in app.extensions[schedule.PERIODIC]:
        assert outbox.resolve(outbox.job_name(periodic.fn)) is periodic.fn


def test_jobs_status_counts_by_state(app, ctx, monkeypatch):
    monkeypatch.setitem(app.extensions, outbox.QUEUE, Held())
    done = outbox.enqueue(record, "a")
    outbox.enqueue(record, "b")
    db.session.commit()
    outbox.run_job(str(done))
    clock.freeze(clock.utcnow() + timedelta(minutes=2))
    result = app.test_cli_runner().invoke(args=["jobs", "status"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split() for line in result.output.splitlines())
    assert lines == {"pending": "1", "running": "0", "done": "1", "dead": "0", "overdue": "1"}


def test_finished_jobs_are_forgotten_after_a_week(app, ctx, monkeypatch):
    monkeypatch.setitem(app.extensions, outbox.QUEUE, Held())
    job_id = outbox.enqueue(record, "old")
    db.session.commit()
    outbox.run_job(str(job_id))
    assert outbox.purge_finished() == 0
    clock.freeze(clock.utcnow() + timedelta(days=8))
    assert outbox.purge_finished() == 1
