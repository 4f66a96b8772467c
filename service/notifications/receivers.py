"""Where notifications hear the other domains: each signal connected to the module that
turns it into notifications. Imported once, when the app registers the package."""

from __future__ import annotations

from ..accounts import signals as accounts
from ..billing import signals as billing
from ..content import signals as content
from ..followers import signals as followers
from ..messaging import signals as messaging
from . import billing as billing_kinds
from . import digests, posts, verification
from . import followers as follower_digests

accounts.verification_requested.connect(verification.verification_requested, weak=False)
followers.follower_created.connect(follower_digests.follower_created, weak=False)
messaging.message_sent.connect(digests.message_sent, weak=False)
messaging.broadcast_delivered.connect(digests.broadcast_delivered, weak=False)
content.post_published.connect(posts.post_published, weak=False)
billing.payment_recorded.connect(billing_kinds.payment_recorded, weak=False)
billing.purchase_refunded.connect(billing_kinds.purchase_refunded, weak=False)
billing.subscription_changed.connect(billing_kinds.subscription_changed, weak=False)
billing.trial_ending.connect(billing_kinds.trial_ending, weak=False)
billing.invoice_payment_failed.connect(billing_kinds.invoice_payment_failed, weak=False)
billing.payout_requirements_due.connect(billing_kinds.payout_requirements_due, weak=False)
