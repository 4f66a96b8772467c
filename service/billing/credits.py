"""Credits a checkout takes off its first payment, granted by a later domain.

Billing does not know why a buyer deserves a credit (growth's upgrade offers
do). It asks the one `CheckoutCredits` registered as
`app.extensions["billing.checkout_credits"]`, as it asks the gateway: an
explicit port, not a signal, since checkout needs the answer. `create_app`
refuses to start without one.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from flask import Flask, current_app

if TYPE_CHECKING:
    from ..accounts.models import User
    from ..catalog.models import Price
    from .models import CheckoutSession

EXTENSION = "billing.checkout_credits"


@runtime_checkable
class CheckoutCredits(Protocol):
    def reserve(self, *, offer_id: uuid.UUID, user: User, price: Price, session: CheckoutSession) -> int:
        """The credit, in minor units of the price's currency (0 or more, at most the price),
        this user gets for this checkout with the offer `offer_id`, reserved for `session`
        (flushed, still open) so that no other checkout can take it. Raises a DomainError
        subclass, with the reason, when the user is not eligible. Billing gives the credit
        back by announcing `checkout_closed` when the session ends unfinished."""
        ...


def current_credits() -> CheckoutCredits:
    return current_app.extensions[EXTENSION]


def require_registered(app: Flask) -> None:
    """Fail at start-up, not at the first checkout, when nobody provides the credits."""
    if not isinstance(app.extensions.get(EXTENSION), CheckoutCredits):
        raise RuntimeError(
            f'No CheckoutCredits registered: set app.extensions["{EXTENSION}"] in create_app '
            "(growth's upgrade offers provide it) before the app serves checkouts."
        )
