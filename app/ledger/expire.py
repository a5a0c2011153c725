"""The batch jobs on lots: expire what is due, make pending lots available when their window closes.

Each batch is one transaction: find up to `batch_size` due lots, load the books of their members,
apply to all their due lots (so a batch may take more than `batch_size`), save with one bulk command per collection (about seven commands per batch, whatever its
size). A batch that commits is done for good, so a run killed midway resumes by running again.
Two runs at once are safe: both would write the same lots, so one of them hits a write conflict
and retries on a snapshot where those lots are already expired; and each expiry's entry has a
deterministic key under a unique index, so a lot can never expire twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger.book import Book
from app.ledger.models import JobRun, LotStatus
from app.ledger.state import LotState
from app.ledger.store import instant, load_accounts, run, save_books


async def expire_due(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> JobRun:
    """Expire the remaining points of every lot whose expiry is at or before `as_of` (default: now).

    The members a batch touches are also caught up with the clock's now, like every operation,
    so a run with a past `as_of` may expire their later-due lots too; their expiry has passed.
    """
    now = instant(clock.now())
    cutoff = now if as_of is None else instant(as_of)
    queries = [
        {"status": status.value, "expires_at": {"$lte": cutoff}}
        for status in (LotStatus.AVAILABLE, LotStatus.PENDING)
    ]

    def expire(book: Book) -> list[tuple[LotState, int]]:
        book.catch_up(cutoff)  # a loaded pending lot matures (paying debt) before it expires
        return book.expired

    return await _run_job(mongo, now, queries, expire, batch_size, max_batches)


async def mature_due(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> JobRun:
    """Make available every pending lot whose `available_at` is at or before `as_of` (default: now)."""
    now = instant(clock.now())
    cutoff = now if as_of is None else instant(as_of)
    query = {"status": LotStatus.PENDING.value, "available_at": {"$lte": cutoff}}

    def mature(book: Book) -> list[tuple[LotState, int]]:
        book.catch_up(cutoff)  # a matured lot already past its expiry expires at once
        return [(lot, lot.remaining) for lot in book.matured]

    return await _run_job(mongo, now, [query], mature, batch_size, max_batches)


async def _due_lots(
    mongo: Mongo, session: AsyncClientSession, queries: list[Document], limit: int
) -> tuple[list[LotState], bool]:
    """Up to `limit` due lots, and whether that was the last of them."""
    found: list[LotState] = []
    for query in queries:
        left = limit - len(found)
        if left <= 0:
            return found, False
        cursor = mongo["lots"].find(query, session=session, limit=left, batch_size=left)
        found += [LotState.from_document(doc) async for doc in cursor]
    return found, len(found) < limit


async def _run_job(
    mongo: Mongo,
    now: datetime,
    queries: list[Document],
    apply: Callable[[Book], list[tuple[LotState, int]]],
    batch_size: int,
    max_batches: int | None,
) -> JobRun:
    """Apply to the due lots and their members' books, a batch per transaction, until a batch comes up short.

    A batch reads the due lots themselves and their members' accounts: about seven commands,
    whatever the batch's size and the members' histories.
    """
    batches = lots = points = 0
    members: set[str] = set()
    while max_batches is None or batches < max_batches:

        async def batch(session: AsyncClientSession) -> tuple[list[tuple[LotState, int]], bool]:
            due, last = await _due_lots(mongo, session, queries, batch_size)
            if not due:
                return [], True
            books = await load_accounts(mongo, session, {lot.member_id for lot in due}, now)
            for lot in due:
                books[lot.member_id].add([lot])
            moved = [pair for book in books.values() for pair in apply(book)]
            await save_books(mongo, session, books.values())
            return moved, last

        moved, last = await run(mongo, batch)
        if moved:
            batches += 1
            lots += len(moved)
            points += sum(n for _, n in moved)
            members |= {lot.member_id for lot, _ in moved}
        if last or not moved:
            return JobRun(batches, lots, points, len(members), done=True)
    return JobRun(batches, lots, points, len(members), done=False)
