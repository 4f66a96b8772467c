"""Password policy: length only, no composition rules, and no well-known passwords."""

from __future__ import annotations

from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 128


@cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problems(password: str, *, email: str) -> list[str]:
    """Reasons a new password is refused (empty when it is acceptable)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return [f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters."]
    lowered = password.lower()
    if lowered in _common_passwords():
        return ["This password is too common; choose another."]
    if lowered == email.lower() or lowered == email.split("@", 1)[0].lower():
        return ["Do not use your e-mail address as your password."]
    return []
