"""Rate limits shared by every API process: a sliding window per key, kept in one MongoDB document.

A key's document holds the instants of the requests it let through in the last window (at most
`limit` of them, so it stays small). Taking a request is ONE findOneAndUpdate with an
aggregation-pipeline update: drop the instants that left the window, grant the request if the
rest plus its cost fit under the limit, and record it only then. The database applies that to the
document atomically, so parallel requests of one key cannot both take the last slot, and a
refused request uses nothing up. Unlike a fixed calendar window (which lets 2 × limit through
across a boundary), no `window` of time ever holds more than `limit` granted requests.

Instants come from the injected clock; `expires_at` is real wall-clock time plus a grace period,
only for the TTL index to collect keys nobody uses any more: the TTL monitor never decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Mongo

COLLECTION = "rate_limits"
TTL_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Locked:
    """Refused for now; the caller may try again at `until`."""

    until: datetime

    def retry_after_seconds(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class Limit:
    """At most `count` requests of one key in any `window`."""

    count: int
    window: timedelta


def _take_pipeline(now: datetime, limit: Limit, cost: int) -> list[dict[str, Any]]:
    kept = {
        "$filter": {
            "input": {"$ifNull": ["$granted", []]},
            "as": "at",
            "cond": {"$gt": ["$$at", now - limit.window]},
        }
    }
    fits = {"$lte": [{"$add": [{"$size": "$granted"}, cost]}, limit.count]}
    return [
        {"$set": {"granted": kept}},
        {"$set": {"last_granted": fits}},
        {
            "$set": {
                "granted": {
                    "$cond": [
                        "$last_granted",
                        {"$concatArrays": ["$granted", {"$literal": [now] * cost}]},
                        "$granted",
                    ]
                },
                "expires_at": datetime.now(UTC) + limit.window + TTL_GRACE,
            }
        },
    ]


async def take(mongo: Mongo, clock: Clock, key: str, limit: Limit, cost: int = 1) -> Locked | None:
    """Count `cost` requests for `key` if they fit in its window; otherwise when they would."""
    now = clock.now()
    if cost > limit.count:
        return Locked(now + limit.window)
    pipeline = _take_pipeline(now, limit, cost)
    document = None
    for _ in range(2):  # two first requests of a key may race to insert its document
        try:
            document = await mongo[COLLECTION].find_one_and_update(
                {"_id": key}, pipeline, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            continue
        if document is not None:
            break
    if document is None:
        raise RuntimeError(f"rate limit {key!r}: the upsert returned no document twice")
    if document["last_granted"]:
        return None
    granted = sorted(document["granted"])
    # The oldest grants that must leave the window before `cost` more fit.
    must_leave = len(granted) + cost - limit.count
    return Locked(granted[must_leave - 1].astimezone(UTC) + limit.window)
