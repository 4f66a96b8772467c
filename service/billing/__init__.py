"""Billing: money moves through Stripe (or, in development, the simulator in `service.localpay`).

Vocabulary: a *customer* is a user's Stripe customer record; a *purchase* is a
one-off payment for a service or product; a *subscription* is a recurring
payment for a price (a *membership* when its offering is a tier); a
*checkout session* is the hosted payment page that starts either. *Access* is
derived from a subscription's status, never stored on its own: the rule for
subscriptions and the one for purchases are defined once each, in `rules.py`.
Other domains ask what people hold through the entitlements interface
(`service.entitlements` answers it from these tables).

Owns: customers, connected accounts, checkout sessions, purchases,
subscriptions, invoices, the webhook inbox. Stripe is the source of truth for
money; our tables mirror it and converge through webhooks and reconciliation.
Does not own: referrals and upgrade offers (growth). Billing announces what
happened (`signals.py`: a purchase completed, a payment recorded, a checkout
closed unfinished) and asks for a checkout's credit through its
`CheckoutCredits` port (`credits.py`), never importing growth.
"""
