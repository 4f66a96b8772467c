"""Events through which domains to the right react to accounts without accounts
importing them. (What they add to an export is asked, not announced: see
`accounts.service.EXPORTERS`.)"""

from blinker import Namespace

_signals = Namespace()

# sender: the new User (flushed); kwargs: referral_code (str or None).
user_signed_up = _signals.signal("user-signed-up")
# sender: the User, just anonymised; receivers flush, never commit.
user_deleted = _signals.signal("user-deleted")
# sender: the User; kwargs: email (the address to verify), token (the signed token).
verification_requested = _signals.signal("verification-requested")
