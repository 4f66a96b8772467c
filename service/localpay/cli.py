"""`flask billing simulate`: what Stripe would do on its own, done by hand on the simulator."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import jobs
from ..billing.models import Subscription
from ..common.ids import parse_uuid
from ..extensions import db
from .gateway import current_local_gateway


@click.command("simulate")
@click.argument("action", type=click.Choice(["renew", "fail", "cancel", "trial_will_end"]))
@click.argument("subscription")
@with_appcontext
def simulate(action: str, subscription: str) -> None:
    """Local gateway only: renew, fail a payment of, or cancel SUBSCRIPTION (our id or the
    provider's), or announce that its trial ends soon (trial_will_end)."""
    if current_app.config["PAYMENTS_PROVIDER"] != "local":
        raise click.UsageError("simulate works with PAYMENTS_PROVIDER=local only")
    sub = db.session.scalar(
        select(Subscription).where(
            (Subscription.stripe_subscription_id == subscription)
            | (Subscription.id == parse_uuid(subscription))
        )
    )
    if sub is None:
        raise click.BadParameter(f"no subscription {subscription}")
    current_local_gateway().simulate(sub.stripe_subscription_id, action)
    db.session.commit()
    # Its events are applied before the new state is shown.
    jobs.wait_idle(current_app)
    db.session.refresh(sub)
    click.echo(f"{sub.id}: {sub.status}, period ends {sub.current_period_end}")
