from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma

from ..common import clock
from ..common.schemas import BaseSchema, MoneySchema
from ..followers.schemas import UserBriefSchema
from .queries import SERIES

DEFAULT_PERIOD = timedelta(days=30)
# Two years, one of them possibly a leap year.
MAX_PERIOD = timedelta(days=731)
# Far enough from datetime's limits that bucket and grace arithmetic never overflow.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


class UtcDateTime(ma.fields.AwareDateTime):
    """An RFC 3339 date-time, turned to UTC; without an offset it is taken as UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError as exc:
            raise self.make_error("invalid", input=value, obj_type="datetime") from exc
        if not EARLIEST <= parsed < LATEST:
            raise ma.ValidationError("Choose a date between 1970 and 9000.")
        return parsed


class PeriodArgs(BaseSchema):
    start = UtcDateTime(data_key="from", metadata={"description": "Included; default: 30 days before `to`"})
    end = UtcDateTime(data_key="to", metadata={"description": "Excluded; default: now"})

    @ma.post_load
    def _period(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # One reading of the clock: a default `to` is exactly the now the queries use.
        now = clock.utcnow()
        end = data.get("end") or now
        start = data.get("start") or end - DEFAULT_PERIOD
        if start >= end:
            raise ma.ValidationError("Must be before `to`.", "from")
        if end - start > MAX_PERIOD:
            raise ma.ValidationError("The period is at most two years.", "to")
        return {**data, "start": start, "end": end, "now": now}


class TimeseriesArgs(PeriodArgs):
    metric = ma.fields.String(required=True, validate=ma.validate.OneOf(list(SERIES)))
    interval = ma.fields.String(load_default="day", validate=ma.validate.OneOf(["day", "week", "month"]))


class Rate(ma.fields.String):
    def __init__(self, description: str, **kwargs: Any) -> None:
        super().__init__(
            required=True,
            metadata={"description": f'{description}; four decimals, e.g. "0.2500"', "example": "0.2500"},
            **kwargs,
        )


class ConversionSchema(BaseSchema):
    follower_to_customer = Rate("Followers who ever paid / followers")
    one_off_to_member = Rate("One-off buyers who ever held a membership / one-off buyers")


class TopReferrerSchema(BaseSchema):
    referrer = ma.fields.Nested(UserBriefSchema, required=True)
    paid_referrals = ma.fields.Integer(required=True, metadata={"description": "Purchases and subscriptions"})
    referrals = ma.fields.Integer(required=True, metadata={"description": "All credits, sign-ups included"})
    revenue = ma.fields.Nested(MoneySchema, required=True)


class SummarySchema(BaseSchema):
    mrr = ma.fields.Nested(MoneySchema, required=True, metadata={"description": "At `to`"})
    active_members = ma.fields.Integer(required=True, metadata={"description": "Distinct users, at `to`"})
    new_members = ma.fields.Integer(required=True)
    churned_members = ma.fields.Integer(required=True)
    churn_rate = Rate("Churned / active members at `from`")
    one_off_revenue = ma.fields.Nested(MoneySchema, required=True)
    recurring_revenue = ma.fields.Nested(MoneySchema, required=True)
    followers = ma.fields.Integer(required=True, metadata={"description": "Now"})
    new_followers = ma.fields.Integer(required=True)
    conversion = ma.fields.Nested(ConversionSchema, required=True)
    top_referrers = ma.fields.List(ma.fields.Nested(TopReferrerSchema), required=True)


class PointSchema(BaseSchema):
    at = ma.fields.DateTime(required=True, metadata={"description": "Start of the bucket (UTC)"})
    value = ma.fields.Raw(
        required=True,
        metadata={
            "description": "Money `{amount, currency}` for mrr and revenue; a count for the others",
            "oneOf": [{"$ref": "#/components/schemas/Money"}, {"type": "integer"}],
        },
    )


class TimeseriesSchema(BaseSchema):
    metric = ma.fields.String(required=True)
    interval = ma.fields.String(required=True)
    points = ma.fields.List(ma.fields.Nested(PointSchema), required=True)
