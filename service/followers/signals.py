"""Events of the followers domain."""

from blinker import Namespace

_signals = Namespace()

# sender: the Follow just created (flushed, not committed).
follower_created = _signals.signal("follower-created")
