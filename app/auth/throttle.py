"""Throttles kept in MongoDB (so every API process shares them): failed log-ins, member mutations
and sign-ups.

Log-in: an attempt is written *before* the password is checked and withdrawn if it succeeds, so
parallel guesses cannot all slip in before the first failure is counted. The fifth failure for a
phone inside 15 minutes locks that phone for 15 minutes; a client address gets more room (many
members can share one NAT) but is locked the same way. Every decision uses the injected clock,
never the server's; every document carries `purge_at` (wall clock, see app.db.purge_at) for the
TTL index that collects it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.auth.limits import Limit, Locked, take
from app.clock import Clock
from app.db import Mongo, purge_at, upsert_and_get

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LOCK = timedelta(minutes=15)
FAILURES_PER_PHONE = 5
FAILURES_PER_ADDRESS = 20

MUTATION_WINDOW = timedelta(minutes=1)

SIGN_UP_WINDOW = timedelta(hours=1)
PHONE_BLOCK_DIGITS = 4  # phones that differ only in their last 4 digits are one block

__all__ = [
    "Locked",
    "SignUpLimits",
    "begin_login",
    "begin_sign_up",
    "count_mutations",
    "forget_phones",
    "login_failed",
    "login_succeeded",
]


@dataclass(frozen=True)
class LoginAttempt:
    """A log-in in progress: settle it with `succeeded` or `failed`."""

    attempt_id: str
    keys: tuple[tuple[str, int], ...]


def _login_keys(phone: str | None, address: str | None) -> tuple[tuple[str, int], ...]:
    keys = [(f"phone:{phone}", FAILURES_PER_PHONE)] if phone is not None else []
    if address:
        keys.append((f"address:{address}", FAILURES_PER_ADDRESS))
    return tuple(keys)


async def begin_login(
    mongo: Mongo, clock: Clock, phone: str | None, address: str | None
) -> LoginAttempt | Locked:
    """Refuse a locked phone or address; otherwise count this attempt as a failure until it succeeds.

    `phone` is None when it could not be parsed: the attempt still counts against the address.
    """
    now = clock.now()
    keys = _login_keys(phone, address)
    locks = mongo["login_locks"].find(
        {"_id": {"$in": [key for key, _ in keys]}, "until": {"$gt": now}}
    )
    until = [lock["until"] async for lock in locks]
    if until:
        return Locked(max(until))
    attempt = LoginAttempt(secrets.token_hex(8), keys)
    if not keys:  # neither a phone that parses nor a client address: nothing to count against
        return attempt
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
    lock = await upsert_and_get(
        mongo["login_locks"],
        {"_id": key},
        {"$max": {"until": until, "purge_at": purge_at(LOGIN_LOCK)}},
    )
    result: datetime = lock["until"]
    return result


async def forget_phones(mongo: Mongo, phones: Iterable[str]) -> None:
    """An erased member's failed log-ins and locks, kept under their phones, go. (The sign-up
    counts are kept by blocks of numbers, which hold no one's whole number.)"""
    keys = [f"phone:{phone}" for phone in phones]
    if keys:
        await mongo["login_attempts"].delete_many({"key": {"$in": keys}})
        await mongo["login_locks"].delete_many({"_id": {"$in": keys}})


async def count_mutations(
    mongo: Mongo, clock: Clock, member_id: str, cost: int, per_minute: int
) -> Locked | None:
    """`cost` more mutations by this member; past `per_minute` in any minute, when to come back."""
    limit = Limit(per_minute, MUTATION_WINDOW)
    return await take(mongo, clock, f"mutations:{member_id}", limit, cost)


@dataclass(frozen=True)
class SignUpLimits:
    """Sign-ups allowed in any SIGN_UP_WINDOW per client address and per block of phones."""

    per_address: int = 10
    per_phone_prefix: int = 10


async def begin_sign_up(
    mongo: Mongo, clock: Clock, phone: str, address: str | None, limits: SignUpLimits
) -> Locked | None:
    """Count a sign-up about to hash its password; past a limit, when to come back.

    Per address, so one client cannot mint accounts in bulk; per block of phone numbers, so
    spreading over many addresses does not help an attacker who registers consecutive numbers.
    """
    keys = [(f"sign-up:phones:{phone[:-PHONE_BLOCK_DIGITS]}", limits.per_phone_prefix)]
    if address:
        keys.insert(0, (f"sign-up:address:{address}", limits.per_address))
    for key, count in keys:
        locked = await take(mongo, clock, key, Limit(count, SIGN_UP_WINDOW))
        if locked is not None:
            return locked
    return None
