"""Expiry policies and the pure arithmetic that turns one into the instant a lot's points expire.

The instant is computed once, when the points are issued, and stamped on the lot with the policy
version, so a later change of the program never moves the expiry of points already issued.
Calendar arithmetic happens in the program's time zone; the result is an aware UTC instant.
An expiry instant is exclusive: the points are valid strictly before it and gone at it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Rolling(BaseModel):
    """Points expire N days after the earn, at the same local wall-clock time."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["rolling"] = "rolling"
    days: int = Field(ge=1, le=36_600)


class PeriodEnd(BaseModel):
    """Points expire at the end of the local calendar period N periods after the earn's period.

    PeriodEnd("year", 1): points earned in 2026 expire at the end of 31 December 2027.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["period_end"] = "period_end"
    period: Literal["month", "quarter", "year"]
    periods_after: int = Field(default=0, ge=0, le=1_200)


class Inactivity(BaseModel):
    """All of a member's points expire after N days without an earn or a spend (the airline way).

    At issue the lot expires N days after its earn; every later activity moves the expiry of all
    the member's inactivity lots to N days after that activity.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["inactivity"] = "inactivity"
    days: int = Field(ge=1, le=36_600)


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
    zone = zone_of(tz)
    if isinstance(policy, Rolling | Inactivity):
        return add_local_days(earned_at, policy.days, zone)
    if isinstance(policy, PeriodEnd):
        return period_end(earned_at, policy.period, policy.periods_after, zone)
    return None


def add_local_days(instant: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time `days` later; a time that falls in a DST gap moves forward."""
    local = instant.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return _to_utc(local, zone)


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
