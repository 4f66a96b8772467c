"""Content: what a creator writes for the people around them.

Vocabulary: a *post* is a creator's text with a *visibility*: `public`
(everyone, signed in or not), `followers` (followers and members), `members`
(any access-granting membership) or `tiers` (members of the chosen membership
offerings only). A post the viewer may not read is served as a *teaser*:
`locked: true` and no body (avoid: paywalled, hidden). The *feed* is the posts
of the creators a user follows or is a member of.

Owns: posts and who may read them. Does not own: follows (followers) or
memberships (asked through the entitlements interface); it reads both, in
bulk, to decide, and hands each post to `PostSchema` with that decision.
"""
