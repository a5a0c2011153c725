"""Which of a member's points count as expiring at an instant: one definition for the account's
next expiry, the member's expiring points and the expiry warnings, so that the three agree.

Counted: the unreserved points of available lots (remaining − held), by the lot's expiry instant:
what the member can spend now, and loses then. The account's `next_expiry` (book.py) keeps the
soonest of these instants. Left out:
- pending points (inside a return window): not the member's to spend yet. They join the count,
  still at their instant, when they become available.
- held points (reserved by an unfinished checkout): spent if it completes, back in the count if it
  is released before their instant, expired on release if after.
Readers that want those too say so (`counted_lots(pending=True)`, `counted_points(held=True)`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from app.db import Document, Mongo
from app.ledger.models import LotStatus


def counted_lots(
    member_id: str | None,
    after: datetime,
    until: datetime | None,
    *,
    pending: bool = False,
) -> Document:
    """The $match of the lots whose points count, expiring in (after, until] (no end: any later)."""
    statuses = [LotStatus.AVAILABLE.value] + ([LotStatus.PENDING.value] if pending else [])
    expiring: Document = {"$gt": after} if until is None else {"$gt": after, "$lte": until}
    match: Document = {"status": statuses[0] if len(statuses) == 1 else {"$in": statuses}}
    if member_id is not None:
        match = {"member_id": member_id, **match}
    return {**match, "expires_at": expiring}


def counted_points(*, held: bool = False) -> Document:
    """The $sum expression of a lot's counted points (a pending lot holds nothing back)."""
    if held:
        return {"$sum": "$remaining"}
    return {"$sum": {"$subtract": ["$remaining", {"$ifNull": ["$held", 0]}]}}


async def expiring_by_instant(
    mongo: Mongo,
    member_id: str,
    *,
    after: datetime,
    until: datetime | None = None,
    instants: list[datetime] | None = None,
    pending: bool = False,
    held: bool = False,
) -> list[tuple[datetime, int]]:
    """The member's counted points by expiry instant in (after, until] (or only at `instants`,
    each after `after`), soonest first, instants with none left out: one aggregate."""
    match = counted_lots(member_id, after, until, pending=pending)
    if instants is not None:
        match["expires_at"] = {"$in": instants}
    pipeline: list[Document] = [
        {"$match": match},
        {"$group": {"_id": "$expires_at", "points": counted_points(held=held)}},
        {"$match": {"points": {"$gt": 0}}},
        {"$sort": {"_id": 1}},
    ]
    return [
        (row["_id"], int(row["points"])) async for row in await mongo["lots"].aggregate(pipeline)
    ]


async def expiring_by_member(
    mongo: Mongo, *, after: datetime, until: datetime
) -> AsyncIterator[tuple[str, datetime, int]]:
    """Every member's counted points by expiry instant in (after, until], as (member id, instant,
    points), in no order (the expiry warnings' scan: one aggregate over the lots' expiry index)."""
    pipeline: list[Document] = [
        {"$match": counted_lots(None, after, until)},
        {
            "$group": {
                "_id": {"member_id": "$member_id", "expires_at": "$expires_at"},
                "points": counted_points(),
            }
        },
        {"$match": {"points": {"$gt": 0}}},
    ]
    async for group in await mongo["lots"].aggregate(pipeline):
        yield group["_id"]["member_id"], group["_id"]["expires_at"], int(group["points"])
