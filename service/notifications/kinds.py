"""The kinds of notification, their defaults and what each e-mail's subject says.

One table, so the settings page, the senders and the templates agree on the names.
Defaults respect inboxes: what someone asked for (receipts, their membership, messages to
them) is on; what reads like marketing (a creator's broadcast to everyone) waits to be
chosen. Transactional kinds are e-mailed whatever the settings say.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    # A str.format template over the notification's data (plain text, one line).
    subject: str
    email: bool = True
    in_app: bool = True
    transactional: bool = False


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        # Members and buyers.
        Kind(
            "receipt",
            "A receipt for each payment",
            "Your receipt from {creator_name}: {amount[formatted]}",
            transactional=True,
        ),
        Kind(
            "refund_issued",
            "A refund of a payment",
            "{creator_name} refunded you {amount[formatted]}",
            transactional=True,
        ),
        Kind("membership_started", "Your membership began", "Welcome to {offering_title}"),
        Kind("membership_changed", "Your membership changed tier", "Your membership is now {offering_title}"),
        Kind(
            "membership_ending",
            "Your membership is set to end",
            "Your {offering_title} membership ends on {ends_on}",
        ),
        Kind("membership_ended", "Your membership ended", "Your {offering_title} membership has ended"),
        Kind("trial_ending", "Your free trial ends soon", "Your {offering_title} trial ends on {ends_on}"),
        Kind(
            "payment_failed",
            "A renewal payment failed",
            "Action needed: your {offering_title} payment failed",
        ),
        Kind("new_post", "A new post you can read", "{creator_name}: {title}"),
        Kind("direct_message", "New direct messages", "New message from {sender_name}"),
        Kind(
            "broadcast",
            "Messages a creator sends to all followers",
            "{sender_name} sent a message",
            email=False,
        ),
        # Creators.
        Kind("new_follower", "New followers, once a day", "{count} new followers on {day}"),
        Kind("new_member", "Someone became a member", "{member_name} joined {offering_title}"),
        Kind(
            "cancellation_scheduled",
            "A member's membership is set to end",
            "{member_name} cancelled {offering_title}",
        ),
        Kind(
            "member_payment_failed",
            "A member's renewal payment failed",
            "A renewal payment from {member_name} failed",
        ),
        Kind("payout_attention", "Your payout account needs details", "Your payout account needs attention"),
    )
}

# Sent to an address to prove it is the reader's; not a notification, never turned off.
VERIFY_EMAIL = "verify_email"
VERIFY_SUBJECT = "Confirm your e-mail address"
