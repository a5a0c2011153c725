"""Staff corrections of one member's points: adjust (±), extend expiries, clear (清零).

Each runs through the ledger's unit of work so that the ledger entry and its audit entry commit in
one transaction; the client's idempotency key (global to these corrections) makes a retry return
the first entry and change nothing, and the same key with another request is IdempotencyConflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH
from app.clock import Clock
from app.db import Mongo
from app.ledger import Balance, Entry, LedgerUnit, run_in_ledger
from app.members import get_member

MAX_REASON = 500
MAX_EXTENSION = timedelta(days=36_525)


class InvalidCorrection(ValueError):
    """A correction's own input breaks a rule (an empty or long reason, a bad key); `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidKey(InvalidCorrection):
    """The idempotency key is empty or too long."""


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidCorrection("reason", f"a reason of 1 to {MAX_REASON} characters is required")
    return reason


def check_until(until: datetime, now: datetime) -> datetime:
    """A new expiry: an aware instant after now, within a century."""
    if until.tzinfo is None:
        raise InvalidCorrection("until", "the instant needs its offset")
    if not now < until <= now + MAX_EXTENSION:
        raise InvalidCorrection("until", "a new expiry must lie after now, within 100 years")
    return until.astimezone(UTC)


def check_key(key: str) -> str:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(
            "idempotency_key", f"an idempotency key of 1 to {MAX_KEY_LENGTH} characters"
        )
    return key


def digest(action: str, **request: object) -> str:
    """What was asked, to tell a replay from another request under the same key."""
    body = json.dumps({"action": action, **request}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


async def _correct(
    mongo: Mongo,
    clock: Clock,
    *,
    action: str,
    member_id: str,
    actor: str,
    reason: str,
    idempotency_key: str,
    request: dict[str, object],
    operation: Callable[[LedgerUnit], Awaitable[Entry]],
) -> Entry:
    """Check the input and the member, then the ledger operation and its audit entry, once per key."""
    check_key(idempotency_key)
    await get_member(mongo, member_id)  # MemberNotFound

    async def work(unit: LedgerUnit) -> Entry:
        before = _points(await unit.balance(member_id))
        entry = await operation(unit)
        after = _points(await unit.balance(member_id))
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action=action,
            target=f"member:{member_id}",
            before=before,
            after={**after, "entry": entry.id},
            note=reason,
            session=unit.session,
        )
        return entry

    async def first(entry: Entry) -> Entry:
        return entry

    return await run_in_ledger(
        mongo,
        clock,
        work,
        idempotency_key=f"points-admin:{idempotency_key}",
        fingerprint=digest(action, member_id=member_id, reason=reason, **request),
        replay=first,
    )


async def adjust_points(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    reason: str,
    actor: str,
    idempotency_key: str,
) -> Entry:
    """An ADJUST of ± points (InsufficientPoints for a negative one beyond the available points)."""
    reason = check_reason(reason)
    return await _correct(
        mongo,
        clock,
        action="points.adjust",
        member_id=member_id,
        actor=actor,
        reason=reason,
        idempotency_key=idempotency_key,
        request={"points": points},
        operation=lambda unit: unit.adjust(member_id, points, reason=reason, actor=actor),
    )


async def extend_expiry(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    until: datetime,
    reason: str,
    actor: str,
    idempotency_key: str,
) -> Entry:
    """Move the member's points expiring before `until` to `until` (an EXTEND entry of 0 points)."""
    reason, until = check_reason(reason), check_until(until, clock.now())
    return await _correct(
        mongo,
        clock,
        action="points.extend",
        member_id=member_id,
        actor=actor,
        reason=reason,
        idempotency_key=idempotency_key,
        request={"until": until},
        operation=lambda unit: unit.extend(member_id, until, reason=reason, actor=actor),
    )


async def clear_member(
    mongo: Mongo, clock: Clock, *, member_id: str, reason: str, actor: str, idempotency_key: str
) -> Entry:
    """清零 of one member: holds released, every point (pending too) taken; a debt stays owed."""
    reason = check_reason(reason)
    return await _correct(
        mongo,
        clock,
        action="points.clear",
        member_id=member_id,
        actor=actor,
        reason=reason,
        idempotency_key=idempotency_key,
        request={},
        operation=lambda unit: unit.clear(member_id, reason=reason, actor=actor),
    )


def _points(balance: Balance) -> dict[str, object]:
    return {"available": balance.available, "pending": balance.pending, "held": balance.held}
