"""Rate limits shared by every API process: a sliding window per key, kept in one MongoDB document.

A key's document holds the instants of the requests it let through in the last window (at most
`limit` of them, so it stays small). Taking a request is ONE findOneAndUpdate with an
aggregation-pipeline update: drop the instants that left the window, grant the request if the
rest plus its cost fit under the limit, and record it only then. The database applies that to the
document atomically, so parallel requests of one key cannot both take the last slot, and a
refused request uses nothing up. Unlike a fixed calendar window (which lets 2 × limit through
across a boundary), no `window` of time ever holds more than `limit` granted requests.

Each grant carries a random id, so a request that lost the race to insert its key's document can
tell whether it was granted (see `_apply`). Instants come from the injected clock; `purge_at`
(app.db.purge_at) is real wall-clock time plus a grace period, only for the TTL index to collect
keys nobody uses any more: the TTL monitor never decides.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo, purge_at

COLLECTION = "rate_limits"


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


def _take_pipeline(now: datetime, limit: Limit, cost: int, grant: str) -> list[dict[str, Any]]:
    kept = {
        "$filter": {
            "input": {"$ifNull": ["$granted", []]},
            "as": "entry",
            "cond": {"$gt": ["$$entry.at", now - limit.window]},
        }
    }
    fits = {"$lte": [{"$add": [{"$size": "$granted"}, cost]}, limit.count]}
    entries = [{"at": now, "grant": grant}] * cost
    return [
        {"$set": {"granted": kept}},
        {"$set": {"last_granted": fits}},
        {
            "$set": {
                "granted": {
                    "$cond": [
                        "$last_granted",
                        {"$concatArrays": ["$granted", {"$literal": entries}]},
                        "$granted",
                    ]
                },
                "purge_at": purge_at(limit.window),
            }
        },
    ]


async def _apply(mongo: Mongo, key: str, pipeline: list[dict[str, Any]], grant: str) -> Document:
    """The key's document after the pipeline, applied once, even when first upserts race.

    A loser of the race to insert the document gets a duplicate key error and nothing applied
    (MongoDB), or its update applied and no document back (SecantusDB 0.7): then the document
    says whether this request was granted (its `grant` id is there); if not, it was refused, and
    refusing again changes nothing. Either way one retry settles it.
    """
    collection = mongo[COLLECTION]
    for _ in range(2):
        try:
            document = await collection.find_one_and_update(
                {"_id": key}, pipeline, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            continue
        if document is not None:
            return document
        document = await collection.find_one({"_id": key})
        if document is not None and any(e["grant"] == grant for e in document["granted"]):
            return {**document, "last_granted": True}
    raise RuntimeError(f"rate limit {key!r}: the upsert returned no document twice")


async def take(mongo: Mongo, clock: Clock, key: str, limit: Limit, cost: int = 1) -> Locked | None:
    """Count `cost` requests for `key` if they fit in its window; otherwise when they would."""
    now = clock.now()
    if cost > limit.count:
        return Locked(now + limit.window)
    grant = secrets.token_hex(8)
    document = await _apply(mongo, key, _take_pipeline(now, limit, cost, grant), grant)
    if document["last_granted"]:
        return None
    granted = sorted(entry["at"] for entry in document["granted"])
    # The oldest grants that must leave the window before `cost` more fit.
    must_leave = len(granted) + cost - limit.count
    return Locked(granted[must_leave - 1].astimezone(UTC) + limit.window)
