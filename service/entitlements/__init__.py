"""Entitlements: the answers to `service.common.entitlements.Entitlements`, from
billing's subscriptions and purchases.

Vocabulary: a *member* of a creator holds a membership (a subscription to one
of the creator's tiers) that grants access now; a *purchase* grants what was
bought while it is paid and not disputed. Both rules are billing's
(`billing.rules`); this package only asks them of the tables.

Owns: nothing stored. It sits after billing (it reads billing's tables) and
before the domains that ask the most (messaging, content); `create_app`
registers it, and every domain asks through `current_entitlements()`.
"""
