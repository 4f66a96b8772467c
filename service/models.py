"""Every model, imported in one place for Alembic and the shell."""

from .accounts.models import ApiKey, AuthSession, RefreshToken, User

__all__ = ["ApiKey", "AuthSession", "RefreshToken", "User"]
