"""Jobs per second through the outbox and RQ, with N `flask worker` processes.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… python -m bench.jobs --jobs 3000 --workers 2

Writes the jobs in one transaction (the outbox hands them to RQ after the commit),
starts the workers in burst mode and times until every job is done. Each job is one
trivial query, so the figure is the cost of the machinery: RQ's round trips and the
claim and completion commits of each job.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent


def touch() -> None:
    """The benchmark's job: one round trip to the database."""
    from service.extensions import db

    db.session.execute(text("SELECT 1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        sys.exit("needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL")

    from bench.jobs import touch  # by its module's name, not __main__, so workers find it
    from service import create_app
    from service.extensions import db
    from service.jobs import outbox
    from service.jobs.models import Job

    app = create_app({"JOBS_RUN_PERIODIC": False})
    with app.app_context():
        ids = [outbox.enqueue(touch) for _ in range(args.jobs)]
        db.session.commit()
    started = time.perf_counter()
    env = {**os.environ, "FLASK_APP": "wsgi", "LOG_LEVEL": "WARNING"}
    workers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "flask", "worker", "--burst"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.wait()
    elapsed = time.perf_counter() - started
    with app.app_context():
        done = db.session.scalar(select(func.count()).where(Job.id.in_(ids), Job.state == "done"))
    print(
        f"{done} of {args.jobs} jobs done by {args.workers} workers in {elapsed:.1f} s: "
        f"{done / elapsed:.0f} jobs/s (worker start-up included)"
    )


if __name__ == "__main__":
    main()
