"""Events of the content domain, for the packages after it."""

from blinker import Namespace

_signals = Namespace()

# sender: the Post just published (flushed, not committed), announced once per post.
post_published = _signals.signal("post-published")
