"""The platform's cut of every payment."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app

from ..common.money import percent_of


def fee_percent() -> Decimal:
    percent: Decimal = current_app.config["PLATFORM_FEE_PERCENT"]
    return percent


def platform_fee(amount_minor: int) -> int:
    """The platform's share of a payment, in minor units (rounded half up)."""
    return percent_of(amount_minor, fee_percent())
