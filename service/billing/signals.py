"""Events billing announces to the domains after it (messaging, content, growth).

Receivers run inside the transaction that caused the event: they flush, never
commit, and must be idempotent, because a retried webhook may announce again.
"""

from blinker import Namespace

_signals = Namespace()

# sender: the Purchase just paid. Attributes receivers may use: id, user_id,
# creator_id, offering (catalog Offering: kind, title), amount_minor, currency.
purchase_completed = _signals.signal("purchase-completed")
