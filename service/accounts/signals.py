"""Signals through which domains to the right react to account events without
accounts importing them."""

from blinker import Namespace

_signals = Namespace()

# sender: the new User (flushed); kwargs: referral_code (str or None).
user_signed_up = _signals.signal("user-signed-up")
# sender: the User, just anonymised; receivers flush, never commit.
user_deleted = _signals.signal("user-deleted")
# sender: the User; each receiver returns {section_name: json-able data}.
export_requested = _signals.signal("export-requested")
