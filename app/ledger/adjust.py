"""Manual corrections by staff: adjust (+/−), clear (清零) and extend, each with a reason and an actor."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger.book import Book
from app.ledger.earn import Policy, policy_stamp
from app.ledger.errors import InvalidPoints
from app.ledger.expiry import Never, expires_at
from app.ledger.models import Entry, EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import (
    fingerprint,
    instant,
    record,
)
from app.ledger.unit import LedgerUnit, run_entry


async def adjust(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    reason: str,
    actor: str,
    idempotency_key: str,
    channel: str | None = None,
    reference: str | None = None,
    policy: Policy | None = None,
    policy_version: int = 1,
    tz: str | ZoneInfo = "UTC",
) -> Entry:
    """An ADJUST entry: positive points make a new lot (paying debt first; never expiring unless a
    policy is given); negative points are taken like a spend and fail with InsufficientPoints."""
    if points == 0:
        raise InvalidPoints(points, "of an adjustment must not be zero")
    policy = policy or Never()
    now = instant(clock.now())
    stamp = policy_stamp(policy, policy_version, tz)
    request = Request(
        idempotency_key,
        fingerprint("adjust", member_id=member_id, points=points, reason=reason, policy=stamp),
        EntryMeta(actor=actor, channel=channel, reference=reference, description=reason),
    )

    def change(book: Book) -> Document:
        if points < 0:
            return book.debit(EntryKind.ADJUST, -points, request)
        return book.credit(
            EntryKind.ADJUST,
            points,
            request,
            earned_at=now,
            available_at=None,
            expires_at=expires_at(policy, now, tz),
            policy=stamp,
        )

    return await record(mongo, member_id, now, request, change, points=max(0, -points))


async def clear(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    reason: str,
    actor: str,
    idempotency_key: str,
    channel: str | None = None,
) -> Entry:
    """清零: release the member's active holds and take every remaining point (pending too) to zero.

    A debt is left as it is: clearing takes points away, it does not forgive what is owed.
    """
    digest = fingerprint("clear", member_id=member_id, reason=reason)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.clear(member_id, reason=reason, actor=actor, channel=channel)

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)


async def extend(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    until: datetime,
    reason: str,
    actor: str,
    idempotency_key: str,
    channel: str | None = None,
) -> Entry:
    """Move the expiry of the member's points that expire before `until` to `until` (an EXTEND entry of 0 points)."""
    until = instant(until)
    digest = fingerprint("extend", member_id=member_id, until=until, reason=reason)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.extend(member_id, until, reason=reason, actor=actor, channel=channel)

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)
