"""What app/messaging reads of the notifications: those it has not routed yet, and its mark.

A notification is routed once to the channels outside the app (push, SMS, e-mail) by
app/messaging; `routed_at` is its mark here, so a pass finds the next ones through one index and
a second worker's pass (or a rerun after a crash) finds nothing it already did. The messages the
routing writes are idempotent on their own key, so a crash between writing them and this mark
costs only a second look.
"""

from __future__ import annotations

from datetime import datetime

from app.db import Document, Mongo


async def unrouted_notifications(mongo: Mongo, *, since: datetime, limit: int) -> list[Document]:
    """The oldest notifications written after `since` and not routed yet."""
    cursor = (
        mongo["notifications"]
        .find({"routed_at": None, "created_at": {"$gte": since}})
        .sort("created_at", 1)
        .limit(limit)
    )
    return [document async for document in cursor]


async def mark_routed(mongo: Mongo, ids: list[object], now: datetime) -> None:
    if ids:
        await mongo["notifications"].update_many(
            {"_id": {"$in": ids}, "routed_at": None}, {"$set": {"routed_at": now}}
        )


async def pushed_by_outbox(mongo: Mongo, notifications: list[Document]) -> set[object]:
    """The ids of those notifications the outbox already pushed: written before routing existed,
    when warnings and events enqueued their push themselves, keyed by the notification's
    dedupe_key. Routing them again would reach the member twice."""
    keys = {n["dedupe_key"]: n["_id"] for n in notifications if n.get("dedupe_key")}
    if not keys:
        return set()
    cursor = mongo["outbox"].find(
        {"idempotency_key": {"$in": list(keys)}, "kind": "push"}, {"idempotency_key": 1}
    )
    return {keys[d["idempotency_key"]] async for d in cursor}
