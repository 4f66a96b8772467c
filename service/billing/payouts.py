"""Creators' Connect accounts: onboarding, status, and the events that change them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..common import clock
from ..common.db import insert_or_ignore
from ..creators import service as creators
from ..creators.models import Creator
from ..extensions import db
from . import signals
from .gateway import Account, current_gateway
from .models import ConnectedAccount


def find_account(creator: Creator) -> ConnectedAccount | None:
    return db.session.scalar(select(ConnectedAccount).where(ConnectedAccount.creator_id == creator.id))


def start_onboarding(*, creator: Creator, return_url: str, refresh_url: str) -> str:
    """A fresh, single-use onboarding link; the account is created once per creator."""
    gateway = current_gateway()
    account = find_account(creator)
    if account is None:
        made = gateway.create_connected_account(
            email=creator.user.email, creator_id=str(creator.id), idempotency_key=f"acct:{creator.id}"
        )
        insert_or_ignore(
            db.session, ConnectedAccount, {"creator_id": creator.id, "stripe_account_id": made.id}
        )
        account = find_account(creator)
        assert account is not None
        _apply(account, made)
    return gateway.create_onboarding_link(
        account_id=account.stripe_account_id, return_url=return_url, refresh_url=refresh_url
    )


def status(*, creator: Creator) -> dict[str, Any]:
    """Payout readiness, re-read from the provider (a return from onboarding proves nothing)."""
    account = find_account(creator)
    if account is None:
        return {
            "payouts_enabled": False,
            "charges_enabled": False,
            "requirements_due": [],
            "onboarded": False,
        }
    if account.deauthorized_at is None:
        _apply(account, current_gateway().retrieve_account(account.stripe_account_id))
    return {
        "payouts_enabled": account.payouts_enabled,
        "charges_enabled": account.can_take_charges,
        "requirements_due": account.requirements_due,
        "onboarded": account.details_submitted,
    }


def _apply(account: ConnectedAccount, info: Account) -> None:
    """Copy the provider's state onto our row; announce what it newly wants from a creator who
    finished onboarding (what onboarding itself asks for is its own form's business)."""
    newly_due = sorted(set(info.requirements_due) - set(account.requirements_due or []))
    previous_sync = account.synced_at
    account.charges_enabled = info.charges_enabled
    account.payouts_enabled = info.payouts_enabled
    account.details_submitted = info.details_submitted
    account.requirements_due = info.requirements_due
    account.disabled_reason = info.disabled_reason
    account.synced_at = clock.utcnow()
    creators.set_payouts_enabled(creator=account.creator, enabled=account.can_take_charges)
    if newly_due and info.details_submitted:
        signals.payout_requirements_due.send(account, newly_due=newly_due, previous_sync=previous_sync)


def sync_account(account_id: str) -> str | None:
    """Re-read a connected account after an event about it (the event's snapshot may be stale)."""
    account = db.session.scalar(
        select(ConnectedAccount).where(ConnectedAccount.stripe_account_id == account_id).with_for_update()
    )
    if account is None:
        return "unmatched"
    if account.deauthorized_at is not None:
        return "ignored"  # it no longer lets us read it
    _apply(account, current_gateway().retrieve_account(account_id))
    return None


def deauthorize(account_id: str | None, *, event_created: datetime) -> str | None:
    account = db.session.scalar(
        select(ConnectedAccount).where(ConnectedAccount.stripe_account_id == account_id)
    )
    if account is None:
        return "unmatched"
    account.deauthorized_at = account.deauthorized_at or event_created
    account.charges_enabled = account.payouts_enabled = False
    creators.set_payouts_enabled(creator=account.creator, enabled=False)
    return None
