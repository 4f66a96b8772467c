"""Events of the messaging domain, for the packages after it."""

from blinker import Namespace

_signals = Namespace()

# sender: the text Message just written (flushed); kwargs: recipient_id, the other
# participant. Announced once per message a user writes (not for system notes or broadcasts).
message_sent = _signals.signal("message-sent")

# sender: the Broadcast one of whose chunks just delivered; kwargs: sender_id (the creator's
# user), conversation_ids (where a copy is new: retried chunks announce only new copies).
broadcast_delivered = _signals.signal("broadcast-delivered")
