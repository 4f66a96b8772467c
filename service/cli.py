"""Flask CLI commands: `flask seed`."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from .accounts import service as accounts
from .accounts.models import User
from .extensions import db

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (published demo login)
DEMO_USERS = [
    ("ada@example.com", "Ada Lovelace"),
    ("grace@example.com", "Grace Hopper"),
    ("fan@example.com", "Faithful Fan"),
]


def seed_demo_data() -> list[str]:
    """Create the demo users that are missing; returns the e-mails created."""
    created = []
    for email, name in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.email == email)) is None:
            accounts.sign_up(email=email, password=DEMO_PASSWORD, display_name=name)
            created.append(email)
    db.session.commit()
    return created


def register_commands(app: Flask) -> None:
    @app.cli.command("seed")
    def seed() -> None:
        """Add demo data (safe to run again)."""
        created = seed_demo_data()
        click.echo(f"created {len(created)} demo users" if created else "demo data already present")
        click.echo(f"log in as any of {', '.join(e for e, _ in DEMO_USERS)} with password {DEMO_PASSWORD}")
