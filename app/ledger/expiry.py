"""Expiry policies and the pure arithmetic that turns one into the instant a lot's points expire.

The instant is computed once, when the points are issued, and stamped on the lot with the policy
version, so a later change of the program never moves the expiry of points already issued.
Calendar arithmetic happens in the program's time zone; the result is an aware UTC instant.
An expiry instant is exclusive: the points are valid strictly before it and gone at it.

Rolling and inactivity policies count a span of either days or calendar months (exactly one):
programs say "miles expire after 18 months without activity", not 548 days. N days later is the
same local wall-clock time on the local date N days on; N months later is the same local time on
the same local day of the month N months on, clamped to that month's last day (31 January + 1
month = 28 or 29 February; 31 August + 18 months = 29 February 2028). A local time skipped by a
DST change moves forward past the gap; a repeated one takes its first occurrence.
`renewal` is the one place a span is added to an instant: at issue (`expires_at`) and whenever
activity restarts the clock of inactivity lots.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator


def _unset(value: int | None) -> bool:
    return value is None


class Span(BaseModel):
    """The base of Rolling and Inactivity: a span of either `days` or calendar `months`, exactly one.

    Its stored form names only the unit given, {"kind": ..., "days": N} or {"kind": ...,
    "months": N}, never a null for the other, so lots stamped before months existed read back
    unchanged and a lot's stamped params say exactly what the program said.
    """

    model_config = ConfigDict(frozen=True)
    kind: str
    days: int | None = Field(default=None, ge=1, le=36_600, exclude_if=_unset)
    months: int | None = Field(default=None, ge=1, le=1_200, exclude_if=_unset)

    @model_validator(mode="after")
    def _days_or_months(self) -> Self:
        if self.days is not None and self.months is not None:
            raise ValueError("give the span in days or in months, not both")
        if self.days is None and self.months is None:
            raise ValueError("give the span in days or months")
        return self


class Rolling(Span):
    """Points expire N days or N calendar months after the earn, at the same local wall-clock time.

    Rolling(months=12): points earned 29 February 2028 at 10:00 expire 28 February 2029 at 10:00.
    """

    kind: Literal["rolling"] = "rolling"


class PeriodEnd(BaseModel):
    """Points expire at the end of the local calendar period N periods after the earn's period.

    PeriodEnd("year", 1): points earned in 2026 expire at the end of 31 December 2027.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["period_end"] = "period_end"
    period: Literal["month", "quarter", "year"]
    periods_after: int = Field(default=0, ge=0, le=1_200)


class Inactivity(Span):
    """All of a member's points expire after N days or N months without an earn or a spend.

    The airline way: Inactivity(months=18). At issue the lot expires one span after its earn;
    every later activity moves the expiry of all the member's inactivity lots to one span after
    that activity (`renewal`). Months clamp to the month's end: a last activity on 31 August 2026
    with 18 months expires the miles on 29 February 2028 at the same local time.
    """

    kind: Literal["inactivity"] = "inactivity"


class Never(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["never"] = "never"


ExpiryPolicy = Annotated[Rolling | PeriodEnd | Inactivity | Never, Field(discriminator="kind")]
_POLICY = TypeAdapter[Rolling | PeriodEnd | Inactivity | Never](ExpiryPolicy)


class ExpiryPolicySet(BaseModel):
    """The program's expiry rules: a default, overrides by tier code, and a version stamped on lots."""

    model_config = ConfigDict(frozen=True)
    default: ExpiryPolicy = Field(default_factory=Never)
    by_tier: dict[str, ExpiryPolicy] = Field(default_factory=dict)
    version: int = Field(default=1, ge=1)

    def for_tier(self, tier: str | None) -> Rolling | PeriodEnd | Inactivity | Never:
        if tier is not None and tier in self.by_tier:
            return self.by_tier[tier]
        return self.default


def parse_policy(data: dict[str, Any]) -> Rolling | PeriodEnd | Inactivity | Never:
    """Rebuild a policy from its stored form ({"kind": ..., params...})."""
    return _POLICY.validate_python(data)


def zone_of(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def expires_at(
    policy: Rolling | PeriodEnd | Inactivity | Never, earned_at: datetime, tz: str | ZoneInfo
) -> datetime | None:
    """The UTC instant the points of an earn at `earned_at` expire under `policy`; None for never."""
    if earned_at.tzinfo is None:
        raise ValueError("earned_at must be timezone-aware")
    if isinstance(policy, Rolling | Inactivity):
        return renewal(policy, earned_at, tz)
    if isinstance(policy, PeriodEnd):
        return period_end(earned_at, policy.period, policy.periods_after, zone_of(tz))
    return None


def renewal(policy: Rolling | Inactivity, instant: datetime, zone: str | ZoneInfo) -> datetime:
    """The UTC instant one span of `policy` (its days or its months) after `instant`, in `zone`.

    An inactivity lot's expiry after activity at `instant`, and any rolling or inactivity lot's
    expiry at issue.
    """
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    if policy.months is not None:
        return add_local_months(instant, policy.months, zone_of(zone))
    assert policy.days is not None  # a Span has exactly one of them
    return add_local_days(instant, policy.days, zone_of(zone))


def add_local_days(instant: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time `days` later; a time that falls in a DST gap moves forward."""
    local = instant.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return _to_utc(local, zone)


def add_local_months(instant: datetime, months: int, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time on the same local day `months` calendar months later.

    A day the target month lacks is clamped to its last day (31 January + 1 month = 28 or 29
    February, at the same time); a time that falls in a DST gap moves forward, as in add_local_days.
    """
    local = instant.astimezone(zone).replace(tzinfo=None)
    year, month0 = divmod(local.year * 12 + local.month - 1 + months, 12)
    day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
    return _to_utc(local.replace(year=year, month=month0 + 1, day=day), zone)


def period_end(
    instant: datetime,
    period: Literal["month", "quarter", "year"],
    periods_after: int,
    zone: ZoneInfo,
) -> datetime:
    """The first local instant after the period `periods_after` periods after the one holding `instant`."""
    local = instant.astimezone(zone)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    start_month = (local.month - 1) // months * months  # 0-based month the period starts in
    index = local.year * 12 + start_month + months * (periods_after + 1)
    year, month0 = divmod(index, 12)
    return _to_utc(datetime(year, month0 + 1, 1), zone)


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    # fold=0 (PEP 495): a time skipped by a DST change maps past the gap, a repeated one to its first occurrence.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)
