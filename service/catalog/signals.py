"""Questions the catalog asks domains that come after it."""

from blinker import Namespace

_signals = Namespace()

# sender: the viewing User; kwargs: offering_ids. Receivers return the ids of
# products the user bought and may receive (billing).
delivery_access_requested = _signals.signal("delivery-access-requested")
