"""Leases in MongoDB: at most one holder per job at a time; a crashed holder's lease lapses, a
holder that stops cleanly gives its leases back (so the next process takes them at once)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Mongo


async def acquire(mongo: Mongo, clock: Clock, job: str, owner: str, period: timedelta) -> bool:
    """Take or renew the lease on `job` for `period`; False when someone else holds a live one.

    The command runs to its answer even when the caller is cancelled meanwhile (a clean stop), and
    the cancellation is raised after it: the database applies a command it has received whether or
    not the client waits, so a renewal left in flight could land after the stopping holder's
    `release` and hold the job for a whole period."""
    command = asyncio.ensure_future(_take(mongo, clock, job, owner, period))
    try:
        return await asyncio.shield(command)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await command
        raise


async def _take(mongo: Mongo, clock: Clock, job: str, owner: str, period: timedelta) -> bool:
    now = clock.now()
    try:
        document = await mongo["leases"].find_one_and_update(
            {"_id": job, "$or": [{"owner": owner}, {"expires_at": {"$lte": now}}]},
            {"$set": {"owner": owner, "expires_at": now + period, "renewed_at": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        return False  # the lease exists and is live: the upsert lost to the holder's document
    return document is not None and document["owner"] == owner


async def held(mongo: Mongo, clock: Clock, job: str) -> bool:
    """Whether someone holds a live lease on `job` (one read; acquire decides who gets it)."""
    return (
        await mongo["leases"].find_one({"_id": job, "expires_at": {"$gt": clock.now()}}) is not None
    )


async def release(mongo: Mongo, job: str, owner: str) -> None:
    await mongo["leases"].delete_one({"_id": job, "owner": owner})


async def release_all(mongo: Mongo, owner: str) -> int:
    """Give back every lease `owner` holds: a process stopping cleanly, so that the next one takes
    its jobs at once instead of waiting a lease period for them to lapse."""
    result = await mongo["leases"].delete_many({"owner": owner})
    return result.deleted_count
