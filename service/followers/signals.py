"""Signals of the followers domain."""

from blinker import Namespace

_signals = Namespace()

# sender: the Follow just created (flushed, not committed), announced once per follow;
# kwargs: referral_code (str or None), as given with the follow (`?ref=`), unchecked.
follower_created = _signals.signal("follower-created")
# sender: the Creator; kwargs: user_ids. Receivers return the subset that are members.
members_requested = _signals.signal("members-requested")
# sender: the Creator; kwargs: user. Receivers return {"membership": ..., "purchases": [...]}.
access_requested = _signals.signal("access-requested")
# sender: the Creator; kwargs: tier_ids (None = any tier). Receivers return a
# SELECT of user ids whose membership currently grants access (billing), so
# callers can page through large audiences.
audience_requested = _signals.signal("audience-requested")
