"""Events billing announces to the domains after it (growth, messaging, content, notifications).

Receivers run inside the transaction that caused the event: they flush, never
commit, and must be idempotent, because a retried webhook may announce again.
They return nothing billing uses.
"""

from blinker import Namespace

_signals = Namespace()

# sender: the Purchase just paid. Attributes receivers may use: id, user_id,
# creator_id, offering (catalog Offering: id, kind, title), amount_minor, currency.
purchase_completed = _signals.signal("purchase-completed")

# sender: the Payment ledger row just recorded, announced once per row, only when
# money came in (amount_minor > 0) and the sale is kept (not voided: no sold-out
# purchase, no duplicate or sold-out subscription). Attributes receivers may use:
# kind (purchase | invoice), purchase_id, subscription_id, user_id, creator_id,
# amount_minor, currency. A trial or a fully discounted invoice records nothing.
payment_recorded = _signals.signal("payment-recorded")

# sender: the CheckoutSession that ended unfinished (status now expired or failed);
# announced once, when it leaves `open`. A completed checkout is never closed.
checkout_closed = _signals.signal("checkout-closed")

# sender: the Subscription whose provider state was just copied onto it, announced each time
# one of the fields below changed (or the row is new: previous None); not for a voided one.
# kwargs: previous, a dict of what those fields were before, only those that changed —
# offering_id, status, cancel_at_period_end, current_period_end.
subscription_changed = _signals.signal("subscription-changed")

# sender: the Subscription billing just wrote (a sync from the provider, or a dispute that
# suspends or restores it), announced after every such write, whether or not anything changed,
# voided ones included: for receivers that keep their own copy of every field and re-read it.
subscription_stored = _signals.signal("subscription-stored")

# sender: the Payment whose refunded or disputed amount billing just wrote (a refund, a charge
# or a dispute re-read from the provider), changed or not; its `net_minor` is what it still brings in.
payment_adjusted = _signals.signal("payment-adjusted")

# sender: the Purchase whose refunded amount just went up (a creator's refund, or one seen at
# the provider); kwargs: previous_refunded_minor. Announced once per increase.
purchase_refunded = _signals.signal("purchase-refunded")

# sender: the Subscription whose invoice the provider failed to collect (after syncing it).
invoice_payment_failed = _signals.signal("invoice-payment-failed")

# sender: the trialing Subscription whose trial ends soon (the provider says so about three
# days before: `customer.subscription.trial_will_end`), after syncing it; kwargs: trial_end.
# Announced for each such event, also a re-sent one: receivers key on the trial's end.
trial_ending = _signals.signal("trial-ending")

# sender: the ConnectedAccount of an onboarded creator on which the provider now wants details
# it did not want at the previous read (verification, a bank account...), announced once per
# such change; kwargs: newly_due (those names), previous_sync (when the account was read
# before, None at first).
payout_requirements_due = _signals.signal("payout-requirements-due")
