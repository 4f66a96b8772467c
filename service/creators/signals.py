"""Events of the creators domain."""

from blinker import Namespace

_signals = Namespace()

# sender: the id (uuid) of a creator whose follower or member count just changed, in the
# transaction that changed it (not committed yet).
counts_changed = _signals.signal("creator-counts-changed")
