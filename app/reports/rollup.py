"""The ledger's hourly rollup: per UTC hour of `occurred_at`, what each kind of entry moved.

Reports over long periods (liability as of a date, points issued by month) would otherwise sum
every entry since the program began; SecantusDB aggregates about 20,000 entries a second, so a
million entries took most of a minute. The rollup keeps one small document per hour instead, in
`ledger_hours`:

    {_id: <the hour, UTC>, kinds: {EARN: {credit, debit, count}, REDEEM: {...}, ...},
     debt: Σ debt_change, count: entries}

The ledger's writes know nothing of it. A job (`roll_up_ledger`, under the worker's lease) adds
the entries *recorded* since its watermark to the hours they *occurred* in, so a purchase posted
late or an import with original dates lands in its own hour whenever it is recorded. Readers
(app/reports/totals.py) add the entries recorded after the watermark (the tail) to the buckets, in
one snapshot, so a report is exact whether the job ran a minute or a month ago.

The watermark trails the clock by SETTLE: an entry is committed within SETTLE of its
`recorded_at` (a ledger transaction has a 30 s budget; an import stamps each batch just before
writing it), so no entry can appear below a watermark once it is set. Each run is one transaction
that moves the watermark from the value it read (compare and set), so two runs at once cannot
count an entry twice, and a run killed midway changed nothing. A run catches up in slices of
SLICE entries, each such a transaction: a million entries recorded since the last run (an import,
a first run) are many bounded steps rather than one aggregate that no time budget allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo

SETTLE = timedelta(hours=1)
SLICE = 50_000  # entries per step of a catch-up
STATE_ID = "ledger_hours"  # the watermark's document in `meta`
BUCKETS = "ledger_hours"


async def watermark(mongo: Mongo, session: AsyncClientSession | None = None) -> datetime | None:
    """Entries recorded at or before this instant are in the buckets; None: no rollup yet."""
    state = await mongo["meta"].find_one({"_id": STATE_ID}, session=session)
    return None if state is None else state["watermark"]


def entry_sums(match: Document, key: Any) -> list[Document]:
    """Pipeline: entries matching `match`, summed per (`key`, kind): credit (Σ positive points),
    debit (Σ negative points), debt (Σ debt_change) and count."""
    return [
        {"$match": match},
        {
            "$group": {
                "_id": {"p": key, "k": "$kind"},
                "credit": {"$sum": {"$cond": [{"$gt": ["$points", 0]}, "$points", 0]}},
                "debit": {"$sum": {"$cond": [{"$lt": ["$points", 0]}, "$points", 0]}},
                "debt": {"$sum": "$debt_change"},
                "count": {"$sum": 1},
            }
        },
    ]


async def roll_up_ledger(
    mongo: Mongo, clock: Clock, *, max_slices: int | None = None, slice_size: int = SLICE
) -> int:
    """Add the entries recorded since the watermark (up to now − SETTLE) to their hours, a slice
    of at most SLICE entries at a time (each its own aggregate and transaction, so catching up on
    a million entries is many bounded steps, not one aggregate no budget allows); the number of
    entries added. With `max_slices`, stops after that many (the worker's job runs again)."""
    total = 0
    slices = 0
    while max_slices is None or slices < max_slices:
        added, caught_up = await _roll_up_slice(mongo, clock, slice_size)
        total += added
        slices += 1
        if caught_up:
            break
    return total


async def caught_up(mongo: Mongo, clock: Clock) -> bool:
    mark = await watermark(mongo)
    return mark is not None and mark >= clock.now() - SETTLE - timedelta(seconds=1)


async def _roll_up_slice(mongo: Mongo, clock: Clock, slice_size: int) -> tuple[int, bool]:
    """One slice; (entries added, whether the watermark reached now − SETTLE or another run
    moved it first)."""
    before = await watermark(mongo)
    limit = clock.now() - SETTLE
    if before is not None and limit <= before:
        return 0, True
    recorded: Document = {"$lte": limit} if before is None else {"$gt": before, "$lte": limit}
    boundary = await mongo["ledger"].find_one(
        {"recorded_at": recorded}, {"recorded_at": 1}, sort=[("recorded_at", 1)], skip=slice_size
    )
    after = limit if boundary is None else boundary["recorded_at"]
    recorded = {**recorded, "$lte": after}
    hour = {"$dateTrunc": {"date": "$occurred_at", "unit": "hour"}}
    cursor = await mongo["ledger"].aggregate(entry_sums({"recorded_at": recorded}, hour))
    updates: dict[datetime, dict[str, int]] = {}
    async for row in cursor:
        inc = updates.setdefault(row["_id"]["p"], {"debt": 0, "count": 0})
        kind = row["_id"]["k"]
        for name in ("credit", "debit", "count"):
            inc[f"kinds.{kind}.{name}"] = row[name]
        inc["debt"] += row["debt"]
        inc["count"] += row["count"]

    async def work(session: AsyncClientSession) -> int | None:
        if not await _move_watermark(mongo, session, before, after):
            return None
        if updates:
            await mongo[BUCKETS].bulk_write(
                [UpdateOne({"_id": h}, {"$inc": inc}, upsert=True) for h, inc in updates.items()],
                ordered=False,
                session=session,
            )
        return sum(inc["count"] for inc in updates.values())

    try:
        added = await mongo.transaction(work)
    except DuplicateKeyError:  # a first run at the same time wrote the watermark first
        return 0, True
    if added is None:  # another run moved the watermark first: it goes on
        return 0, True
    return added, after >= limit


async def _move_watermark(
    mongo: Mongo, session: AsyncClientSession, before: datetime | None, after: datetime
) -> bool:
    """Compare and set: False if another run moved the watermark since we read it."""
    meta = mongo["meta"]
    if before is None:
        existing = await meta.find_one({"_id": STATE_ID}, session=session)
        if existing is not None:
            return False
        await meta.insert_one({"_id": STATE_ID, "watermark": after}, session=session)
        return True
    moved = await meta.update_one(
        {"_id": STATE_ID, "watermark": before}, {"$set": {"watermark": after}}, session=session
    )
    return moved.modified_count == 1
