"""The ledger's hourly rollup: per UTC hour of `occurred_at`, what each kind of entry moved.

Reports over long periods (liability as of a date, points issued by month) would otherwise sum
every entry since the program began; SecantusDB aggregates about 20,000 entries a second, so a
million entries took most of a minute. The rollup keeps one small document per hour instead, in
`ledger_hours`:

    {_id: <the hour, UTC>, kinds: {EARN: {credit, debit, count}, REDEEM: {...}, ...},
     debt: Σ debt_change, count: entries, pending: Σ pending moves, held: Σ held moves}

and, for an "as of" inside an hour, `ledger_maturities` keeps the pending moves where a return
window closes by their exact instant (the split into pending, held and available: moves.py). The
moves are a second track with a watermark of their own, rolled up after the entries' sums.

The ledger's writes know nothing of it. A job (`roll_up_ledger`, under the worker's lease) adds
the entries *recorded* since its watermark to the hours they *occurred* in, so a purchase posted
late or an import with original dates lands in its own hour whenever it is recorded. Readers
(app/reports/totals.py) add the entries recorded after the watermark (the tail) to the buckets, in
one snapshot, so a report is exact whether the job ran a minute or a month ago.

The watermark trails the clock by SETTLE: an entry is committed within SETTLE of its
`recorded_at` (a ledger transaction has a 30 s budget; an import stamps each batch just before
writing it), so no entry can appear below a watermark once it is set; a hold is opened and
closed by ledger transactions too, at the instants it records (`created_at`, `closed_at`), so the
same watermark says which hold moves are in the buckets. Each run is one transaction
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
from app.reports.moves import MATURITIES, held_sums, pending_moves

SETTLE = timedelta(hours=1)
SLICE = 50_000  # entries per step of a catch-up
STATE_ID = "ledger_hours"  # the watermarks' document in `meta`
BUCKETS = "ledger_hours"
# The two tracks of the rollup, each with its watermark in the state document: the entries' sums,
# and the pending and held moves (moves.py). They are apart so that a rollup kept before the moves
# existed catches up on them from the first entry, in slices, while its sums stay as they are.
ENTRIES, MOVES = "watermark", "moves_watermark"


async def watermarks(
    mongo: Mongo, session: AsyncClientSession | None = None
) -> tuple[datetime | None, datetime | None]:
    """(entries, moves): what was recorded at or before each is in the buckets; None: not yet.
    Moves are never counted as rolled up while the entries are not."""
    state = await mongo["meta"].find_one({"_id": STATE_ID}, session=session) or {}
    entries = state.get(ENTRIES)
    return entries, None if entries is None else state.get(MOVES)


async def watermark(mongo: Mongo, session: AsyncClientSession | None = None) -> datetime | None:
    """Entries recorded at or before this instant are in the buckets; None: no rollup yet."""
    return (await watermarks(mongo, session))[0]


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
    a million entries is many bounded steps, not one aggregate no budget allows); then their
    pending and held moves, likewise. The number of entries added. With `max_slices`, each track
    stops after that many (the worker's job runs again)."""
    total = 0
    for track in (ENTRIES, MOVES):
        slices = 0
        while max_slices is None or slices < max_slices:
            added, caught_up = await _roll_up_slice(mongo, clock, slice_size, track)
            total += added
            slices += 1
            if caught_up:
                break
    return total


async def caught_up(mongo: Mongo, clock: Clock) -> bool:
    near = clock.now() - SETTLE - timedelta(seconds=1)
    return all(mark is not None and mark >= near for mark in await watermarks(mongo))


