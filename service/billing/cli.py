"""`flask billing …`: inbox processing, reconciliation, idempotency-key upkeep.

`flask billing simulate` joins the group from `service.localpay.cli`.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..creators.models import Creator
from ..extensions import db
from . import access, idempotency, subscriptions, webhooks
from .models import LIVE_STATUSES, Subscription

billing_cli = AppGroup("billing", help="Payments: inbox, reconciliation, local simulation.")


@billing_cli.command("process-inbox")
def process_inbox() -> None:
    """Apply stored webhook events that are pending or due for a retry."""
    click.echo(f"processed {webhooks.process_due()} events")


@billing_cli.command("reconcile")
def reconcile() -> None:
    """Re-read every subscription that is not final from the provider and fix drift."""
    ids = db.session.scalars(
        select(Subscription.stripe_subscription_id).where(Subscription.status.in_(LIVE_STATUSES))
    ).all()
    changed = 0
    for stripe_id in ids:
        before = db.session.scalar(
            select(Subscription.status).where(Subscription.stripe_subscription_id == stripe_id)
        )
        subscriptions.sync_subscription(stripe_id)
        db.session.commit()
        after = db.session.scalar(
            select(Subscription.status).where(Subscription.stripe_subscription_id == stripe_id)
        )
        if before != after:
            changed += 1
            click.echo(f"{stripe_id}: {before} -> {after}")
    click.echo(f"checked {len(ids)} subscriptions, {changed} changed")


@billing_cli.command("recount-members")
def recount_members() -> None:
    """Recount every creator's members (run it hourly): a past-due member's grace period ends
    without any write, so until then the count still includes them."""
    fixed = 0
    for creator_id in db.session.scalars(select(Creator.id).order_by(Creator.id)).all():
        before, after = access.recount_members(creator_id)
        db.session.commit()
        if before != after:
            fixed += 1
            click.echo(f"{creator_id}: {before} -> {after}")
    click.echo(f"recounted the members of every creator, {fixed} changed")


@billing_cli.command("purge-idempotency-keys")
def purge_idempotency_keys() -> None:
    """Delete Idempotency-Keys older than 24 hours (run it daily, or more often)."""
    purged = idempotency.purge_expired()
    db.session.commit()
    click.echo(f"purged {purged} idempotency keys")
