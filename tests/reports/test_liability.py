"""Outstanding liability as of past dates equals a recomputation from the raw ledger entries,
with the point value of the program version in force at each date; and so does its split into
available, pending and held points, recounted from the raw lots and holds, at every instant
something moved."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from app.clock import FrozenClock
from app.db import Document, Mongo
from app.importer import import_files
from app.ledger import mature_due
from app.reports import Liability, liability_as_of, liability_series, roll_up_ledger
from tests.reports.ledger_story import at, build_story, end_of, recount, recount_split

ONE_MS = timedelta(milliseconds=1)

DATES = (date(2026, 2, 12), date(2026, 3, 31), date(2026, 5, 19))
INSTANTS = (
    at(date(2026, 2, 15)) - timedelta(milliseconds=1),  # just before the refund
    at(date(2026, 3, 12)) + timedelta(minutes=30),  # half an hour after an adjustment
    at(date(2026, 3, 31), 15),  # the very instant of an earn
)


async def assert_split(mongo: Mongo, report: Liability, until: datetime) -> None:
    """The report's available, pending and held are the raw documents' recount, and add up."""
    recounted = await recount_split(mongo, until)
    assert (report.available, report.pending, report.held) == recounted, until
    assert report.available + report.pending + report.held == report.points


async def assert_reconciled(mongo: Mongo, clock: FrozenClock) -> None:
    for day in DATES:
        report = await liability_as_of(mongo, clock, on=day)
        points, debt, money = await recount(mongo, end_of(day))
        assert (report.points, report.debt, report.money) == (points, debt, money), day
        assert report.net_points == points - debt
        await assert_split(mongo, report, end_of(day))
    for instant in INSTANTS:  # inside an hour: the rollup's edges; T itself is counted
        report = await liability_as_of(mongo, clock, at=instant)
        recounted = await recount(mongo, instant + ONE_MS)
        assert (report.points, report.debt, report.money) == recounted, instant
        await assert_split(mongo, report, instant + ONE_MS)


async def moments(mongo: Mongo) -> list[datetime]:
    """Every instant at which something moved points between available, pending and held (an
    entry, a window closing, a hold opening or closing), and the millisecond before each."""
    found: set[datetime] = set()
    async for entry in mongo["ledger"].find({}, {"occurred_at": 1}):
        found.add(entry["occurred_at"])
    async for lot in mongo["lots"].find({}, {"earned_at": 1, "available_at": 1}):
        found |= {lot["earned_at"], lot["available_at"]}
    async for made in mongo["holds"].find({}, {"created_at": 1, "closed_at": 1}):
        found |= {made["created_at"], *([made["closed_at"]] if made.get("closed_at") else [])}
    return sorted(found | {instant - ONE_MS for instant in found})


async def test_liability_as_of_three_past_dates_equals_the_raw_ledger(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=3))
    await assert_reconciled(mongo, clock)
    values = {(await liability_as_of(mongo, clock, on=day)).value.value for day in DATES}
    assert values == {Decimal("0.01"), Decimal("0.015"), Decimal("0.0125")}
    debts = [(await liability_as_of(mongo, clock, on=day)).debt for day in DATES]
    assert debts[0] == 0 and debts[1] > 0  # the refund after spending left a debt by March


async def test_the_rollup_changes_no_figure_and_a_late_posting_lands_on_its_date(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock, until=date(2026, 5, 10))
    clock.set(clock.now() + timedelta(days=2))
    assert await roll_up_ledger(mongo, clock) > 0
    assert await roll_up_ledger(mongo, clock) == 0  # nothing new
    await assert_reconciled(mongo, clock)
    before = await liability_as_of(mongo, clock, on=DATES[1])
    await build_story(mongo, clock)  # the rest: a hold, and an earn of 3 March posted on 18 May
    clock.set(clock.now() + timedelta(days=3))
    await assert_reconciled(mongo, clock)  # the late earn is in the tail, on 3 March
    after = await liability_as_of(mongo, clock, on=DATES[1])
    assert after.points == before.points + 700
    assert await roll_up_ledger(mongo, clock) > 0
    await assert_reconciled(mongo, clock)


async def test_liability_now_is_what_the_accounts_hold(mongo: Mongo, clock: FrozenClock) -> None:
    await build_story(mongo, clock)
    report = await liability_as_of(mongo, clock)
    held = debt = 0
    async for account in mongo["accounts"].find({}):
        held += account["available"] + account["pending"] + account["held"]
        debt += account["debt"]
    assert (report.points, report.debt) == (held, debt)


async def test_a_daily_series_values_each_day_at_its_own_point_value(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock)
    series = await liability_series(mongo, date(2026, 2, 26), date(2026, 3, 6))
    assert [day for day, _ in series.days][0] == date(2026, 2, 26)
    assert len(series.days) == 9
    for day, report in series.days:
        points, debt, money = await recount(mongo, end_of(day))
        assert (report.points, report.debt, report.money) == (points, debt, money), day
    assert {report.value.value for _, report in series.days} == {Decimal("0.01"), Decimal("0.015")}


async def test_a_catch_up_in_small_slices_gives_the_same_figures_as_one_pass(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """Slices of about three entries (a window of `recorded_at` learnt from the last one's
    density): every entry counted once, the watermark where one pass puts it."""
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=2))
    entries = await mongo["ledger"].count_documents({})
    assert entries > 6
    first = await roll_up_ledger(mongo, clock, max_slices=1, slice_size=3)
    assert 0 < first < entries  # one slice: the first day of entries recorded
    assert await roll_up_ledger(mongo, clock, slice_size=3) == entries - first
    hours = await mongo["ledger_hours"].find().to_list(None)
    assert sum(hour["count"] for hour in hours) == entries
    await assert_reconciled(mongo, clock)


async def test_an_import_after_the_rollup_is_in_every_liability(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """Opening balances carry their original earn dates, long before the rollup's watermark: the
    rollup must still count them (they are recorded when imported, not when earned)."""
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=2))
    assert await roll_up_ledger(mongo, clock) > 0
    before = await liability_as_of(mongo, clock, on=DATES[1])
    members = "legacy_id,phone,name,email,birthday,tier,joined_at\nOLD1,13900000001,Old,,,,\n"
    balances = "legacy_id,points,earned_at,expires_at\nOLD1,400,2026-03-02,2027-12-31\n"
    summary = await import_files(mongo, clock, members, balances, actor="cli:test")
    assert summary.points_imported == 400
    after = await liability_as_of(mongo, clock, on=DATES[1])
    assert after.points == before.points + 400  # earned on 2 March, held on 31 March
    await assert_reconciled(mongo, clock)
    clock.set(clock.now() + timedelta(days=1))
    assert await roll_up_ledger(mongo, clock) > 0  # the import's entries, once
    await assert_reconciled(mongo, clock)
    now = await liability_as_of(mongo, clock)
    accounts = await mongo["accounts"].find().to_list(None)
    assert now.points == sum(a["available"] + a["pending"] + a["held"] for a in accounts)


async def test_available_pending_and_held_are_exact_at_every_instant_something_moved(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """With no rollup, with one whose watermark sits mid-story (part of the ledger in the hours,
    the rest in the tail), and with all of it rolled up: the same split at every instant."""
    await build_story(mongo, clock, until=date(2026, 4, 16))
    clock.set(clock.now() + timedelta(days=1))
    await roll_up_ledger(mongo, clock)  # the watermark: 16 April, inside f's window
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=10))  # e-pend's window has closed too
    instants = await moments(mongo)
    assert len(instants) > 60
    for rolled in (False, True):
        for instant in instants:
            await assert_split(
                mongo, await liability_as_of(mongo, clock, at=instant), instant + ONE_MS
            )
        if not rolled:
            assert await roll_up_ledger(mongo, clock) > 0
    seen = [await liability_as_of(mongo, clock, at=instant) for instant in instants]
    assert max(report.pending for report in seen) > 0 and max(r.held for r in seen) > 0


async def test_the_split_now_is_what_the_accounts_hold_once_their_windows_caught_up(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """The accounts' counters move a lot out of pending when a job or an operation reaches it;
    the report follows the window itself: the two agree once the job has run."""
    await build_story(mongo, clock)
    clock.set(at(date(2026, 5, 24)))  # e-pend's window (23 May) has closed
    report = await liability_as_of(mongo, clock)
    accounts = await mongo["accounts"].find().to_list(None)
    assert report.pending < sum(a["pending"] for a in accounts)  # not caught up yet
    await mature_due(mongo, clock)
    accounts = await mongo["accounts"].find().to_list(None)
    assert (report.available, report.pending, report.held) == (
        sum(a["available"] for a in accounts),
        sum(a["pending"] for a in accounts),
        sum(a["held"] for a in accounts),
    )
    assert report.held == 200  # a's hold of 3 May, open for 30 days


async def test_a_rollup_kept_before_the_split_existed_catches_up_on_it(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """Hours rolled up by a version that summed the entries only (no moves, no moves watermark):
    the split reads the raw entries until the next run has added the moves, in small slices,
    from the first entry; the entries' sums are not added twice."""
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=2))
    entries = await roll_up_ledger(mongo, clock)
    await mongo["meta"].update_one(
        {"_id": "ledger_hours"}, {"$unset": {"moves_watermark": "", "levels": ""}}
    )  # that version had no days and months either (levels.py): they came after the split
    await mongo["ledger_hours"].update_many({}, {"$unset": {"pending": "", "held": ""}})
    for name in ("ledger_maturities", "ledger_days", "ledger_months"):
        await mongo[name].delete_many({})
    await assert_reconciled(mongo, clock)  # the moves from the raw entries meanwhile
    assert await roll_up_ledger(mongo, clock, slice_size=7) == 0  # no entry counted again
    assert await mongo["ledger_maturities"].count_documents({}) > 0
    await assert_reconciled(mongo, clock)
    hours = await mongo["ledger_hours"].find().to_list(None)
    assert sum(hour["count"] for hour in hours) == entries


