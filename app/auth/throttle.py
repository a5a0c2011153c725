"""Throttles kept in MongoDB (so every API process shares them): failed log-ins and member mutations.

Log-in: an attempt is written *before* the password is checked and withdrawn if it succeeds, so
parallel guesses cannot all slip in before the first failure is counted. The fifth failure for a
phone inside 15 minutes locks that phone for 15 minutes; a client address gets more room (many
members can share one NAT) but is locked the same way. Every decision uses the injected clock,
never the server's; every document carries `purge_at` (wall clock, see app.db.purge_at) for the
TTL index that collects it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Mongo, purge_at

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LOCK = timedelta(minutes=15)
FAILURES_PER_PHONE = 5
FAILURES_PER_ADDRESS = 20

MUTATION_WINDOW = timedelta(minutes=1)
MUTATIONS_PER_WINDOW = 60


@dataclass(frozen=True)
class Locked:
    """Too many recent failures; the caller may try again at `until`."""

    until: datetime

    def retry_after_seconds(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class LoginAttempt:
    """A log-in in progress: settle it with `succeeded` or `failed`."""

    attempt_id: str
    keys: tuple[tuple[str, int], ...]


def _login_keys(phone: str, address: str | None) -> tuple[tuple[str, int], ...]:
    keys = [(f"phone:{phone}", FAILURES_PER_PHONE)]
    if address:
        keys.append((f"address:{address}", FAILURES_PER_ADDRESS))
    return tuple(keys)


async def begin_login(
    mongo: Mongo, clock: Clock, phone: str, address: str | None
) -> LoginAttempt | Locked:
    """Refuse a locked phone or address; otherwise count this attempt as a failure until it succeeds."""
    now = clock.now()
    keys = _login_keys(phone, address)
    locks = mongo["login_locks"].find(
        {"_id": {"$in": [key for key, _ in keys]}, "until": {"$gt": now}}
    )
    until = [lock["until"] async for lock in locks]
    if until:
        return Locked(max(until))
    attempt = LoginAttempt(secrets.token_hex(8), keys)
    purge = purge_at(LOGIN_WINDOW)
    await mongo["login_attempts"].insert_many(
        [
            {"attempt": attempt.attempt_id, "key": key, "at": now, "purge_at": purge}
            for key, _ in keys
        ]
    )
    for key, limit in keys:
        recent = await mongo["login_attempts"].count_documents(
            {"key": key, "at": {"$gt": now - LOGIN_WINDOW}}
        )
        if recent > limit:
            # Parallel attempts beyond the limit: this one is refused and stays counted.
            locked_until = await _lock(mongo, key, now)
            return Locked(locked_until)
    return attempt


async def login_succeeded(mongo: Mongo, attempt: LoginAttempt) -> None:
    await mongo["login_attempts"].delete_many({"attempt": attempt.attempt_id})


async def login_failed(mongo: Mongo, clock: Clock, attempt: LoginAttempt) -> Locked | None:
    """The attempt stays counted; reaching a limit locks the phone (or address) from now on."""
    now = clock.now()
    locked: Locked | None = None
    for key, limit in attempt.keys:
        recent = await mongo["login_attempts"].count_documents(
            {"key": key, "at": {"$gt": now - LOGIN_WINDOW}}
        )
        if recent >= limit:
            locked = Locked(await _lock(mongo, key, now))
    return locked


async def _lock(mongo: Mongo, key: str, now: datetime) -> datetime:
    until = now + LOGIN_LOCK
    lock = await mongo["login_locks"].find_one_and_update(
        {"_id": key},
        {"$max": {"until": until, "purge_at": purge_at(LOGIN_LOCK)}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert lock is not None
    result: datetime = lock["until"]
    return result


async def count_mutation(mongo: Mongo, clock: Clock, member_id: str) -> Locked | None:
    """One more mutation by this member in the current minute; past the limit, when to come back."""
    now = clock.now()
    window = int(now.timestamp() // MUTATION_WINDOW.total_seconds())
    window_end = datetime.fromtimestamp((window + 1) * MUTATION_WINDOW.total_seconds(), now.tzinfo)
    key = f"mutations:{member_id}:{window}"
    for _ in range(2):
        try:
            counter = await mongo["rate_limits"].find_one_and_update(
                {"_id": key},
                {"$inc": {"count": 1}, "$setOnInsert": {"purge_at": purge_at(MUTATION_WINDOW)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            break
        except DuplicateKeyError:  # two first mutations of the window raced to create the counter
            continue
    else:  # pragma: no cover - the second upsert finds the document the first one made
        return None
    assert counter is not None
    if int(counter["count"]) > MUTATIONS_PER_WINDOW:
        return Locked(window_end)
    return None
