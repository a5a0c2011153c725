"""Expiry arithmetic: pure, checked by examples and by properties across time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger.expiry import (
    ExpiryPolicySet,
    Inactivity,
    Never,
    PeriodEnd,
    Rolling,
    expires_at,
    parse_policy,
)

ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


def test_points_earned_in_2026_expire_at_the_end_of_2027_in_shanghai() -> None:
    policy = PeriodEnd(period="year", periods_after=1)
    for earned in (
        datetime(2026, 1, 1, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(2026, 12, 31, 15, 59, tzinfo=UTC),
    ):
        assert expires_at(policy, earned, "Asia/Shanghai") == datetime(
            2027, 12, 31, 16, 0, tzinfo=UTC
        )


def test_year_end_follows_the_program_zone_not_utc() -> None:
    # 31 Dec 2026 17:00 UTC is already 1 Jan 2027 in Shanghai: a 2027 earn.
    earned = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    policy = PeriodEnd(period="year", periods_after=1)
    assert expires_at(policy, earned, "Asia/Shanghai") == datetime(2028, 12, 31, 16, 0, tzinfo=UTC)
    assert expires_at(policy, earned, "UTC") == datetime(2028, 1, 1, tzinfo=UTC)


def test_month_end_in_new_york_uses_the_offset_in_force_at_that_instant() -> None:
    policy = PeriodEnd(period="month", periods_after=0)
    march = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # EST at the earn, EDT at the end of March
    assert expires_at(policy, march, "America/New_York") == datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
    october = datetime(2026, 10, 20, tzinfo=UTC)  # EDT at the earn, EST at the end of November
    assert expires_at(
        PeriodEnd(period="month", periods_after=1), october, "America/New_York"
    ) == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def test_quarter_end_counts_calendar_quarters() -> None:
    policy = PeriodEnd(period="quarter", periods_after=2)
    earned = datetime(2026, 5, 20, tzinfo=UTC)  # Q2 2026 -> end of Q4 2026
    assert expires_at(policy, earned, "UTC") == datetime(2027, 1, 1, tzinfo=UTC)


def test_rolling_keeps_the_local_wall_clock_time_across_dst() -> None:
    ny = ZoneInfo("America/New_York")
    earned = datetime(2026, 3, 1, 10, 0, tzinfo=ny)  # EST
    result = expires_at(Rolling(days=30), earned, ny)
    assert result is not None
    assert result.astimezone(ny).replace(tzinfo=None) == datetime(2026, 3, 31, 10, 0)
    assert result - earned == timedelta(days=30) - timedelta(hours=1)  # a day of 23 hours passed


def test_rolling_into_a_dst_gap_moves_past_the_gap() -> None:
    ny = ZoneInfo("America/New_York")
    earned = datetime(2026, 3, 7, 2, 30, tzinfo=ny)  # 02:30 on 8 March does not exist in New York
    result = expires_at(Rolling(days=1), earned, ny)
    assert result == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_inactivity_counts_from_the_earn_and_never_never_expires() -> None:
    earned = datetime(2026, 1, 15, 9, tzinfo=UTC)
    assert expires_at(Inactivity(days=365), earned, "UTC") == datetime(2027, 1, 15, 9, tzinfo=UTC)
    assert expires_at(Never(), earned, "Asia/Shanghai") is None


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        expires_at(Rolling(days=1), datetime(2026, 1, 1), "UTC")


def test_policy_set_picks_the_tier_override_and_falls_back_to_the_default() -> None:
    policies = ExpiryPolicySet(
        default=Rolling(days=365),
        by_tier={"gold": PeriodEnd(period="year", periods_after=2)},
        version=3,
    )
    assert policies.for_tier("gold") == PeriodEnd(period="year", periods_after=2)
    assert policies.for_tier("silver") == Rolling(days=365)
    assert policies.for_tier(None) == Rolling(days=365)
    stored = policies.model_dump(mode="json")
    assert ExpiryPolicySet.model_validate(stored) == policies
    assert parse_policy({"kind": "inactivity", "days": 90}) == Inactivity(days=90)


@settings(max_examples=300, deadline=None)
@given(
    earned=instants,
    zone=st.sampled_from(ZONES),
    period=st.sampled_from(["month", "quarter", "year"]),
    after=st.integers(0, 30),
)
def test_period_end_is_a_local_midnight_starting_the_right_period(
    earned: datetime, zone: str, period: str, after: int
) -> None:
    tz = ZoneInfo(zone)
    result = expires_at(PeriodEnd(period=period, periods_after=after), earned, zone)
    assert result is not None and result.tzinfo is not None and result.utcoffset() == timedelta(0)
    assert result > earned
    local = result.astimezone(tz)
    assert local.day == 1 and (local.hour, local.minute) in {
        (0, 0),
        (1, 0),
        (0, 30),
    }  # 0:00, or just past a gap
    size = {"month": 1, "quarter": 3, "year": 12}[period]
    assert (local.month - 1) % size == 0
    start = earned.astimezone(tz)
    months = (local.year - start.year) * 12 + local.month - start.month
    assert size * after < months <= size * (after + 1)


@settings(max_examples=300, deadline=None)
@given(earned=instants, zone=st.sampled_from(ZONES), days=st.integers(1, 2000))
def test_rolling_lands_on_the_same_local_time_days_later(
    earned: datetime, zone: str, days: int
) -> None:
    tz = ZoneInfo(zone)
    result = expires_at(Rolling(days=days), earned, zone)
    assert result is not None
    elapsed = result - earned
    assert (
        timedelta(days=days) - timedelta(hours=3)
        <= elapsed
        <= timedelta(days=days) + timedelta(hours=3)
    )
    local_in, local_out = earned.astimezone(tz), result.astimezone(tz)
    assert (local_out.date() - local_in.date()).days == days or local_out.time() != local_in.time()
