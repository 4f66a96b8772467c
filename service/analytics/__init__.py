"""Analytics: how a creator's business is doing, for the creator only. Its routes only read.

Vocabulary: a *membership* is a subscription to one of the creator's offerings of
kind `membership` that got past checkout (status `incomplete` and
`incomplete_expired` never count; avoid: subscriber, plan). A *member* holds a
membership that grants access. The *period* is `[from, to)` in UTC; `to`
defaults to now and `from` to 30 days before `to`. A *bucket* is one day, one
ISO week (from Monday) or one calendar month of a time series, in UTC.

The rules of the numbers:
- The state at an instant counts every event strictly before it, so that
  members at `to` = members at `from` + new − churned when nothing else moves.
- A membership *starts* at `started_at` and *ends* at `ended_at`, or at
  `canceled_at` for a canceled one without `ended_at` (on a running
  subscription `canceled_at` only records a request to stop at the period end).
- At or after now the current status decides (billing's `ACCESS_RULE`); before now
  the timestamps do: a trial lasts until `trial_end`, being past due starts at
  `past_due_since`, access lasts the grace period after it. A membership now
  `unpaid`, `paused` or disputed has no recorded time when it stopped, so
  before now it counts until now.
- *MRR* is the sum, over memberships paying (not trialing, not past due,
  started, not ended) at `to`, of the price per month: a month price is
  amount / interval_count, a year price amount / (12 × interval_count). It is
  summed exactly and rounded half up once, to a minor unit. A past point counts
  the price the membership had then: a change of price is recorded when billing
  writes it, and counts from that instant on (before the roll-up was first built,
  the price at that time counts from the start).
- *Active members* are users with an access-granting membership at `to`,
  counted as memberships: checkout lets a user hold one live membership per
  creator, so at an instant the two are the same. *New* and *churned* count
  memberships starting, and ending, in the period; the *churn rate* is
  churned / active members at `from`.
- *Revenue* is what was received in the period (`paid_at`), less what of it was
  refunded or lost to a dispute since: one-off from purchases, recurring from
  invoices.
- *Followers* is the current count; since an unfollow deletes the follow, past
  follower counts only know the follows that still exist.
- *Conversion*, over all time whatever the period: of today's followers, those
  who ever paid anything (purchase or invoice, not refunded in full); of the
  people who ever bought a one-off (not refunded in full), those who hold or ever
  held a membership. The roll-up keeps these counts, so no request reads the ledger.
- Rates are decimal strings with four places ("0.2500"), rounded half up, and
  "0.0000" when there is nobody to divide by. Money is `{amount, currency}` in
  integer minor units of the creator's single currency.

Owns: the daily roll-up (`rollup`: `analytics_days`, `analytics_membership_events`,
`analytics_memberships`, `analytics_payments`) and the conversion counts
(`analytics_customers`, `analytics_conversion`), kept by receivers of billing's
(`subscription_stored`, `payment_recorded`, `payment_adjusted`) and followers'
(`follower_created`, `follower_deleted`) signals in the transaction of each change,
and rebuilt from billing's and followers' tables by `flask analytics rebuild`. It
writes nothing else. Does not own: referrals (growth's `referrals.top_referrers`
ranks them for the summary).
"""
