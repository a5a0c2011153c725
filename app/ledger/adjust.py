"""Manual corrections by staff: adjust (+/−), clear (清零) and extend, each with a reason and an actor."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.clock import Clock
from app.db import Mongo
from app.ledger.errors import InvalidPoints
from app.ledger.expiry import Never
from app.ledger.models import Entry
from app.ledger.state import Policy, policy_stamp
from app.ledger.store import fingerprint, instant
from app.ledger.unit import LedgerUnit, run_entry


async def adjust(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    reason: str,
    actor: str,
    idempotency_key: str,
    channel: str | None = None,
    reference: str | None = None,
    policy: Policy | None = None,
    policy_version: int = 1,
    tz: str | ZoneInfo = "UTC",
) -> Entry:
    """An ADJUST entry: positive points make a new lot (paying debt first; never expiring unless a
    policy is given); negative points are taken like a spend and fail with InsufficientPoints.
    One unit of work (LedgerUnit.adjust) under the key."""
    if points == 0:
        raise InvalidPoints(points, "of an adjustment must not be zero")
    stamp = policy_stamp(policy or Never(), policy_version, tz)
    digest = fingerprint("adjust", member_id=member_id, points=points, reason=reason, policy=stamp)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.adjust(
            member_id,
            points,
            reason=reason,
            actor=actor,
            channel=channel,
            reference=reference,
            policy=policy,
            policy_version=policy_version,
            tz=str(tz),
        )

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)


async def clear(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    reason: str,
    actor: str,
    idempotency_key: str,
    channel: str | None = None,
) -> Entry:
    """清零: release the member's active holds and take every remaining point (pending too) to zero.

    A debt is left as it is: clearing takes points away, it does not forgive what is owed.
    """
    digest = fingerprint("clear", member_id=member_id, reason=reason)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.clear(member_id, reason=reason, actor=actor, channel=channel)

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)


async def extend(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    until: datetime,
    reason: str,
    actor: str,
    idempotency_key: str,
    channel: str | None = None,
) -> Entry:
    """Move the expiry of the member's points that expire before `until` to `until` (an EXTEND entry of 0 points)."""
    until = instant(until)
    digest = fingerprint("extend", member_id=member_id, until=until, reason=reason)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.extend(member_id, until, reason=reason, actor=actor, channel=channel)

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)
