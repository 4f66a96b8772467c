"""Referrals: each user's code per creator, and what the people they bring do.

A code names both the referrer and the creator. Sign-ups, follows, purchases and
subscriptions carrying a code are credited once each, never to the referrer
themself; an unknown code is ignored, since a stale link must not break sign-up
or checkout. Sign-ups and follows are credited here, as accounts and followers
announce them; paid referrals in `rewards`, as billing records payments.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from ..accounts.models import User
from ..accounts.signals import user_signed_up
from ..common.db import insert_or_ignore
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from ..followers.signals import follower_created
from .models import Referral, ReferralCode

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


def code_for(*, user: User, creator: Creator) -> ReferralCode:
    """The user's code for this creator, made on first request."""
    found = db.session.scalar(
        select(ReferralCode).where(ReferralCode.user_id == user.id, ReferralCode.creator_id == creator.id)
    )
    if found is not None:
        return found
    insert_or_ignore(
        db.session, ReferralCode, {"user_id": user.id, "creator_id": creator.id, "code": _new_code()}
    )
    return code_for(user=user, creator=creator)


def link_for(code: ReferralCode) -> str:
    base = current_app.config["PUBLIC_BASE_URL"]
    return f"{base}/v1/creators/{code.creator.handle}?ref={code.code}"


def find_code(code: str | None) -> ReferralCode | None:
    if not code or len(code) > 16 or not code.isalnum():
        return None
    return db.session.scalar(select(ReferralCode).where(ReferralCode.code == code.lower()))


def attribute(
    *,
    code: str | None,
    referred: uuid.UUID,
    kind: str,
    subject_id: uuid.UUID | None = None,
    creator_id: uuid.UUID | None = None,
    amount_minor: int = 0,
    currency: str | None = None,
) -> ReferralCode | None:
    """Credit the code's owner with what `referred` did; the code credited, None when nothing was.

    With `creator_id`, the code must be for that creator (a code for A does not
    earn credit on a purchase from B).
    """
    found = find_code(code)
    if found is None or found.user_id == referred or (creator_id and found.creator_id != creator_id):
        return None
    credited = insert_or_ignore(
        db.session,
        Referral,
        {
            "referrer_id": found.user_id,
            "referred_user_id": referred,
            "creator_id": found.creator_id,
            "kind": kind,
            "subject_id": subject_id or referred,
            "amount_minor": amount_minor,
            "currency": currency,
        },
    )
    return found if credited else None


@user_signed_up.connect
def _credit_signup(user: User, referral_code: str | None = None, **kwargs: object) -> None:
    attribute(code=referral_code, referred=user.id, kind="signup")


@follower_created.connect
def _credit_follow(follow: Follow, referral_code: str | None = None, **kwargs: object) -> None:
    attribute(code=referral_code, referred=follow.user_id, kind="follow", creator_id=follow.creator_id)


def summary_for(*, user: User) -> dict[str, Any]:
    """Counts and revenue credited to the user, overall and per creator."""
    rows = db.session.execute(
        select(
            Referral.creator_id,
            Referral.kind,
            Referral.currency,
            func.count(),
            func.coalesce(func.sum(Referral.amount_minor), 0),
        )
        .where(Referral.referrer_id == user.id)
        .group_by(Referral.creator_id, Referral.kind, Referral.currency)
    ).all()
    creators = {
        c.id: c for c in db.session.scalars(select(Creator).where(Creator.id.in_({r[0] for r in rows})))
    }
    totals = {"signups": 0, "follows": 0, "purchases": 0, "subscriptions": 0}
    per_creator: dict[uuid.UUID, dict[str, Any]] = {}
    for creator_id, kind, currency, count, amount in rows:
        key = f"{kind}s"
        totals[key] += count
        entry = per_creator.setdefault(
            creator_id,
            {
                "creator_id": creator_id,
                "creator": creators[creator_id],
                **dict.fromkeys(totals, 0),
                "revenue": {},
            },
        )
        entry[key] += count
        if amount:
            entry["revenue"][currency] = entry["revenue"].get(currency, 0) + int(amount)
    for entry in per_creator.values():
        entry["revenue"] = [{"amount": a, "currency": c} for c, a in sorted(entry["revenue"].items())]
    return {**totals, "by_creator": sorted(per_creator.values(), key=lambda e: e["creator"].handle)}


def top_referrers(*, creator: Creator, start: Any, end: Any, limit: int = 5) -> list[dict[str, Any]]:
    """Who brought the creator the most paying customers in [start, end)."""
    paid = Referral.kind.in_(("purchase", "subscription"))
    rows = db.session.execute(
        select(
            User.id,
            User.display_name,
            func.count().filter(paid),
            func.count(),
            func.coalesce(func.sum(Referral.amount_minor), 0),
        )
        .join(User, User.id == Referral.referrer_id)
        .where(Referral.creator_id == creator.id, Referral.created_at >= start, Referral.created_at < end)
        .group_by(User.id, User.display_name)
        .order_by(func.count().filter(paid).desc(), func.count().desc(), User.id)
        .limit(limit)
    ).all()
    return [
        {
            "referrer": {"id": uid, "display_name": name},
            "paid_referrals": paid_count,
            "referrals": total,
            "revenue": {"amount": int(amount), "currency": creator.currency},
        }
        for uid, name, paid_count, total, amount in rows
    ]
