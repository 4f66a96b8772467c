"""The questions any domain may ask about what people hold, answered by whoever
registers an implementation (`service.entitlements`, on billing's data).

Everything is by id, so the interface needs no domain's models and every
domain, from accounts on, may ask through it. A question is a call that returns
its answer; events (something happened) stay blinker signals.

The rules behind the answers: a *member* holds a membership (a subscription to
one of the creator's tiers) that grants access now — trialing or active, or
past due within the grace period, and not disputed; a *purchase* grants what
was bought while it is paid (not refunded in full) and not disputed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy import Select

EXTENSION = "entitlements"


@dataclass(frozen=True)
class Membership:
    """A user's access-granting membership with a creator."""

    subscription_id: uuid.UUID
    tier_offering_id: uuid.UUID
    price_id: uuid.UUID
    status: str
    current_period_end: datetime | None


@dataclass(frozen=True)
class Bought:
    """A purchase that grants what was bought."""

    purchase_id: uuid.UUID
    offering_id: uuid.UUID
    price_id: uuid.UUID
    paid_at: datetime


@dataclass(frozen=True)
class Holding:
    """What a user holds with one creator: the membership, and the purchases kept, oldest first."""

    membership: Membership | None
    purchases: list[Bought]


class Entitlements(Protocol):
    def member_ids(self, creator_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these users are members of the creator."""
        ...

    def audience(
        self, creator_id: uuid.UUID, tier_ids: Collection[uuid.UUID] | None = None
    ) -> Select[tuple[uuid.UUID]]:
        """A SELECT of the creator's members' user ids (members of these tiers only, when
        given), for callers that page through or copy large audiences in SQL."""
        ...

    def access_of(self, creator_id: uuid.UUID, user_id: uuid.UUID) -> Holding:
        """The user's membership with the creator (the newest, if ever two) and the
        purchases of the creator's offerings the user keeps."""
        ...

    def tiers_held(
        self, user_id: uuid.UUID, creator_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        """For each of these creators the user is a member of, the tiers (offering ids)
        of those memberships; creators without one are left out."""
        ...

    def creators_joined(self, user_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
        """A SELECT of the ids of the creators the user is a member of."""
        ...

    def delivered_offering_ids(
        self, user_id: uuid.UUID, offering_ids: Collection[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Which of these offerings the user bought and may receive."""
        ...

    def tier_ids_of(self, creator_id: uuid.UUID, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these ids are membership offerings (tiers) of the creator."""
        ...


def protocol_methods(protocol: type) -> list[str]:
    """The public methods a protocol declares (its members, in declaration order)."""
    return [name for name, value in vars(protocol).items() if not name.startswith("_") and callable(value)]


class EntitlementsMissing(RuntimeError):
    pass


def check_registered(app: Flask) -> None:
    """Refuse to start without a complete implementation in `app.extensions`."""
    implementation = app.extensions.get(EXTENSION)
    if implementation is None:
        raise EntitlementsMissing(
            f"No entitlements implementation is registered (app.extensions[{EXTENSION!r}]): "
            "create_app must install one, or no domain can learn what anyone holds."
        )
    missing = [n for n in protocol_methods(Entitlements) if not callable(getattr(implementation, n, None))]
    if missing:
        raise EntitlementsMissing(
            f"{type(implementation).__name__} does not implement the Entitlements protocol: "
            f"missing {', '.join(missing)}."
        )


def current_entitlements() -> Entitlements:
    return current_app.extensions[EXTENSION]
