"""Creators: the public face of a professional who sells to followers.

Vocabulary: a *creator* is a user's selling profile, addressed by its *handle*
(avoid: shop, seller, page). *Tags* are short niche words used in discovery.
The *DM policy* says who may start a conversation with the creator.

Owns: profiles, handles, tags, discovery search, the `payouts_enabled` flag
(billing keeps it in sync with Stripe). Does not own: offerings (catalog),
follows (followers), money (billing). The creator page that shows offerings
is assembled by the catalog, which sits after this domain.
"""
