"""Events of the followers domain."""

from blinker import Namespace

_signals = Namespace()

# sender: the Follow just created (flushed, not committed), announced once per follow;
# kwargs: referral_code (str or None), as given with the follow (`?ref=`), unchecked.
follower_created = _signals.signal("follower-created")
# sender: the Creator just unfollowed; kwargs: user_id (the former follower) and followed_at
# (when the deleted follow was made). Announced once, when a follow is deleted (unfollowing
# twice announces nothing).
follower_deleted = _signals.signal("follower-deleted")
