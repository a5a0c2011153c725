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
about SLICE entries, each such a transaction: a million entries recorded since the last run (an
import, a first run) are many bounded steps rather than one aggregate that no time budget allows.

A slice is a window of `recorded_at` bounded on both sides, (watermark, watermark + span], so it
costs its own entries and nothing more: SecantusDB materialises the whole index range of a query
before it sorts, skips or limits, so finding the slice's end by counting SLICE entries from the
watermark (`skip`) cost the rest of the range each time, quadratic in a catch-up. The span is
learnt from the density of the last slice (kept in the state document beside the watermark): it
grows over quiet periods and shrinks to about SLICE entries over busy ones. A burst far denser
than the last slice (an import after a quiet week) is one larger slice: still read once. The
first run of a track starts at the oldest entry's `recorded_at`, one pass over the index.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo
from app.reports import levels
from app.reports.moves import MATURITIES, held_sums, window_moves

SETTLE = timedelta(hours=1)
SLICE = 50_000  # entries per step of a catch-up, about
FIRST_SPAN = timedelta(days=1)  # the window of a track's first slice
MAX_SPAN = timedelta(days=92)  # how far one slice may reach over a quiet period
MAX_GROWTH = 8  # how much faster than the last slice's the next one may reach
STATE_ID = "ledger_hours"  # the watermarks' document in `meta`
BUCKETS = "ledger_hours"
# The two tracks of the rollup, each with its watermark in the state document: the entries' sums,
# and the pending and held moves (moves.py). They are apart so that a rollup kept before the moves
# existed catches up on them from the first entry, in slices, while its sums stay as they are.
ENTRIES, MOVES = "watermark", "moves_watermark"
SPANS = {ENTRIES: "span_ms", MOVES: "moves_span_ms"}  # each track's learnt window
MATURITIES_AT = "maturities_at"  # every kept maturity has its `at` (moves.py)
FIRST = "first_recorded"  # where the first run started: the moves' first run starts there too
ONE_MS = timedelta(milliseconds=1)


async def watermarks(
    mongo: Mongo, session: AsyncClientSession | None = None
) -> tuple[datetime | None, datetime | None]:
    """(entries, moves): what was recorded at or before each is in the buckets; None: not yet.
    Moves are never counted as rolled up while the entries are not."""
    state = await mongo["meta"].find_one({"_id": STATE_ID}, session=session) or {}
    entries = state.get(ENTRIES)
    return entries, None if entries is None else state.get(MOVES)


async def rollup_state(
    mongo: Mongo, session: AsyncClientSession | None = None
) -> tuple[datetime | None, datetime | None, bool, bool]:
    """The watermarks (as `watermarks`), whether the days and months hold what the hours do
    (levels.py), and whether every kept maturity has its `at` (read by its index: moves.py)."""
    state = await mongo["meta"].find_one({"_id": STATE_ID}, session=session) or {}
    entries = state.get(ENTRIES)
    moves = None if entries is None else state.get(MOVES)
    return entries, moves, bool(state.get(levels.READY)), bool(state.get(MATURITIES_AT))


