"""Every model, imported in one place for Alembic and the shell."""

from .accounts.models import ApiKey, AuthSession, RefreshToken, User
from .catalog.models import Offering, Price
from .creators.models import Creator, CreatorTag
from .followers.models import Follow

__all__ = [
    "ApiKey",
    "AuthSession",
    "Creator",
    "CreatorTag",
    "Follow",
    "Offering",
    "Price",
    "RefreshToken",
    "User",
]
