"""Points issued, redeemed, expired, adjusted, reversed and cleared per day, week and month in the
program's time zone equal the raw entries grouped here by their local date; with or without the
rollup, and in a zone whose days do not start on a UTC hour."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.program import save_program
from app.reports import Period, ReportInvalid, breakage, points_flow, roll_up_ledger
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
