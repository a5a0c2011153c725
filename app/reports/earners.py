"""Top earners of a period, kept once computed: a month of a million-entry ledger is some 50,000
EARN entries to group by member (5 s on SecantusDB), and a past month's answer does not change.

`ledger_earners` keeps, per range of `occurred_at` (a period's first and last instant in the
program's zone), the MAX_EARNERS members who earned the most in it, with the number of EARN
entries the range held when they were counted. Entries are append-only, so the answer is still
exact while the range holds as many EARN entries as then: the count comes from the rollup's
buckets, its edges and its tail (totals.py: a few small reads, exact at the instant read). A range
that gained an entry since (a late posting, an import with original dates, the current month) is
counted again from the entries and kept anew, on request only if it holds at most MAX_GROUPED
EARN entries (about a second); a larger one is refused with ReportTooLarge (a shorter period is
answered), and the worker's job counts the last closed month whatever its size. Where the buckets do not answer (no rollup yet, a
zone whose local days do not start on a UTC hour) the count would cost as much as the answer:
the entries are grouped directly, as before.

The worker's rollup job keeps the last closed month ready (`keep_last_month`), so the report most
asked for is answered from the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import EntryKind
from app.program import current_program
from app.reports.periods import DateRange, whole_hour_zone
from app.reports.rollup import watermark
from app.reports.totals import check_grouped, ledger_totals

EARNERS = "ledger_earners"
MAX_EARNERS = 100  # the most a report lists, and the members kept per range


@dataclass(frozen=True, slots=True)
class Earner:
    member_id: str
    points: int
    earns: int


async def earners(
    mongo: Mongo, span: DateRange, limit: int, *, bounded: bool = True
) -> list[Earner]:
    """The `limit` (≤ MAX_EARNERS) members who earned the most points in `span`, by points then
    id. A range not counted yet (or changed since) with more than MAX_GROUPED EARN entries is
    refused (ReportTooLarge) unless not `bounded` (the worker's job)."""

    async def read(session: AsyncClientSession) -> list[Earner] | None:
        if await watermark(mongo, session) is None:
            return None
        totals = await ledger_totals(mongo, span.start, span.end, session=session)
        earns = totals[None].kind(EntryKind.EARN).count if None in totals else 0
        kept = await mongo[EARNERS].find_one({"_id": _key(span)}, session=session)
        if kept is not None and kept["earns"] == earns:
            return [Earner(row["m"], row["points"], row["earns"]) for row in kept["rows"]]
        if bounded:
            check_grouped(earns)
        rows = await _group(mongo, span, MAX_EARNERS, session)
        document = {"earns": earns, "rows": [_document(row) for row in rows]}
        await mongo[EARNERS].replace_one(
            {"_id": _key(span)}, document, upsert=True, session=session
        )
        return rows

    if not whole_hour_zone(span.zone, span.start, span.end):
        return await _group(mongo, span, limit)
    found = await mongo.transaction(read)
    return (await _group(mongo, span, limit) if found is None else found)[:limit]


async def keep_last_month(mongo: Mongo, clock: Clock) -> None:
    """Count the top earners of the last closed month in the program's zone, if not kept yet."""
    program = await current_program(mongo)
    today = clock.now().astimezone(program.zone).date()
    last = today.replace(day=1) - timedelta(days=1)
    span = DateRange(last.replace(day=1), last, program.zone)
    if whole_hour_zone(span.zone, span.start, span.end):  # else nothing is kept: not each run
        await earners(mongo, span, 1, bounded=False)


def _document(row: Earner) -> Document:
    return {"m": row.member_id, "points": row.points, "earns": row.earns}


def _key(span: DateRange) -> str:
    return f"{_instant(span.start)}/{_instant(span.end)}"


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


async def _group(
    mongo: Mongo, span: DateRange, limit: int, session: AsyncClientSession | None = None
) -> list[Earner]:
    """The top `limit` earners of `span`, grouped from its EARN entries."""
    pipeline: list[Document] = [
        {"$match": {"occurred_at": {"$gte": span.start, "$lt": span.end}}},
        {"$match": {"kind": EntryKind.EARN.value}},
        {"$group": {"_id": "$member_id", "points": {"$sum": "$points"}, "earns": {"$sum": 1}}},
        {"$sort": {"points": -1, "_id": 1}},
        {"$limit": limit},
    ]
    cursor = await mongo["ledger"].aggregate(pipeline, session=session)
    return [Earner(str(row["_id"]), row["points"], row["earns"]) async for row in cursor]