def sums(buckets: list[Document]) -> dict[datetime, tuple[object, ...]]:
    fields = ("count", "debt", "pending", "held")
    return {b["_id"]: (*(b.get(f, 0) for f in fields), b["kinds"]) for b in buckets}


async def test_a_rollup_kept_before_its_days_and_months_existed_builds_them_from_its_hours(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """A liability as of a date reads whole months and days where it can; a rollup that has only
    hours reads them until the next run has built the days and months from them, once."""
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=2))
    await roll_up_ledger(mongo, clock)
    months = await mongo["ledger_months"].find().to_list(None)
    assert len(months) >= 5 and await mongo["ledger_days"].count_documents({}) > 30
    await mongo["meta"].update_one({"_id": "ledger_hours"}, {"$unset": {"levels": ""}})
    for name in ("ledger_days", "ledger_months"):
        await mongo[name].delete_many({})
    await assert_reconciled(mongo, clock)  # from the hours meanwhile
    assert await roll_up_ledger(mongo, clock) == 0
    assert sums(await mongo["ledger_months"].find().to_list(None)) == sums(months)
    await assert_reconciled(mongo, clock)


async def test_maturities_kept_before_they_had_their_instant_are_read_until_it_is_stamped(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """Maturities kept by a version that had only their `_id` (read by a range of it, which
    SecantusDB scans whole): the split reads them by `_id` until the next run stamps `at` on each
    (one transaction with the flag that has readers use it), then by `at`, the same."""
    await build_story(mongo, clock)
    clock.set(clock.now() + timedelta(days=10))
    await roll_up_ledger(mongo, clock)
    await mongo["meta"].update_one({"_id": "ledger_hours"}, {"$unset": {"maturities_at": ""}})
    await mongo["ledger_maturities"].update_many({}, {"$unset": {"at": ""}})
    kept = await mongo["ledger_maturities"].find().to_list(None)
    assert kept
    instants = [m["_id"] + offset for m in kept for offset in (-ONE_MS, timedelta(0))]
    for stamped in (False, True):
        for instant in instants:
            await assert_split(
                mongo, await liability_as_of(mongo, clock, at=instant), instant + ONE_MS
            )
        if not stamped:
            assert await roll_up_ledger(mongo, clock) == 0
            assert await mongo["ledger_maturities"].count_documents({"at": {"$exists": False}}) == 0
