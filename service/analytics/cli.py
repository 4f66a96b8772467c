"""`flask analytics …`: the roll-up's upkeep."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from . import rollup

analytics_cli = AppGroup("analytics", help="Creator analytics: the daily roll-up.")


@analytics_cli.command("rebuild")
@click.option("--creator", "handle", default=None, help="Only this creator's (by handle).")
def rebuild(handle: str | None) -> None:
    """Recompute the roll-up from the sales, subscriptions and follows (after upgrading, or to repair)."""
    count = rollup.rebuild(handle)
    if handle is not None and not count:
        raise click.ClickException(f"no creator with the handle {handle!r}")
    click.echo(f"rebuilt the analytics of {count} creators")
