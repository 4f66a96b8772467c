"""Integrations: what happened at a creator's, told to the creator's own systems.

Vocabulary: an *event* is one thing that happened (a follow, a membership change, a
payment, a message), written in the transaction that caused it and kept 30 days; the
*events feed* lists them in commit order. A *webhook endpoint* is a creator's URL with
the event types it wants; a *delivery* is one event (or a test `ping`) sent to one
endpoint, made of *attempts* until one succeeds or the schedule runs out.

Owns: endpoints and their signing secrets, events, deliveries and their log. Hears the
earlier domains through their signals (`events.py`) and owns none of their rules.
"""
