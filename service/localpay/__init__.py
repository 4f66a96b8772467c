"""The local payment simulator: a stand-in for Stripe in development and demos.

Used only with `PAYMENTS_PROVIDER=local` (which production refuses): the app
factory then makes `LocalGateway` billing's gateway and registers the pages
that stand in for Stripe's hosted ones. It is no domain of its own but an
adapter plugged into billing's gateway port from outside: it imports billing,
and nothing in billing imports it.

- `gateway.py`: `LocalGateway`, the `Gateway` protocol over Stripe-shaped
  objects kept in one table, announcing every change as a Stripe-shaped event
  through billing's webhook inbox, so the handlers run exactly as in
  production. Besides the protocol, its public page actions: `checkout_page`,
  `pay`, `abandon`, `open_onboarding`, `onboarding_link`, `complete_onboarding`, `portal` and
  `simulate`.
- `routes.py`: the pages a person clicks through (/local-checkout/…,
  /local-connect/…, /local-portal/…).
- `cli.py`: `flask billing simulate renew|fail|cancel|trial_will_end <subscription>`.
- `models.py`: `LocalObject`, the simulator's state (table `local_gateway_objects`).
"""
