"""`flask billing …`: inbox processing, reconciliation, idempotency-key upkeep.

`flask billing simulate` joins the group from `service.localpay.cli`.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..common.errors import DomainError
from ..extensions import db
from . import access, idempotency, subscriptions, webhooks


class _CommandGroup(AppGroup):
    """A refusal by a service ends the command with its message and exit status 1, not a
    traceback (nor, worse, status 0)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            raise click.ClickException(exc.detail) from exc


billing_cli = _CommandGroup("billing", help="Payments: inbox, reconciliation, local simulation.")


@billing_cli.command("process-inbox")
def process_inbox() -> None:
    """Apply stored webhook events that are pending or due for a retry."""
    click.echo(f"processed {webhooks.process_due()} events")


@billing_cli.command("reconcile")
def reconcile() -> None:
    """Re-read every subscription that is not final from the provider and fix drift."""
    checked, changes = subscriptions.reconcile_live()
    for stripe_id, before, after in changes:
        click.echo(f"{stripe_id}: {before} -> {after}")
    click.echo(f"checked {checked} subscriptions, {len(changes)} changed")


@billing_cli.command("recount-members")
def recount_members() -> None:
    """Recount every creator's members (also a periodic job)."""
    fixed = access.recount_all_members()
    for creator_id, before, after in fixed:
        click.echo(f"{creator_id}: {before} -> {after}")
    click.echo(f"recounted the members of every creator, {len(fixed)} changed")


@billing_cli.command("purge-idempotency-keys")
def purge_idempotency_keys() -> None:
    """Delete Idempotency-Keys older than 24 hours (run it daily, or more often)."""
    purged = idempotency.purge_expired()
    db.session.commit()
    click.echo(f"purged {purged} idempotency keys")
