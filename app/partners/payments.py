"""Points captured for a partner's order (积分抵扣), kept so a refund gives back only what was paid.

`order_points` holds one document per (partner, order id) with each capture entry and its points;
it is written in the capture's own transaction (a $set under the capture entry's id).
"""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Mongo


async def record_capture(
    mongo: Mongo, session: AsyncClientSession, order_key: str, entry_id: str, points: int
) -> None:
    """Inside the capture's transaction; two captures for one order serialise on this document."""
    await mongo["order_points"].update_one(
        {"_id": order_key}, {"$set": {f"captures.{entry_id}": points}}, upsert=True, session=session
    )


async def captured_for(mongo: Mongo, session: AsyncClientSession | None, order_key: str) -> int:
    document = await mongo["order_points"].find_one({"_id": order_key}, session=session)
    return sum(int(points) for points in (document or {}).get("captures", {}).values())
