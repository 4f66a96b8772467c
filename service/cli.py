"""Flask CLI commands: `flask seed`, `flask worker`, and the `flask billing …` group."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from sqlalchemy import select

from . import jobs
from .accounts import service as accounts
from .accounts.models import User
from .billing import access as billing_access
from .billing import checkout, payouts
from .catalog import service as catalog
from .catalog.models import Offering
from .creators import service as creators
from .extensions import db
from .followers import service as followers
from .jobs import outbox
from .jobs import worker as jobs_worker
from .jobs.queues import RedisQueue
from .localpay.gateway import current_local_gateway

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (published demo login)
DEMO_SITE = "http://127.0.0.1:8000/docs"
DEMO_USERS = [
    ("ada@example.com", "Ada Lovelace"),
    ("grace@example.com", "Grace Hopper"),
    ("fan@example.com", "Faithful Fan"),
]
DEMO_CREATORS: dict[str, dict[str, Any]] = {
    "ada@example.com": {
        "profile": {
            "handle": "ada_codes",
            "display_name": "Ada Codes",
            "bio": "Mathematician writing small programs for big engines.",
            "purpose": "I teach people to think in algorithms, one note at a time.",
            "tags": ["programming", "mathematics", "teaching"],
            "currency": "eur",
        },
        "offerings": [
            ("membership", "Supporter", ["Monthly notes", "Members' Q&A"], [(500, "month")], 0),
            (
                "membership",
                "Insider",
                ["Everything in Supporter", "Code reviews"],
                [(1500, "month"), (15000, "year")],
                1,
            ),
            ("product", "Pattern library", ["40 annotated programs"], [(2500, None)], 0),
            ("service", "One-to-one code review", ["An hour on your code"], [(9000, None)], 0),
        ],
    },
    "grace@example.com": {
        "profile": {
            "handle": "grace_teaches",
            "display_name": "Grace Teaches",
            "bio": "Compilers, nanoseconds and plain English.",
            "purpose": "Make computers easier for everyone to use.",
            "tags": ["compilers", "teaching"],
            "currency": "usd",
        },
        "offerings": [
            ("membership", "Crew", ["Weekly lesson"], [(800, "month")], 0),
            ("product", "A nanosecond, explained", ["Video and wire"], [(1200, None)], 0),
        ],
    },
}


def _seed_creator(user: User, spec: dict[str, Any]) -> None:
    if getattr(user, "creator", None) is not None:
        return
    creator = creators.create_creator(user=user, **spec["profile"])
    for kind, title, benefits, prices, rank in spec["offerings"]:
        delivery = "https://example.com/downloads/demo" if kind == "product" else None
        offering = catalog.create_offering(
            creator=creator, kind=kind, title=title, benefits=benefits, rank=rank, delivery=delivery
        )
        for amount, interval in prices:
            kind_of_price = "recurring" if interval else "one_time"
            catalog.add_price(offering=offering, amount=amount, type=kind_of_price, interval=interval)
        catalog.publish(offering=offering)


def seed_demo_data() -> list[str]:
    """Create the demo users, creators and offerings that are missing; returns new e-mails."""
    created = []
    for email, name in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.email == email)) is None:
            accounts.sign_up(email=email, password=DEMO_PASSWORD, display_name=name, email_verified=True)
            created.append(email)
    users = {
        u.email: u for u in db.session.scalars(select(User).where(User.email.in_([e for e, _ in DEMO_USERS])))
    }
    # Demo accounts seeded before addresses were verified: their journey needs no mailbox.
    for user in users.values():
        if not user.email_verified:
            accounts.mark_email_verified(user)
    for email, spec in DEMO_CREATORS.items():
        _seed_creator(users[email], spec)
    fan = users["fan@example.com"]
    for spec in DEMO_CREATORS.values():
        followers.follow(user=fan, creator=creators.get_by_handle(spec["profile"]["handle"]))
    db.session.commit()
    if current_app.config["PAYMENTS_PROVIDER"] == "local":
        _seed_local_payments(fan)
    return created


def _seed_local_payments(fan: User) -> None:
    """On the local gateway: creators can take payments and the fan is a member of Ada."""
    gateway = current_local_gateway()
    for spec in DEMO_CREATORS.values():
        creator = creators.get_by_handle(spec["profile"]["handle"])
        if payouts.find_account(creator) is None:
            url = payouts.start_onboarding(creator=creator, return_url=DEMO_SITE, refresh_url=DEMO_SITE)
            gateway.complete_onboarding(url.rsplit("/", 1)[1])
            db.session.commit()
    # The gateway's events are handled by jobs: the accounts must be synced before a checkout.
    jobs.wait_idle(current_app)
    if billing_access.membership_of(user_id=fan.id, creator_id=creators.get_by_handle("ada_codes").id):
        return
    supporter = db.session.scalar(select(Offering).where(Offering.title == "Supporter"))
    assert supporter is not None
    session = checkout.start_checkout(
        user=fan, price_id=supporter.prices[0].id, success_url=DEMO_SITE, cancel_url=DEMO_SITE
    )
    db.session.commit()
    assert session.stripe_session_id is not None
    gateway.pay(session.stripe_session_id)
    db.session.commit()
    jobs.wait_idle(current_app)


def register_commands(app: Flask) -> None:
    from .analytics.cli import analytics_cli
    from .billing.cli import billing_cli
    from .localpay.cli import simulate

    billing_cli.add_command(simulate)  # `flask billing simulate`, as the README documents it
    app.cli.add_command(billing_cli)
    app.cli.add_command(analytics_cli)

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Hand over what the outbox holds, run it, then exit.")
    def worker(burst: bool) -> None:
        """Run background jobs from Redis (REDIS_URL) in this app, and keep the schedule."""
        if not current_app.config["REDIS_URL"]:
            raise click.UsageError("flask worker needs REDIS_URL; without it jobs run in the app")
        jobs_worker.work(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]

    @app.cli.group("jobs")
    def jobs_cli() -> None:
        """Background jobs: what the outbox holds."""

    @jobs_cli.command("status")
    def jobs_status() -> None:
        """Jobs by state; `overdue`: open jobs due more than a minute ago; `queued`: messages
        waiting in Redis. Fails when the database or Redis cannot be reached (a health check)."""
        for state, count in outbox.counts().items():
            click.echo(f"{state:8} {count}")
        queue = current_app.extensions[outbox.QUEUE]
        if isinstance(queue, RedisQueue):
            click.echo(f"{'queued':8} {queue.rq_queue().count}")

    @app.cli.command("seed")
    def seed() -> None:
        """Add demo data (safe to run again)."""
        created = seed_demo_data()
        jobs.wait_idle(current_app)
        click.echo(f"created {len(created)} demo users" if created else "demo data already present")
        click.echo(f"log in as any of {', '.join(e for e, _ in DEMO_USERS)} with password {DEMO_PASSWORD}")
        click.echo("creators: /v1/creators/ada_codes and /v1/creators/grace_teaches")
