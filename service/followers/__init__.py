"""Followers: the free relationship between a user and a creator.

Vocabulary: a *follow* links a *follower* (a user) to a creator; following is
free and costs nothing (avoid: subscribe, which is billing's word for paying).
*Access* summarises what a user has with a creator: following, membership,
purchases.

Owns: follows and the follower list. Does not own: memberships and purchases;
it asks for those through the entitlements interface (`current_entitlements()`).
Referrals are growth's: a new follow is announced (`follower_created`) with the
referral code it came with, and growth credits it.
"""
