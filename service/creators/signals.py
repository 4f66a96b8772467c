"""Questions the creators domain asks domains that come after it."""

from blinker import Namespace

_signals = Namespace()

# sender: the Creator; kwargs: tier_ids (list of UUIDs). Each receiver returns
# the ids it knows are *not* membership tiers of that creator.
dm_tiers_check = _signals.signal("dm-tiers-check")
# sender: the Creator. Receivers return how many members currently have access (billing).
member_count_requested = _signals.signal("member-count-requested")
