"""The periodic jobs, in one place: what runs, and how often (see service/jobs/schedule.py)."""

from __future__ import annotations

from datetime import timedelta

from .billing import access, idempotency, subscriptions, webhooks
from .integrations import events
from .jobs import Periodic, outbox
from .notifications import mail

PERIODIC = [
    Periodic(outbox.sweep, timedelta(minutes=1)),
    Periodic(webhooks.process_due, timedelta(minutes=1)),
    Periodic(idempotency.purge_expired, timedelta(hours=1)),
    Periodic(access.recount_all_members, timedelta(hours=1)),
    Periodic(subscriptions.reconcile_live, timedelta(days=1)),
    Periodic(outbox.purge_finished, timedelta(days=1)),
    Periodic(events.purge_old, timedelta(days=1)),
    Periodic(mail.purge_old, timedelta(days=1)),
]
