"""Accounts: who a caller is.

Vocabulary: a *user* is a person with an e-mail and password (avoid: member,
customer — those are billing words). A *session* is one login on one device; its
*refresh tokens* rotate, and an *access token* names the session it belongs to,
so ending the session ends every token of it at once. An *API key* is a long-lived
secret a creator gives to their own scripts; it acts as the user but cannot
manage the account itself. A user's e-mail is *verified* once the signed link
mailed to it was opened; a new address asked for is *pending* until its link is,
and the current one stays the login meanwhile.

Owns: users, sessions, refresh tokens, API keys, the password policy, e-mail
verification (the links, not the mail: whoever receives `verification_requested`
sends it).
Does not own: creator profiles, follows, money. A user is a creator when the
creators domain has given them a profile (`user.creator`); API keys are for them. Other domains learn about a
deleted user through the `user_deleted` signal and add their data to an
export through the exporters create_app lists (`accounts.service.EXPORTERS`).
"""
