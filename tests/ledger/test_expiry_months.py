"""Expiry in calendar months ("miles expire after 18 months without activity"): examples and properties."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.ledger.earn import policy_stamp
from app.ledger.expiry import (
    ExpiryPolicySet,
    Inactivity,
    Rolling,
    add_local_days,
    add_local_months,
    expires_at,
    parse_policy,
    renewal,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


def local(instant: datetime | None, zone: ZoneInfo) -> datetime:
    assert instant is not None and instant.utcoffset() == timedelta(0)
    return instant.astimezone(zone).replace(tzinfo=None)


# -- worked examples --------------------------------------------------------------------------


def test_an_airline_s_miles_expire_18_months_after_the_last_activity_on_the_same_local_day() -> (
    None
):
    policy = Inactivity(months=18)
    last_flight = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)
    assert local(renewal(policy, last_flight, SHANGHAI), SHANGHAI) == datetime(2027, 7, 31, 10, 0)
    assert expires_at(policy, last_flight, "Asia/Shanghai") == datetime(
        2027, 7, 31, 2, 0, tzinfo=UTC
    )


def test_a_day_missing_from_the_target_month_is_clamped_to_its_last_day() -> None:
    policy = Inactivity(months=18)
    end_of_august = datetime(2026, 8, 31, 10, 0, tzinfo=SHANGHAI)
    assert local(renewal(policy, end_of_august, SHANGHAI), SHANGHAI) == datetime(
        2028, 2, 29, 10, 0
    )  # 2028 is a leap year
    new_year_s_eve = datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI)
    assert local(add_local_months(new_year_s_eve, 2, SHANGHAI), SHANGHAI) == datetime(
        2027, 2, 28, 23, 30
    )
    leap_eve = datetime(2027, 12, 31, 23, 30, tzinfo=SHANGHAI)
    assert local(add_local_months(leap_eve, 2, SHANGHAI), SHANGHAI) == datetime(2028, 2, 29, 23, 30)
    january_31 = datetime(2026, 1, 31, 8, 0, tzinfo=SHANGHAI)
    assert local(add_local_months(january_31, 1, SHANGHAI), SHANGHAI) == datetime(2026, 2, 28, 8, 0)


def test_the_months_count_in_the_program_zone_not_in_utc() -> None:
    # 31 Jan 2026 20:00 UTC is already 1 Feb 04:00 in Shanghai: one month later is 1 March there.
    instant = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    assert add_local_months(instant, 1, SHANGHAI) == datetime(2026, 2, 28, 20, 0, tzinfo=UTC)
    assert add_local_months(instant, 1, ZoneInfo("UTC")) == datetime(2026, 2, 28, 20, 0, tzinfo=UTC)
    assert local(add_local_months(instant, 1, SHANGHAI), SHANGHAI) == datetime(2026, 3, 1, 4, 0)


def test_months_across_the_march_change_in_berlin_keep_the_local_time() -> None:
    winter = datetime(2026, 3, 15, 10, 0, tzinfo=BERLIN)  # CET, +01:00
    result = add_local_months(winter, 1, BERLIN)
    assert result == datetime(2026, 4, 15, 8, 0, tzinfo=UTC)  # 10:00 CEST, +02:00
    assert result - winter == timedelta(days=31) - timedelta(hours=1)


def test_months_into_the_berlin_dst_gap_move_past_the_gap_like_days_do() -> None:
    # 02:30 on 29 March 2026 does not exist in Berlin: clocks jump from 02:00 to 03:00.
    earned = datetime(2026, 1, 29, 2, 30, tzinfo=BERLIN)
    result = add_local_months(earned, 2, BERLIN)
    assert result == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert result == add_local_days(earned, 59, BERLIN)


def test_months_onto_a_repeated_hour_take_its_first_occurrence() -> None:
    # 02:30 on 25 October 2026 happens twice in Berlin; the earlier (CEST) one is the expiry.
    earned = datetime(2026, 9, 25, 2, 30, tzinfo=BERLIN)
    assert add_local_months(earned, 1, BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_rolling_takes_months_too_and_days_work_as_before() -> None:
    earned = datetime(2026, 5, 31, 9, 0, tzinfo=UTC)
    assert expires_at(Rolling(months=1), earned, "UTC") == datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
    assert expires_at(Rolling(days=30), earned, "UTC") == datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
    assert renewal(Rolling(days=30), earned, "UTC") == add_local_days(earned, 30, ZoneInfo("UTC"))
    assert expires_at(Inactivity(days=365), earned, "UTC") == datetime(
        2027, 5, 31, 9, 0, tzinfo=UTC
    )


def test_renewal_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        renewal(Inactivity(months=18), datetime(2026, 1, 1), "UTC")


# -- validation and stored form ---------------------------------------------------------------


@pytest.mark.parametrize("policy", [Rolling, Inactivity])
@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"days": 30, "months": 1}, "not both"),
        ({}, "days or months"),
        ({"days": None, "months": None}, "days or months"),
    ],
)
def test_a_span_is_days_or_months_exactly_one_of_them(
    policy: type[Rolling | Inactivity], params: dict[str, int | None], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint) as raised:
        policy.model_validate(params)
    message = str(raised.value)
    assert "days" in message and "months" in message


@pytest.mark.parametrize("policy", [Rolling, Inactivity])
@pytest.mark.parametrize("field", ["days", "months"])
@pytest.mark.parametrize("value", [0, -1, -18])
def test_a_span_of_zero_or_fewer_is_refused_naming_the_field(
    policy: type[Rolling | Inactivity], field: str, value: int
) -> None:
    with pytest.raises(ValidationError) as raised:
        policy.model_validate({field: value})
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_the_stored_form_holds_only_the_unit_given() -> None:
    assert Inactivity(days=90).model_dump() == {"kind": "inactivity", "days": 90}
    assert list(Inactivity(months=18).model_dump()) == ["kind", "months"]  # as stored until now
    assert Inactivity(months=18).model_dump() == {"kind": "inactivity", "months": 18}
    assert Rolling(days=14).model_dump(mode="json") == {"kind": "rolling", "days": 14}
    assert Rolling(months=6).model_dump(exclude={"kind"}) == {"months": 6}
    assert Inactivity(days=90).model_dump(exclude={"kind"}) == {"days": 90}
    assert policy_stamp(Inactivity(months=18), 2, "Asia/Shanghai") == {
        "kind": "inactivity",
        "params": {"months": 18},
        "version": 2,
        "tz": "Asia/Shanghai",
    }


@pytest.mark.parametrize(
    "policy", [Rolling(days=14), Rolling(months=6), Inactivity(days=548), Inactivity(months=18)]
)
def test_the_stored_form_round_trips(policy: Rolling | Inactivity) -> None:
    assert parse_policy(policy.model_dump()) == policy
    assert parse_policy(policy.model_dump(mode="json")) == policy
    stamp = policy_stamp(policy, 1, "Europe/Berlin")
    assert parse_policy({"kind": stamp["kind"], **stamp["params"]}) == policy
    policies = ExpiryPolicySet(default=policy, by_tier={"gold": Inactivity(months=24)})
    assert ExpiryPolicySet.model_validate(policies.model_dump(mode="json")) == policies


def test_a_policy_stored_before_months_existed_still_reads() -> None:
    assert parse_policy({"kind": "inactivity", "days": 90}) == Inactivity(days=90)
    assert parse_policy({"kind": "rolling", "days": 14}) == Rolling(days=14)


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(instant=instants, zone=st.sampled_from(ZONES), months=st.integers(1, 1_200))
def test_months_later_is_later_on_the_same_or_the_clamped_day_at_the_same_local_time(
    instant: datetime, zone: str, months: int
) -> None:
    tz = ZoneInfo(zone)
    result = add_local_months(instant, months, tz)
    assert result.utcoffset() == timedelta(0)
    assert result > instant
    before, after = instant.astimezone(tz), result.astimezone(tz)
    assert (after.year - before.year) * 12 + after.month - before.month == months
    month_end = calendar.monthrange(after.year, after.month)[1]
    assert after.day == min(before.day, month_end)
    if after.time() != before.time():  # only in a DST gap, moved forward by the gap's size
        wanted = after.replace(hour=before.hour, minute=before.minute, second=before.second)
        assert wanted.replace(tzinfo=None) != local(result, tz)
        assert timedelta(0) < after.replace(tzinfo=None) - wanted.replace(tzinfo=None)
        assert after.replace(tzinfo=None) - wanted.replace(tzinfo=None) <= timedelta(hours=1)
        assert _in_a_gap(wanted.replace(tzinfo=None), tz)


@settings(max_examples=300, deadline=None)
@given(instant=instants, zone=st.sampled_from(ZONES))
def test_twelve_months_are_one_calendar_year(instant: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    start = instant.astimezone(tz).replace(tzinfo=None)
    day = min(start.day, calendar.monthrange(start.year + 1, start.month)[1])  # 29 Feb -> 28 Feb
    a_year_later = start.replace(year=start.year + 1, day=day)
    assert add_local_months(instant, 12, tz) == a_year_later.replace(tzinfo=tz).astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(instant=instants, zone=st.sampled_from(ZONES), months=st.integers(1, 600))
def test_a_months_policy_renews_and_expires_by_add_local_months(
    instant: datetime, zone: str, months: int
) -> None:
    tz = ZoneInfo(zone)
    expected = add_local_months(instant, months, tz)
    assert renewal(Inactivity(months=months), instant, tz) == expected
    assert renewal(Rolling(months=months), instant, zone) == expected
    assert expires_at(Inactivity(months=months), instant, zone) == expected
    assert add_local_months(instant, months + 1, tz) > expected


def _in_a_gap(wall: datetime, tz: ZoneInfo) -> bool:
    """A local wall-clock time that no instant shows in `tz` (skipped by a DST change)."""
    round_trip = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return round_trip != wall
