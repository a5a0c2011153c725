"""Read-only views of a member's points that the ledger package does not offer (yet): one entry by id,
the points expiring by instant, and the soonest of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import Document, Mongo
from app.ledger import Entry, counted_lots, counted_points, member_entry


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


async def get_entry(mongo: Mongo, member_id: str, entry_id: str) -> Entry | None:
    """The member's own ledger entry; another member's is None, exactly like a missing one."""
    return await member_entry(mongo, member_id, entry_id)


async def expiring_points(
    mongo: Mongo,
    member_id: str,
    *,
    now: datetime,
    within: timedelta | None,
    pending: bool = False,
    held: bool = False,
) -> list[ExpiringPoints]:
    """The member's points expiring in (now, now + within] (no window: any time after now), one
    row per instant, soonest first, as app.ledger.expiring counts them: available, unreserved
    points; pending and held points too when asked."""
    until = None if within is None else now + within
    pipeline: list[Document] = [
        {"$match": counted_lots(member_id, now, until, pending=pending)},
        {"$group": {"_id": "$expires_at", "points": counted_points(held=held)}},
        {"$match": {"points": {"$gt": 0}}},
        {"$sort": {"_id": 1}},
    ]
    cursor = await mongo["lots"].aggregate(pipeline)
    return [ExpiringPoints(int(row["points"]), row["_id"]) async for row in cursor]
