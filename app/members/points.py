"""Read-only views of a member's points that the ledger package does not offer (yet): one entry by id,
and the available points grouped by expiry instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from app.db import Document, Mongo
from app.ledger.models import Entry, LotStatus


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


async def get_entry(mongo: Mongo, member_id: str, entry_id: str) -> Entry | None:
    """The member's own ledger entry; another member's is None, exactly like a missing one."""
    try:
        oid = ObjectId(entry_id)
    except (InvalidId, TypeError):
        return None
    document = await mongo["ledger"].find_one({"_id": oid, "member_id": member_id})
    return Entry.from_document(document) if document else None


async def expiring_points(
    mongo: Mongo, member_id: str, *, now: datetime, within: timedelta
) -> list[ExpiringPoints]:
    """Spendable points of available lots expiring in (now, now + within], one row per instant, soonest first.

    Held points are left out: they are already promised to a checkout.
    """
    pipeline: list[Document] = [
        {
            "$match": {
                "member_id": member_id,
                "status": LotStatus.AVAILABLE.value,
                "expires_at": {"$gt": now, "$lte": now + within},
            }
        },
        {
            "$group": {
                "_id": "$expires_at",
                "points": {"$sum": {"$subtract": ["$remaining", {"$ifNull": ["$held", 0]}]}},
            }
        },
        {"$match": {"points": {"$gt": 0}}},
        {"$sort": {"_id": 1}},
    ]
    cursor = await mongo["lots"].aggregate(pipeline)
    return [ExpiringPoints(int(row["points"]), row["_id"]) async for row in cursor]
