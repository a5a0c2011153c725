"""Points issued, redeemed, expired, adjusted, reversed and cleared per day, week and month in the
program's time zone equal the raw entries grouped here by their local date; with or without the
rollup, and in a zone whose days do not start on a UTC hour."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.program import save_program
from app.reports import Period, ReportInvalid, breakage, points_flow, roll_up_ledger
from app.reports.levels import DAYS, HOURS, MONTHS
from app.reports.totals import _period_buckets
from tests.api.gql import PROGRAM
from tests.reports.ledger_story import build_story

FIRST, LAST = date(2026, 1, 1), date(2026, 5, 31)
COLUMNS = {
    "EARN": "issued",
    "REDEEM": "redeemed",
    "EXPIRE": "expired",
    "REVERSAL": "reversed",
    "CLEAR": "cleared",
}


def start_of(day: date, by: Period) -> date:
    if by is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if by is Period.MONTH else day


async def raw_flows(mongo: Mongo, zone: ZoneInfo, by: Period) -> dict[date, dict[str, int]]:
    rows: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    async for entry in mongo["ledger"].find({}):
        local = entry["occurred_at"].astimezone(zone).date()
        if not FIRST <= local <= LAST:
            continue
        row, points = rows[start_of(local, by)], entry["points"]
        if entry["kind"] == "ADJUST":
            row["adjusted_in" if points > 0 else "adjusted_out"] += abs(points)
        elif entry["kind"] in COLUMNS:
            row[COLUMNS[entry["kind"]]] += abs(points)
        row["net"] += points
        row["entries"] += 1
    return rows


async def assert_flows_match(mongo: Mongo, zone: ZoneInfo) -> None:
    for by in Period:
        report = await points_flow(mongo, FIRST, LAST, by)
        raw = await raw_flows(mongo, zone, by)
        found = {
            row.period: {
                name: getattr(row, name)
                for name in (
                    "issued",
                    "redeemed",
                    "expired",
                    "adjusted_in",
                    "adjusted_out",
                    "reversed",
                    "cleared",
                    "net",
                    "entries",
                )
                if getattr(row, name)
            }
            for row in report.rows
        }
        expected = {p: {k: v for k, v in r.items() if v} for p, r in raw.items()}
        assert {p: r for p, r in found.items() if r} == expected, by
        for row in report.rows:
            assert row.net == (
                row.issued
                - row.redeemed
                - row.expired
                - row.reversed
                - row.cleared
                + row.adjusted_in
                - row.adjusted_out
            )


async def test_flows_by_day_week_and_month_match_the_raw_entries(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock, until=date(2026, 4, 30))
    zone = ZoneInfo("Asia/Shanghai")
    await assert_flows_match(mongo, zone)
    report = await points_flow(mongo, date(2026, 1, 7), date(2026, 2, 3), Period.WEEK)
    assert report.rows[0].period == date(2026, 1, 5) and report.rows[0].start == date(2026, 1, 7)
    assert report.rows[-1].end == date(2026, 2, 3)
    clock.set(clock.now() + timedelta(days=2))
    await roll_up_ledger(mongo, clock)
    await build_story(mongo, clock)  # the late posting of 3 March arrives after the rollup
    await assert_flows_match(mongo, zone)


async def test_a_zone_half_an_hour_off_utc_counts_its_own_days(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock)
    kolkata = PROGRAM.model_copy(update={"timezone": "Asia/Kolkata", "point_value": Decimal(1)})
    await save_program(mongo, clock, kolkata)
    clock.set(clock.now() + timedelta(days=2))
    await roll_up_ledger(mongo, clock)
    await assert_flows_match(mongo, ZoneInfo("Asia/Kolkata"))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
async def test_flows_read_from_days_and_months_match_the_raw_entries(
    mongo: Mongo, clock: FrozenClock, zone: str
) -> None:
    """In UTC a month of the report is a month bucket; west of UTC (and across a change to summer
    time) the days inside each local month and the hours at its edges: the same sums as the
    entries, and the tail after the rollup added."""
    await build_story(mongo, clock, until=date(2026, 4, 30))
    local = PROGRAM.model_copy(update={"timezone": zone, "point_value": Decimal(1)})
    await save_program(mongo, clock, local)
    clock.set(clock.now() + timedelta(days=2))
    await roll_up_ledger(mongo, clock)
    await build_story(mongo, clock)  # entries after the rollup: the tail
    await save_program(mongo, clock, local)  # the story sets its own zone as it goes
    await assert_flows_match(mongo, ZoneInfo(zone))


def test_a_period_is_read_as_the_coarsest_buckets_inside_it() -> None:
    utc = datetime(2026, 1, 1, tzinfo=UTC)
    plan = _period_buckets(utc, datetime(2026, 4, 1, tzinfo=UTC), Period.MONTH, ZoneInfo("UTC"))
    assert plan == {MONTHS: [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3)]}
    shanghai = ZoneInfo("Asia/Shanghai")
    start = datetime(2025, 12, 31, 16, tzinfo=UTC)  # 1 January, local midnight
    plan = _period_buckets(start, datetime(2026, 2, 28, 16, tzinfo=UTC), Period.MONTH, shanghai)
    assert set(plan) == {DAYS, HOURS}
    assert len(plan[DAYS]) == 30 + 27  # the UTC days inside each local month
    assert len(plan[HOURS]) == 24 * 2  # 8 and 16 hours at the edges of each
    by_day = _period_buckets(start, start + timedelta(days=3), Period.DAY, shanghai)
    assert by_day == {HOURS: [start + timedelta(hours=h) for h in range(72)]}


async def test_breakage_is_expired_over_issued(mongo: Mongo, clock: FrozenClock) -> None:
    await build_story(mongo, clock)
    report = await breakage(mongo, FIRST, LAST)
    earned = 1000 + 2000 + 500 + 700 + 1000 + 100 + 400
    earned += 100 + 250 + 300 + 200 + 150 + 120 + 90  # the story's pending points and late posts
    assert (report.issued, report.expired) == (earned, 700 + 150)
    assert report.rate == Decimal("0.1230")  # 850 / 6910, to four places
    empty = await breakage(mongo, date(2025, 1, 1), date(2025, 1, 31))
    assert empty.rate is None


@pytest.mark.parametrize(
    ("first", "last", "by", "field"),
    [
        (date(2026, 2, 1), date(2026, 1, 1), Period.DAY, "to"),
        (date(2026, 1, 1), date(2027, 1, 2), Period.DAY, "to"),
        (date(1, 1, 1), date(2026, 1, 1), Period.MONTH, "from"),
        (date(2026, 1, 1), date(9999, 12, 31), Period.MONTH, "to"),
    ],
)
async def test_a_period_out_of_bounds_is_refused(
    mongo: Mongo, clock: FrozenClock, first: date, last: date, by: Period, field: str
) -> None:
    await save_program(mongo, clock, PROGRAM)
    with pytest.raises(ReportInvalid) as refused:
        await points_flow(mongo, first, last, by)
    assert refused.value.field == field
