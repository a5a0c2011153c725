"""Top earners of a period equal the raw EARN entries grouped by member; once counted with the
rollup they are kept, and counted again when an earn joins the period (a late posting)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.program.service import current_program
from app.reports import (
    ReportTooLarge,
    TopEarners,
    by_partner,
    earn_by_rule,
    keep_last_month,
    roll_up_ledger,
    top_earners,
    totals,
)
from app.reports.periods import local_midnight
from app.worker.schedule import rollup
from tests.reports.ledger_story import build_story

MARCH = (date(2026, 3, 1), date(2026, 3, 31))


async def recount(mongo: Mongo, first: date, last: date) -> list[tuple[str, int, int]]:
    """(member, points, earns) of the period's EARN entries, most points first, then by id."""
    zone = (await current_program(mongo)).zone
    start, end = local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
    points: Counter[str] = Counter()
    earns: Counter[str] = Counter()
    async for entry in mongo["ledger"].find({"kind": "EARN"}):
        if start <= entry["occurred_at"] < end:
            points[entry["member_id"]] += entry["points"]
            earns[entry["member_id"]] += 1
    return sorted(((m, points[m], earns[m]) for m in points), key=lambda r: (-r[1], r[0]))


def rows(report: TopEarners) -> list[tuple[str, int, int]]:
    return [(row.member_id, row.points, row.earns) for row in report.rows]


async def test_top_earners_are_kept_until_an_earn_joins_their_period(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock, until=date(2026, 5, 10))
    clock.set(clock.now() + timedelta(days=2))
    before = rows(await top_earners(mongo, *MARCH, 5))  # no rollup yet: from the entries
    assert before == (await recount(mongo, *MARCH))[:5] and before
    assert await mongo["ledger_earners"].count_documents({}) == 0

    assert await roll_up_ledger(mongo, clock) > 0
    assert rows(await top_earners(mongo, *MARCH, 5)) == before
    [kept] = await mongo["ledger_earners"].find().to_list(None)
    await mongo["ledger_earners"].update_one({"_id": kept["_id"]}, {"$set": {"rows": []}})
    assert rows(await top_earners(mongo, *MARCH, 5)) == []  # what was kept is what is read

    await build_story(mongo, clock)  # the rest: an earn of 3 March posted on 18 May
    clock.set(clock.now() + timedelta(days=3))
    after = rows(await top_earners(mongo, *MARCH, 5))  # the late earn is in the rollup's tail
    assert after == (await recount(mongo, *MARCH))[:5]
    assert ("e", 700, 1) in after and after != before
    assert await roll_up_ledger(mongo, clock) > 0
    assert rows(await top_earners(mongo, *MARCH, 5)) == after
    assert rows(await top_earners(mongo, *MARCH, 1)) == after[:1]


async def test_the_rollup_job_keeps_the_last_closed_month_ready(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await build_story(mongo, clock)
    clock.set(datetime(2026, 6, 2, 9, tzinfo=UTC))
    for _ in range(20):  # a run rolls up a few slices, then says there is more
        if not (await rollup(mongo, clock)).more:
            break
    else:
        raise AssertionError("the rollup job did not catch up")
    [kept] = await mongo["ledger_earners"].find().to_list(None)
    may = (date(2026, 5, 1), date(2026, 5, 31))
    zone = (await current_program(mongo)).zone
    assert kept["_id"].startswith(local_midnight(may[0], zone).isoformat(timespec="milliseconds"))
    assert [(r["m"], r["points"], r["earns"]) for r in kept["rows"]] == await recount(mongo, *may)
    assert rows(await top_earners(mongo, *may, 3)) == (await recount(mongo, *may))[:3]


async def test_a_period_with_more_entries_than_a_report_groups_is_refused(
    mongo: Mongo, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Top earners not counted yet, earns by rule and points by partner group the period's
    entries themselves: over MAX_GROUPED (counted from the rollup) they are refused with the
    count, a shorter period is answered, and the worker's job still counts the last month."""
    await build_story(mongo, clock)
    clock.set(datetime(2026, 6, 2, 9, tzinfo=UTC))
    await roll_up_ledger(mongo, clock)
    may = (date(2026, 5, 1), date(2026, 5, 31))
    earns = len(await recount(mongo, *MARCH))  # members: at most as many as the EARN entries
    zone = (await current_program(mongo)).zone
    start, end = local_midnight(MARCH[0], zone), local_midnight(date(2026, 4, 1), zone)
    in_march = {"occurred_at": {"$gte": start, "$lt": end}}
    march_earns = await mongo["ledger"].count_documents({**in_march, "kind": "EARN"})
    march_entries = await mongo["ledger"].count_documents(in_march)
    assert earns and march_entries > march_earns > 1
    monkeypatch.setattr(totals, "MAX_GROUPED", march_earns - 1)
    with pytest.raises(ReportTooLarge) as refused:
        await top_earners(mongo, *MARCH, 5)
    assert (refused.value.entries, refused.value.limit) == (march_earns, march_earns - 1)
    assert refused.value.field == "to"
    with pytest.raises(ReportTooLarge) as refused:
        await earn_by_rule(mongo, *MARCH)
    assert refused.value.entries == march_earns
    with pytest.raises(ReportTooLarge) as refused:
        await by_partner(mongo, *MARCH)
    assert refused.value.entries == march_entries
    assert await mongo["ledger_earners"].count_documents({}) == 0
    monkeypatch.setattr(totals, "MAX_GROUPED", march_earns)
    assert rows(await top_earners(mongo, *MARCH, 5)) == (await recount(mongo, *MARCH))[:5]
    monkeypatch.setattr(totals, "MAX_GROUPED", 0)
    assert rows(await top_earners(mongo, *MARCH, 5)) == (await recount(mongo, *MARCH))[:5]  # kept
    await keep_last_month(mongo, clock)  # the worker: whatever the month holds
    assert rows(await top_earners(mongo, *may, 3)) == (await recount(mongo, *may))[:3]
