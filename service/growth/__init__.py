"""Growth: what brings creators more followers and paying customers.

Vocabulary: a *referral code* is a user's own code for sharing one creator
(`?ref=` on a link, `referral_code` at sign-up and checkout); the user is the
*referrer* and who comes with it the *referred* user. A *referral* is one thing
a referred user did — signed up, followed, bought, subscribed — credited once
to the referrer, never to themself, and only for the creator the code is for.
A *paid referral* is a purchase or subscription for which money was received
(a trial never counts). A creator's *referral reward* is a free period of the
referrer's own membership after every N paid referrals; each *grant* of it is
given once. An *upgrade offer* gives buyers of a one-off a *credit* off the
first invoice of a membership; a checkout *redeems* it once per purchase.

Owns: referral codes, referrals, reward rules and grants, upgrade offers and
their redemptions. Does not own: payments, checkouts, memberships (billing),
follows (followers), sign-ups (accounts).

Growth comes after billing and is never imported by accounts, creators,
catalog, followers or billing. It learns what happened from their events:
`user_signed_up` (a sign-up's code), `follower_created` (a follow's code),
billing's `payment_recorded` (money received: a paid referral) and
`checkout_closed` (an unfinished checkout gives its credit back). Checkout asks
for an upgrade credit through billing's `CheckoutCredits` port, which
`upgrades.UpgradeCredits` implements and `create_app` registers.
"""