async def _stamp_maturities(mongo: Mongo) -> None:
    """Stamp `at` on the maturities a rollup kept before they had it (once, in one transaction
    with the flag that has readers use it)."""

    async def stamp(session: AsyncClientSession) -> None:
        state = await mongo["meta"].find_one({"_id": STATE_ID}, session=session)
        if state is None or state.get(MATURITIES_AT):
            return
        unstamped = mongo[MATURITIES].find({"at": {"$exists": False}}, {"_id": 1}, session=session)
        stamps = [UpdateOne({"_id": d["_id"]}, {"$set": {"at": d["_id"]}}) async for d in unstamped]
        if stamps:
            await mongo[MATURITIES].bulk_write(stamps, ordered=False, session=session)
        await mongo["meta"].update_one(
            {"_id": STATE_ID}, {"$set": {MATURITIES_AT: True}}, session=session
        )

    state = await mongo["meta"].find_one({"_id": STATE_ID})
    if state is not None and not state.get(MATURITIES_AT):
        await mongo.transaction(stamp)


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
    of about `slice_size` entries at a time (each its own aggregate and transaction, so catching
    up on a million entries is many bounded steps, not one aggregate no budget allows); then their
    pending and held moves, likewise. The number of entries added. With `max_slices`, each track
    stops after that many (the worker's job runs again)."""
    await levels.ensure(mongo, STATE_ID)
    await _stamp_maturities(mongo)
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
    start = before if before is not None else state.get(FIRST) or await _oldest(mongo, limit)
    span = timedelta(milliseconds=state.get(SPANS[track], FIRST_SPAN // ONE_MS))
    after = limit if start is None else min(start + span, limit)
    recorded: Document = {"$lte": after}
    if before is not None:
        recorded["$gt"] = before
    elif start is not None:
        recorded["$gte"] = start
    updates: dict[datetime, dict[str, int]] = {}
    ends: list[tuple[datetime, int]] = []
    if track == ENTRIES:
        counted = await _add_sums(mongo, recorded, updates)
    else:
        counted, ends = await _add_moves(mongo, recorded, updates)
    learnt = span if start is None else _next_span(span, after - start, counted, slice_size)

    async def work(session: AsyncClientSession) -> int | None:
        moved_to = {track: after, SPANS[track]: learnt // ONE_MS}
        if before is None and start is not None:
            moved_to[FIRST] = start
        if track == ENTRIES and before is None:  # a new rollup: its days and months from now on
            moved_to[levels.READY] = True
            moved_to[MATURITIES_AT] = True
        if not await _move_watermark(mongo, session, track, before, moved_to):
            return None
        if updates:
            await mongo[BUCKETS].bulk_write(
                [UpdateOne({"_id": h}, {"$inc": inc}, upsert=True) for h, inc in updates.items()],
                ordered=False,
                session=session,
            )
            await levels.add(mongo, session, updates)
        if ends:
            await mongo[MATURITIES].bulk_write(
                [
                    UpdateOne(
                        {"_id": at}, {"$inc": {"pending": n}, "$set": {"at": at}}, upsert=True
                    )
                    for at, n in ends
                ],
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


async def _oldest(mongo: Mongo, limit: datetime) -> datetime | None:
    """The first `recorded_at` at or before `limit`, where a track's first run starts: one pass
    over the entries (SecantusDB has no cheaper minimum of an index), once in a database's life."""
    cursor = await mongo["ledger"].aggregate(
        [
            {"$match": {"recorded_at": {"$lte": limit}}},
            {"$group": {"_id": None, "first": {"$min": "$recorded_at"}}},
        ]
    )
    found = await cursor.to_list(None)
    return found[0]["first"] if found else None


def _next_span(span: timedelta, width: timedelta, counted: int, slice_size: int) -> timedelta:
    """The window of the next slice: what would have held `slice_size` entries at the density
    the last one found (`counted` in `width`), growing at most MAX_GROWTH times a slice over
    quiet periods, within [1 ms, MAX_SPAN]."""
    wanted = span * MAX_GROWTH if counted == 0 else width * slice_size / counted
    return max(ONE_MS, min(wanted, span * MAX_GROWTH, MAX_SPAN))


async def _add_sums(mongo: Mongo, window: Document, updates: dict[datetime, dict[str, int]]) -> int:
    """Add to `updates` the sums of the entries recorded in `window`, by the hour they occurred;
    the number of entries."""
    cursor = await mongo["ledger"].aggregate(
        entry_sums({"recorded_at": window}, _hour("$occurred_at"))
    )
    counted = 0
    async for row in cursor:
        inc = updates.setdefault(row["_id"]["p"], {"debt": 0, "count": 0})
        kind = row["_id"]["k"]
        for name in ("credit", "debit", "count"):
            inc[f"kinds.{kind}.{name}"] = row[name]
        inc["debt"] += row["debt"]
        inc["count"] += row["count"]
        counted += row["count"]
    return counted


def _hour(field: str) -> Document:
    return {"$dateTrunc": {"date": field, "unit": "hour"}}


async def _add_moves(
    mongo: Mongo, window: Document, updates: dict[datetime, dict[str, int]]
) -> tuple[int, list[tuple[datetime, int]]]:
    """Add to `updates` the pending and held moves (app/reports/moves.py) of the entries recorded
    and the holds opened or closed in `window`, by the hour they fall in; returns the number of
    entries read and the pending moves where windows close, by instant, for
    `ledger_maturities`."""
    key = {"hour": _hour("$at"), "at": {"$cond": ["$end", "$at", None]}}
    facet = {
        "entries": [{"$count": "n"}],
        "moves": [*window_moves(), {"$group": {"_id": key, "pending": {"$sum": "$pending"}}}],
    }
    cursor = await mongo["ledger"].aggregate(
        [{"$match": {"recorded_at": window}}, {"$facet": facet}]
    )
    found = await cursor.to_list(None)
    counted = found[0]["entries"][0]["n"] if found and found[0]["entries"] else 0
    ends: dict[datetime, int] = {}
    for row in found[0]["moves"] if found else []:
        inc = updates.setdefault(row["_id"]["hour"], {"debt": 0, "count": 0})
        inc["pending"] = inc.get("pending", 0) + row["pending"]
        if row["_id"]["at"] is not None:
            ends[row["_id"]["at"]] = ends.get(row["_id"]["at"], 0) + row["pending"]
    for field in ("created_at", "closed_at"):
        async for row in await mongo["holds"].aggregate(held_sums(field, window, _hour)):
            inc = updates.setdefault(row["_id"], {"debt": 0, "count": 0})
            inc["held"] = inc.get("held", 0) + row["held"]
    return counted, [(at, pending) for at, pending in ends.items() if pending]


async def _move_watermark(
    mongo: Mongo,
    session: AsyncClientSession,
    track: str,
    before: datetime | None,
    moved_to: Document,
) -> bool:
    """Compare and set (the watermark and what goes with it, `moved_to`): False if another run
    moved the track's watermark since we read it (a first run racing another one fails on the
    state document's id: DuplicateKeyError)."""
    meta = mongo["meta"]
    if before is None:
        await meta.update_one(
            {"_id": STATE_ID, track: None}, {"$set": moved_to}, upsert=True, session=session
        )
        return True
    moved = await meta.update_one(
        {"_id": STATE_ID, track: before}, {"$set": moved_to}, session=session
    )
    return moved.modified_count == 1
