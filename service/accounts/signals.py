"""Events through which domains to the right react to accounts without accounts
importing them. (What they add to an export is asked, not announced: see
`accounts.service.EXPORTERS`.)"""

from blinker import Namespace

_signals = Namespace()

# sender: the new User (flushed); kwargs: referral_code (str or None).
user_signed_up = _signals.signal("user-signed-up")
# sender: the User, just anonymised; receivers flush, never commit.
user_deleted = _signals.signal("user-deleted")
# sender: the User; kwargs: email (the address to prove: the sign-up one, a new one asked
# for, or one sent again), token (signed; `verification.link(token)` is the page to open).
# Sent in the transaction that asks for it; the only mail an unverified address may get.
verification_requested = _signals.signal("verification-requested")
# sender: the User, whose `email` is now `email`, proven; sent once per address proven.
email_verified = _signals.signal("email-verified")
