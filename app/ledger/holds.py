"""Holds: points reserved for an unfinished checkout, then captured (all or part) or released.

A hold reserves portions of specific lots (lot.held), so held points are neither spendable nor
expirable: a lot that expires while held keeps its held portion, which expires, once, when the
hold is released; a capture redeems it as the checkout was promised.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.clock import Clock
from app.db import Mongo
from app.ledger.errors import HoldNotFound, InvalidRequest
from app.ledger.models import Entry, Hold, JobRun
from app.ledger.store import fingerprint, hold_object_id, instant
from app.ledger.unit import LedgerUnit, run_entry, run_hold, run_unit


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
    """Reserve `points` of the member's available points until now + `ttl`: one unit of work
    (LedgerUnit.hold) under the key. A replay returns the same hold as it is now (it may have
    been captured or released since).
    """
    if ttl <= timedelta(0):
        raise InvalidRequest(f"a hold's ttl must be positive, not {ttl}")
    ttl = timedelta(milliseconds=ttl // timedelta(milliseconds=1))
    digest = fingerprint(
        "hold", member_id=member_id, points=points, ttl=ttl.total_seconds(), reference=reference
    )

    async def work(unit: LedgerUnit) -> Hold:
        return await unit.hold(member_id, points, ttl, reference=reference)

    return await run_hold(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)


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
    """Redeem `points` of an active hold (all of it by default) and release the rest: one unit of
    work (LedgerUnit.capture) under the key."""
    digest = fingerprint("capture", hold_id=hold_id, points=points)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.capture(
            hold_id, points, description=description, actor=actor, channel=channel
        )

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)


async def release(mongo: Mongo, clock: Clock, *, hold_id: str) -> Hold:
    """Give a hold's points back. Releasing a released or expired hold again changes nothing, so
    the unit of work (LedgerUnit.release) needs no key."""

    async def work(unit: LedgerUnit) -> Hold:
        return await unit.release(hold_id)

    return await run_unit(mongo, clock, work)


async def release_expired_holds(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 500,
    max_batches: int | None = None,
) -> JobRun:
    """Release every active hold whose TTL ended at or before `as_of`, in batches (one unit of
    work each, LedgerUnit.release_due)."""
    cutoff = instant(clock.now()) if as_of is None else instant(as_of)
    batches = holds = points = 0
    members: set[str] = set()

    async def work(unit: LedgerUnit) -> list[Hold]:
        return await unit.release_due(cutoff, batch_size)

    while max_batches is None or batches < max_batches:
        released = await run_unit(mongo, clock, work)
        if released:
            batches += 1
            holds += len(released)
            points += sum(h.points for h in released)
            members |= {h.member_id for h in released}
        if len(released) < batch_size:
            return JobRun(batches, holds=holds, points=points, members=len(members), done=True)
    return JobRun(batches, holds=holds, points=points, members=len(members), done=False)


async def get_hold(mongo: Mongo, hold_id: str) -> Hold:
    doc = await mongo["holds"].find_one({"_id": hold_object_id(hold_id)})
    if doc is None:
        raise HoldNotFound(hold_id)
    return Hold.from_document(doc)
