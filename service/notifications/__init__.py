"""Notifications: telling members and creators what happened, in the app and by e-mail.

Vocabulary: a *notification* is one thing told to one user, unique per (user, kind,
cause), written in the transaction of its cause; its *kind* (`kinds.py`) names what
happened and carries the defaults. An *e-mail* is a row too, written with its cause and
sent by a job after commit (`mail.py`), rendered at send time from the templates in
`templates/email/`, and sent only when the address is verified, not suppressed and the
user's settings want it. A *digest* is one e-mail that stands for many events (messages
in a conversation, a day's followers).

Owns: notifications, settings, e-mails and the suppression list, the local mailbox.
Hears the other domains through their signals (`receivers.py`) and owns none of their
rules: who may read a post is content's rule, asked again when the e-mail leaves.
"""
