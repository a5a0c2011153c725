"""The batch jobs on lots: expire what is due, make pending lots available when their window closes.

Each batch is one transaction: find up to `batch_size` due lots, load the books of their members,
apply, save with one bulk command per collection (about seven commands per batch, whatever its
size). A batch that commits is done for good, so a run killed midway resumes by running again.
Two runs at once are safe: both would write the same lots, so one of them hits a write conflict
and retries on a snapshot where those lots are already expired; and each expiry's entry has a
deterministic key under a unique index, so a lot can never expire twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger.models import JobRun, LotStatus
from app.ledger.store import load_books, run, save_books


async def expire_due(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> JobRun:
    """Expire the remaining points of every lot whose expiry is at or before `as_of` (default: now)."""
    now = clock.now()
    cutoff = as_of or now
    query = {
        "status": {"$in": [LotStatus.PENDING.value, LotStatus.AVAILABLE.value]},
        "expires_at": {"$lte": cutoff},
    }

    async def batch(session: AsyncClientSession) -> Outcome:
        members, last = await _members_with(mongo, session, query, batch_size)
        if not members:
            return Outcome(0, 0, set(), last=True)
        books = await load_books(mongo, session, members, now)
        for book in books.values():
            book.expire_due(cutoff)
        await save_books(mongo, session, books.values())
        expired = [pair for book in books.values() for pair in book.expired]
        return Outcome(len(expired), sum(points for _, points in expired), set(members), last)

    return await _repeat(mongo, batch, max_batches)


async def mature_due(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> JobRun:
    """Make available every pending lot whose `available_at` is at or before `as_of` (default: now)."""
    now = clock.now()
    cutoff = as_of or now
    query = {"status": LotStatus.PENDING.value, "available_at": {"$lte": cutoff}}

    async def batch(session: AsyncClientSession) -> Outcome:
        members, last = await _members_with(mongo, session, query, batch_size)
        if not members:
            return Outcome(0, 0, set(), last=True)
        books = await load_books(mongo, session, members, now)
        for book in books.values():
            book.mature_due(cutoff)
        await save_books(mongo, session, books.values())
        matured = [lot for book in books.values() for lot in book.matured]
        return Outcome(len(matured), sum(lot.remaining for lot in matured), set(members), last)

    return await _repeat(mongo, batch, max_batches)


async def _members_with(
    mongo: Mongo, session: AsyncClientSession, query: Document, limit: int
) -> tuple[list[str], bool]:
    """The members owning up to `limit` due lots, and whether that was the last of them."""
    cursor = mongo["lots"].find(
        query, {"member_id": 1}, session=session, limit=limit, batch_size=limit
    )
    owners = [doc["member_id"] async for doc in cursor]
    return sorted(set(owners)), len(owners) < limit


@dataclass(frozen=True)
class Outcome:
    lots: int
    points: int
    members: set[str]
    last: bool


async def _repeat(
    mongo: Mongo, batch: Callable[[AsyncClientSession], Awaitable[Outcome]], max_batches: int | None
) -> JobRun:
    """Run batches until one finds no more to do (or `max_batches` ran: then `done` is False)."""
    batches = lots = points = 0
    members: set[str] = set()
    while max_batches is None or batches < max_batches:
        outcome = await run(mongo, batch)
        if outcome.lots:
            batches += 1
            lots += outcome.lots
            points += outcome.points
            members |= outcome.members
        if outcome.last or not outcome.lots:
            return JobRun(batches, lots, points, len(members), done=True)
    return JobRun(batches, lots, points, len(members), done=False)
