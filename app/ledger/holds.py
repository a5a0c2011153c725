"""Holds: points reserved for an unfinished checkout, then captured (all or part) or released.

A hold reserves portions of specific lots (lot.held), so held points are neither spendable nor
expirable: a lot that expires while held keeps its held portion, which expires, once, when the
hold is released; a capture redeems it as the checkout was promised.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Mongo
from app.ledger.errors import HoldNotActive, HoldNotFound, InvalidRequest
from app.ledger.models import Entry, EntryMeta, Hold, HoldStatus, JobRun
from app.ledger.state import HoldState, Request
from app.ledger.store import (
    fingerprint,
    instant,
    load_book,
    load_books,
    load_holds,
    run,
    run_once,
    save_books,
)


async def hold(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    ttl: timedelta,
    idempotency_key: str,
    reference: str | None = None,
) -> Hold:
    """Reserve `points` of the member's available points until now + `ttl`.

    A replay returns the same hold as it is now (it may have been captured or released since).
    """
    if ttl <= timedelta(0):
        raise InvalidRequest(f"a hold's ttl must be positive, not {ttl}")
    ttl = timedelta(milliseconds=ttl // timedelta(milliseconds=1))
    now = instant(clock.now())
    request = Request(
        idempotency_key,
        fingerprint(
            "hold", member_id=member_id, points=points, ttl=ttl.total_seconds(), reference=reference
        ),
        EntryMeta(reference=reference),
    )

    async def work(session: AsyncClientSession) -> Hold:
        book = await load_book(mongo, session, member_id, now, points=points)
        state = book.hold(points, ttl, request)
        await save_books(mongo, session, [book])
        return Hold.from_document(state.to_document())

    return await run_once(
        mongo, idempotency_key, request.fingerprint, work, Hold.from_document, collection="holds"
    )


async def capture(
    mongo: Mongo,
    clock: Clock,
    *,
    hold_id: str,
    idempotency_key: str,
    points: int | None = None,
    description: str | None = None,
    actor: str | None = None,
    channel: str | None = None,
) -> Entry:
    """Redeem `points` of an active hold (all of it by default) and release the rest."""
    now = instant(clock.now())
    request = Request(
        idempotency_key,
        fingerprint("capture", hold_id=hold_id, points=points),
        EntryMeta(actor=actor, channel=channel, description=description),
    )

    async def work(session: AsyncClientSession) -> Entry:
        state = await find_hold(mongo, session, hold_id)
        request.meta.reference = state.reference
        book = await load_book(
            mongo, session, state.member_id, now, lot_ids=[lot_id for lot_id, _ in state.lots]
        )
        book.holds[state.id] = state
        entry = book.capture(state, points, request)
        await save_books(mongo, session, [book])
        return Entry.from_document(entry)

    return await run_once(mongo, idempotency_key, request.fingerprint, work, Entry.from_document)


async def release(mongo: Mongo, clock: Clock, *, hold_id: str) -> Hold:
    """Give a hold's points back. Releasing a released or expired hold again changes nothing."""
    now = instant(clock.now())

    async def work(session: AsyncClientSession) -> Hold:
        state = await find_hold(mongo, session, hold_id)
        if state.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return Hold.from_document(state.to_document())
        if state.status is not HoldStatus.ACTIVE:
            raise HoldNotActive(hold_id, state.status.value)
        book = await load_book(
            mongo, session, state.member_id, now, lot_ids=[lot_id for lot_id, _ in state.lots]
        )
        if state.id in book.holds:  # past its TTL: the book released it as it loaded (lapse.py)
            state = book.holds[state.id]
        else:
            book.holds[state.id] = state
            book.release(state)
        await save_books(mongo, session, [book])
        return Hold.from_document(state.to_document())

    return await run(mongo, work)


async def release_expired_holds(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 500,
    max_batches: int | None = None,
) -> JobRun:
    """Release every active hold whose TTL ended at or before `as_of`, in batches (one transaction each)."""
    now = instant(clock.now())
    cutoff = now if as_of is None else instant(as_of)
    batches = holds = points = 0
    members: set[str] = set()
    while max_batches is None or batches < max_batches:

        async def work(session: AsyncClientSession) -> list[HoldState]:
            due = await load_holds(
                mongo,
                session,
                {"status": HoldStatus.ACTIVE.value, "expires_at": {"$lte": cutoff}},
                limit=batch_size,
            )
            if not due:
                return due
            books = await load_books(
                mongo,
                session,
                {h.member_id for h in due},
                now,
                lot_ids=[lot_id for h in due for lot_id, _ in h.lots],
            )
            for state in due:
                book = books[state.member_id]
                book.holds[state.id] = state
                book.release(state, HoldStatus.EXPIRED)
            await save_books(mongo, session, books.values())
            return due

        released = await run(mongo, work)
        if released:
            batches += 1
            holds += len(released)
            points += sum(h.points for h in released)
            members |= {h.member_id for h in released}
        if len(released) < batch_size:
            return JobRun(batches, holds=holds, points=points, members=len(members), done=True)
    return JobRun(batches, holds=holds, points=points, members=len(members), done=False)


async def get_hold(mongo: Mongo, hold_id: str) -> Hold:
    doc = await mongo["holds"].find_one({"_id": _object_id(hold_id)})
    if doc is None:
        raise HoldNotFound(hold_id)
    return Hold.from_document(doc)


async def find_hold(mongo: Mongo, session: AsyncClientSession, hold_id: str) -> HoldState:
    """The hold as stored, read in the transaction (HoldNotFound)."""
    doc = await mongo["holds"].find_one({"_id": _object_id(hold_id)}, session=session)
    if doc is None:
        raise HoldNotFound(hold_id)
    return HoldState.from_document(doc)


def _object_id(hold_id: str) -> ObjectId:
    try:
        return ObjectId(hold_id)
    except (InvalidId, TypeError):
        raise HoldNotFound(hold_id) from None
