"""The creator's analytics and member export (owner only)."""

from __future__ import annotations

from flask import Response, stream_with_context

from ..accounts.auth import auth_required, current_user
from ..common.http import Blueprint
from ..common.reads import reads_only
from ..creators import service as creators
from . import export, queries
from .schemas import PeriodArgs, SummarySchema, TimeseriesArgs, TimeseriesSchema

blp = Blueprint("analytics", __name__, url_prefix="/v1", description="Creator analytics and member export")

OWNER_ERRORS = {403: "FORBIDDEN", 404: "NOT_FOUND"}


@blp.route("/creators/<string:handle>/analytics/summary", methods=["GET"])
@auth_required()
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, SummarySchema)
@blp.doc(responses=OWNER_ERRORS)
@reads_only
def analytics_summary(args, handle: str):
    """Your business over a period (creator only)

    The period is `[from, to)` in UTC (RFC 3339; default: the 30 days up to
    now; at most two years). Money is `{amount, currency}` in minor units.

    - `mrr`: per month, of the memberships paying at `to` (trials and past-due
      ones excluded); a year price counts amount / 12, a price every N months
      amount / N; summed exactly, rounded half up once.
    - `active_members`: users with an access-granting membership at `to` (a
      past-due one within the grace period included).
    - `new_members` / `churned_members`: memberships that started / ended in the
      period; `churn_rate` = churned / active members at `from`, as a decimal
      string with four places ("0.0000" when there were none).
    - `one_off_revenue` / `recurring_revenue`: purchases / invoices paid in the
      period, less what of them was refunded.
    - `followers`: now; `new_followers`: followed during the period.
    - `conversion`: the share of today's followers who paid something in the
      period (and kept it: not refunded in full), and the share of the period's
      one-off buyers who hold or ever held a membership; four decimals.
    - `top_referrers`: best referrers of the period.
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    return queries.summary(creator=creator, **args)


@blp.route("/creators/<string:handle>/analytics/timeseries", methods=["GET"])
@auth_required()
@blp.arguments(TimeseriesArgs, location="query")
@blp.response(200, TimeseriesSchema)
@blp.doc(responses=OWNER_ERRORS)
@reads_only
def analytics_timeseries(args, handle: str):
    """One metric over time, per day, ISO week or month (creator only)

    One point per UTC bucket (a day, a week from Monday, a calendar month), from
    the bucket holding `from` to the one holding `to` (same defaults and limits
    as the summary; at most 400 points). `at` is the bucket's start; the value
    is, at the bucket's end (or at `to` for the last one):

    - `mrr`: as in the summary, as money `{amount, currency}`;
    - `members`: memberships granting access (a user holds one at a time);
    - `followers`: follows made before then that still exist;

    and for `revenue`, what was paid within the bucket, less refunds (money too).
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    return queries.timeseries(creator=creator, **args)


@blp.route("/creators/<string:handle>/members.csv", methods=["GET"])
@auth_required()
@blp.response(
    200,
    {"type": "string"},
    content_type="text/csv",
    description="One row per subscription, oldest first, after a header row",
)
@blp.doc(responses=OWNER_ERRORS)
def export_members(handle: str):
    """Download your subscribers as CSV (creator only)

    Columns: subscriber (display name), tier, price_amount (minor units),
    price_currency, price_interval, price_interval_count, status, started_at,
    current_period_end, cancel_at_period_end. No e-mail addresses or payment
    provider ids. A cell that a spreadsheet would run as a formula (starting
    with `=`, `+`, `-` or `@`) is prefixed with `'`.
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    rows = export.export_members(creator_id=creator.id)
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{creator.handle}-members.csv"'},
    )