async def _roll_up_slice(
    mongo: Mongo, clock: Clock, slice_size: int, track: str
) -> tuple[int, bool]:
    """One slice of a track; (entries added, whether its watermark reached now − SETTLE or
    another run moved it first)."""
    state = await mongo["meta"].find_one({"_id": STATE_ID}) or {}
    before = state.get(track)
    if track == MOVES and state.get(ENTRIES) is None:
        return 0, True  # the entries first: the moves never run ahead of them
    limit = clock.now() - SETTLE
    if before is not None and limit <= before:
        return 0, True
    recorded: Document = {"$lte": limit} if before is None else {"$gt": before, "$lte": limit}
    boundary = await mongo["ledger"].find_one(
        {"recorded_at": recorded}, {"recorded_at": 1}, sort=[("recorded_at", 1)], skip=slice_size
    )
    after = limit if boundary is None else boundary["recorded_at"]
    recorded = {**recorded, "$lte": after}
    updates: dict[datetime, dict[str, int]] = {}
    ends: list[tuple[datetime, int]] = []
    if track == ENTRIES:
        await _add_sums(mongo, recorded, updates)
    else:
        ends = await _add_moves(mongo, recorded, updates)

    async def work(session: AsyncClientSession) -> int | None:
        if not await _move_watermark(mongo, session, track, before, after):
            return None
        if updates:
            await mongo[BUCKETS].bulk_write(
                [UpdateOne({"_id": h}, {"$inc": inc}, upsert=True) for h, inc in updates.items()],
                ordered=False,
                session=session,
            )
        if ends:
            await mongo[MATURITIES].bulk_write(
                [UpdateOne({"_id": at}, {"$inc": {"pending": n}}, upsert=True) for at, n in ends],
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


async def _add_sums(
    mongo: Mongo, window: Document, updates: dict[datetime, dict[str, int]]
) -> None:
    """Add to `updates` the sums of the entries recorded in `window`, by the hour they occurred."""
    cursor = await mongo["ledger"].aggregate(
        entry_sums({"recorded_at": window}, _hour("$occurred_at"))
    )
    async for row in cursor:
        inc = updates.setdefault(row["_id"]["p"], {"debt": 0, "count": 0})
        kind = row["_id"]["k"]
        for name in ("credit", "debit", "count"):
            inc[f"kinds.{kind}.{name}"] = row[name]
        inc["debt"] += row["debt"]
        inc["count"] += row["count"]


def _hour(field: str) -> Document:
    return {"$dateTrunc": {"date": field, "unit": "hour"}}


async def _add_moves(
    mongo: Mongo, window: Document, updates: dict[datetime, dict[str, int]]
) -> list[tuple[datetime, int]]:
    """Add to `updates` the pending and held moves (app/reports/moves.py) of the entries recorded
    and the holds opened or closed in `window`, by the hour they fall in; returns the pending
    moves where windows close, by instant, for `ledger_maturities`."""
    facet = {
        "hours": [{"$group": {"_id": _hour("$at"), "pending": {"$sum": "$pending"}}}],
        "ends": [
            {"$match": {"end": True}},
            {"$group": {"_id": "$at", "pending": {"$sum": "$pending"}}},
        ],
    }
    cursor = await mongo["ledger"].aggregate(
        [*pending_moves({"recorded_at": window}), {"$facet": facet}]
    )
    found = await cursor.to_list(None)
    moved = found[0] if found else {"hours": [], "ends": []}
    for row in moved["hours"]:
        inc = updates.setdefault(row["_id"], {"debt": 0, "count": 0})
        inc["pending"] = inc.get("pending", 0) + row["pending"]
    for field in ("created_at", "closed_at"):
        async for row in await mongo["holds"].aggregate(held_sums(field, window, _hour)):
            inc = updates.setdefault(row["_id"], {"debt": 0, "count": 0})
            inc["held"] = inc.get("held", 0) + row["held"]
    return [(row["_id"], row["pending"]) for row in moved["ends"] if row["pending"]]


async def _move_watermark(
    mongo: Mongo,
    session: AsyncClientSession,
    track: str,
    before: datetime | None,
    after: datetime,
) -> bool:
    """Compare and set: False if another run moved the track's watermark since we read it (a
    first run racing another one fails on the state document's id: DuplicateKeyError)."""
    meta = mongo["meta"]
    if before is None:
        await meta.update_one(
            {"_id": STATE_ID, track: None}, {"$set": {track: after}}, upsert=True, session=session
        )
        return True
    moved = await meta.update_one(
        {"_id": STATE_ID, track: before}, {"$set": {track: after}}, session=session
    )
    return moved.modified_count == 1
