"""Coarser buckets over the hourly rollup: the same sums per UTC day (`ledger_days`) and per UTC
month (`ledger_months`), so a liability as of a date reads a few dozen documents, not one per
hour since the program began (8,760 a year, most of a second's aggregation on SecantusDB each).

The rollup adds each slice's sums to the three levels in the same transaction, by the hour's day
and month. A rollup kept before the levels existed builds them once from its hours (`ensure`),
in one transaction with a mark in the state document; a slice racing it conflicts on that
document and runs again. A range of whole hours is read as the coarsest buckets that fit inside
it (`spans`): the whole months, the whole days at its edges, the hours at theirs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger import EntryKind

HOURS, DAYS, MONTHS = "ledger_hours", "ledger_days", "ledger_months"
LEVELS = ((MONTHS, "month"), (DAYS, "day"))  # coarsest first; the hours below them
READY = "levels"  # in the rollup's state document: the days and months hold what the hours do
KINDS = tuple(kind.value for kind in EntryKind)


def floor(at: datetime, unit: str) -> datetime:
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day.replace(day=1) if unit == "month" else day


def step(at: datetime, unit: str) -> datetime:
    """The start of the next `unit` ("month", "day" or "hour") after the start of one, `at`."""
    if unit == "month":
        return (at + timedelta(days=32)).replace(day=1)
    return at + (timedelta(days=1) if unit == "day" else timedelta(hours=1))


def ceil(at: datetime, unit: str) -> datetime:
    low = floor(at, unit)
    return at if low == at else step(low, unit)


def spans(low: datetime | None, high: datetime) -> list[tuple[str, datetime | None, datetime]]:
    """The whole hours [low, high) (no low: since the first) as ranges of the coarsest buckets
    that fit: (collection, first bucket or None, end)."""
    found: list[tuple[str, datetime | None, datetime]] = []

    def split(lo: datetime | None, hi: datetime, level: int) -> None:
        if level == len(LEVELS):
            found.append((HOURS, lo, hi))
            return
        name, unit = LEVELS[level]
        first = None if lo is None else ceil(lo, unit)
        end = floor(hi, unit)
        if first is not None and first >= end:  # no whole bucket of this size inside
            split(lo, hi, level + 1)
            return
        if lo is not None and first is not None and lo < first:
            split(lo, first, level + 1)
        found.append((name, first, end))
        if end < hi:
            split(end, hi, level + 1)

    split(low, high, 0)
    return found


def bucket_ids(collection: str, first: datetime, end: datetime) -> list[datetime]:
    """Every bucket id of a level's collection in [first, end)."""
    unit = {MONTHS: "month", DAYS: "day", HOURS: "hour"}[collection]
    found = []
    while first < end:
        found.append(first)
        first = step(first, unit)
    return found


def increments(hours: dict[datetime, dict[str, int]]) -> dict[str, dict[datetime, dict[str, int]]]:
    """A slice's increments of hour buckets, added up per day and per month."""
    levels: dict[str, dict[datetime, dict[str, int]]] = {}
    for name, unit in LEVELS:
        sums = levels.setdefault(name, {})
        for hour, inc in hours.items():
            bucket = sums.setdefault(floor(hour, unit), {})
            for field, value in inc.items():
                bucket[field] = bucket.get(field, 0) + value
    return levels


async def add(
    mongo: Mongo, session: AsyncClientSession, hours: dict[datetime, dict[str, int]]
) -> None:
    """Add a slice's hour increments to the days and months, in the slice's transaction."""
    for name, sums in increments(hours).items():
        if sums:
            await mongo[name].bulk_write(
                [UpdateOne({"_id": at}, {"$inc": inc}, upsert=True) for at, inc in sums.items()],
                ordered=False,
                session=session,
            )


async def ensure(mongo: Mongo, state_id: str) -> None:
    """Build the days and months from the hours if the rollup has hours but no levels yet."""

    async def build(session: AsyncClientSession) -> None:
        state = await mongo["meta"].find_one({"_id": state_id}, session=session)
        if state is None or state.get(READY):
            return
        for name, unit in LEVELS:
            cursor = await mongo[HOURS].aggregate(_sums_by(unit), session=session)
            documents = [_nest(row) async for row in cursor]
            await mongo[name].delete_many({}, session=session)
            if documents:
                await mongo[name].bulk_write(
                    [InsertOne(document) for document in documents], session=session
                )
        await mongo["meta"].update_one({"_id": state_id}, {"$set": {READY: True}}, session=session)

    state = await mongo["meta"].find_one({"_id": state_id})
    if state is not None and not state.get(READY):
        await mongo.transaction(build)


def _sums_by(unit: str) -> list[Document]:
    group: Document = {"_id": {"$dateTrunc": {"date": "$_id", "unit": unit}}}
    for field in ("debt", "count", "pending", "held"):
        group[field] = {"$sum": f"${field}"}
    for kind in KINDS:
        for name in ("credit", "debit", "count"):
            group[f"{kind}_{name}"] = {"$sum": f"$kinds.{kind}.{name}"}
    return [{"$group": group}]


def _nest(row: Document) -> Document:
    document: Document = {k: row[k] for k in ("_id", "debt", "count", "pending", "held")}
    document["kinds"] = {
        kind: {name: row[f"{kind}_{name}"] for name in ("credit", "debit", "count")}
        for kind in KINDS
        if row[f"{kind}_count"]
    }
    return document
