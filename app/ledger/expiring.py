"""Which of a member's points count as expiring at an instant: one definition for the account's
next expiry, the member's expiring points and the expiry warnings, so that the three agree.

Counted: the unreserved points of available lots (remaining − held), by the lot's expiry instant:
what the member can spend now, and loses then. The account's `next_expiry` (book.py) keeps the
soonest of these instants. Left out:
- pending points (inside a return window): not the member's to spend yet. They join the count,
  still at their instant, when they become available.
- held points (reserved by an unfinished checkout): spent if it completes, back in the count if it
  is released before their instant, expired on release if after. A hold past its TTL reserves nothing
  from that instant, released by a job or not: its points count (`lapsed_shares`), as every
  balance read counts them free (app.ledger.lapse).
Readers that want those too say so (`counted_lots(pending=True)`, `counted_points(held=True)`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime

from bson import ObjectId

from app.db import Document, Mongo
from app.ledger.models import HoldStatus, LotStatus


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


async def lapsed_shares(
    mongo: Mongo,
    member_id: str | None,
    *,
    after: datetime,
    until: datetime | None,
    pending: bool = False,
) -> list[tuple[str, datetime, int]]:
    """What holds past their TTL at `after` (the reading instant), not yet released by a job,
    still reserve on lots that count in (after, until], as (member id, the lot's expiry, points):
    counted as free, as every balance read counts them (app.ledger.lapse). One indexed read of
    the holds, usually empty; the lots they name in a second only when there are some."""
    query: Document = {"status": HoldStatus.ACTIVE.value, "expires_at": {"$lte": after}}
    if member_id is not None:
        query = {"member_id": member_id, **query}
    shares: dict[ObjectId, int] = defaultdict(int)
    async for hold in mongo["holds"].find(query, {"lots": 1}):
        for share in hold["lots"]:
            shares[share["lot_id"]] += int(share["points"])
    if not shares:
        return []
    lots = {**counted_lots(None, after, until, pending=pending), "_id": {"$in": list(shares)}}
    return [
        (lot["member_id"], lot["expires_at"], shares[lot["_id"]])
        async for lot in mongo["lots"].find(lots, {"member_id": 1, "expires_at": 1})
    ]


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
    each after `after`), soonest first, instants with none left out: one aggregate, and the
    points of holds past their TTL counted free (`lapsed_shares`) unless held points count anyway.
    `after` is the reading instant."""
    match = counted_lots(member_id, after, until, pending=pending)
    if instants is not None:
        match["expires_at"] = {"$in": instants}
    pipeline: list[Document] = [
        {"$match": match},
        {"$group": {"_id": "$expires_at", "points": counted_points(held=held)}},
    ]
    found: dict[datetime, int] = defaultdict(int)
    async for row in await mongo["lots"].aggregate(pipeline):
        found[row["_id"]] += int(row["points"])
    if not held:
        for _, at, points in await lapsed_shares(
            mongo, member_id, after=after, until=until, pending=pending
        ):
            if instants is None or at in instants:
                found[at] += points
    return sorted((at, points) for at, points in found.items() if points > 0)


async def expiring_by_member(
    mongo: Mongo, *, after: datetime, until: datetime
) -> AsyncIterator[tuple[str, datetime, int]]:
    """Every member's counted points by expiry instant in (after, until], as (member id, instant,
    points), in no order (the expiry warnings' scan: one aggregate over the lots' expiry index,
    the points of holds past their TTL at `after` counted free as for one member)."""
    lapsed: dict[tuple[str, datetime], int] = defaultdict(int)
    for member_id, at, points in await lapsed_shares(mongo, None, after=after, until=until):
        lapsed[(member_id, at)] += points
    pipeline: list[Document] = [
        {"$match": counted_lots(None, after, until)},
        {
            "$group": {
                "_id": {"member_id": "$member_id", "expires_at": "$expires_at"},
                "points": counted_points(),
            }
        },
    ]
    async for group in await mongo["lots"].aggregate(pipeline):
        key = (group["_id"]["member_id"], group["_id"]["expires_at"])
        points = int(group["points"]) + lapsed.get(key, 0)  # its lots are among those grouped
        if points > 0:
            yield key[0], key[1], points
