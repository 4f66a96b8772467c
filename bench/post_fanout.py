"""How long a post to N members takes to reach them, and how many e-mails it makes.

    DATABASE_URL=postgresql://… [REDIS_URL=redis://… --workers 2] python -m bench.post_fanout --members 10000

Fills a migrated, empty database with one creator and N verified followers (bulk SQL),
publishes a followers post, and times until every planning, notification and e-mail job
is done: in this process's job thread without REDIS_URL, else by `flask worker --burst`
processes. E-mails go to the local mailbox (EMAIL_BACKEND=local), which renders and
stores each message like SMTP would carry it, so the time is ours, not a mail server's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        sys.exit("needs DATABASE_URL (PostgreSQL, migrated, empty)")

    from service import create_app, jobs
    from service.accounts.models import User
    from service.common import clock
    from service.content.service import create_post
    from service.creators.models import Creator
    from service.extensions import db
    from service.followers.models import Follow
    from service.jobs.models import Job
    from service.notifications.models import Email, LocalMail, Notification

    app = create_app({"JOBS_RUN_PERIODIC": False, "EMAIL_BACKEND": "local"})
    now = clock.utcnow()
    with app.app_context():
        owner_id, creator_id = uuid.uuid4(), uuid.uuid4()
        db.session.execute(
            insert(User).values(
                id=owner_id,
                email=f"owner-{owner_id.hex[:8]}@bench.example",
                display_name="Owner",
                created_at=now,
            )
        )
        db.session.add(
            Creator(
                id=creator_id,
                user_id=owner_id,
                handle=f"fanout_{owner_id.hex[:8]}",
                display_name="Fan-out",
                currency="eur",
            )
        )
        db.session.flush()
        fans = [uuid.uuid4() for _ in range(args.members)]
        db.session.execute(
            insert(User),
            [
                {
                    "id": f,
                    "email": f"fan-{f.hex}@bench.example",
                    "display_name": "Fan",
                    "created_at": now,
                    "email_verified_at": now,
                }
                for f in fans
            ],
        )
        db.session.execute(
            insert(Follow),
            [{"id": uuid.uuid4(), "user_id": f, "creator_id": creator_id, "created_at": now} for f in fans],
        )
        db.session.commit()

        started = time.perf_counter()
        creator = db.session.get(Creator, creator_id)
        assert creator is not None
        post = create_post(
            creator=creator, title="To all of you", body="A long-awaited update.", visibility="followers"
        )
        db.session.commit()
        answered = time.perf_counter() - started
        if os.environ.get("REDIS_URL"):
            env = {**os.environ, "FLASK_APP": "wsgi", "LOG_LEVEL": "WARNING", "EMAIL_BACKEND": "local"}
            while db.session.scalar(select(func.count()).where(Job.state.in_(("pending", "running")))):
                workers = [
                    subprocess.Popen(  # noqa: S603
                        [sys.executable, "-m", "flask", "worker", "--burst"],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                    )
                    for _ in range(args.workers)
                ]
                for worker in workers:
                    worker.wait()
                db.session.rollback()
        else:
            jobs.wait_idle(app)
        elapsed = time.perf_counter() - started
        told = db.session.scalar(select(func.count()).where(Notification.cause_key == str(post.id)))
        sent = db.session.scalar(
            select(func.count()).where(
                Email.data["post_id"].as_string() == str(post.id), Email.status == "sent"
            )
        )
        kept = db.session.scalar(select(func.count()).select_from(LocalMail))
        send_jobs = db.session.scalar(select(func.count()).where(Job.name.like("%send_emails")))
    print(
        f"post to {args.members} followers: request {answered * 1000:.0f} ms; "
        f"{told} notifications and {sent} e-mails sent ({kept} in the local mailbox, "
        f"{send_jobs} send jobs) in {elapsed:.1f} s: {sent / elapsed:.0f} e-mails/s"
    )


if __name__ == "__main__":
    main()
