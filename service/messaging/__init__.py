"""Messaging: the direct line between creators and the people who support them.

Vocabulary: a *conversation* is the one thread between two users (avoid: chat,
thread); a *message* is one entry in it, of kind `text` (written by a
participant), `system` (written by us, e.g. a service purchase) or `broadcast`
(one creator message copied into each recipient's conversation). A *read
marker* is how far a participant has read; *unread* counts the other side's
messages after it. A *block* stops messages both ways; a *report* goes to the
moderation queue.

Owns: conversations, messages, read markers, blocks, reports, broadcasts and
their fan-out job. Does not own: who is a member (asked through the
entitlements interface, directly or via the followers domain's `access()`),
nor the `dm_policy` setting itself (creators).
"""
