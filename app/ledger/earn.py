"""Earning points: a new lot, pending until its return window closes, with its expiry stamped at issue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from app.clock import Clock
from app.db import Mongo
from app.ledger.errors import InvalidPoints
from app.ledger.expiry import Never
from app.ledger.models import BreakdownLine, Entry
from app.ledger.state import Policy, policy_stamp
from app.ledger.store import fingerprint, instant
from app.ledger.unit import LedgerUnit, run_entry

__all__ = ["Policy", "earn", "policy_stamp"]


async def earn(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    idempotency_key: str,
    policy: Policy | None = None,
    policy_version: int = 1,
    tz: str | ZoneInfo = "UTC",
    available_at: datetime | None = None,
    earned_at: datetime | None = None,
    reference: str | None = None,
    description: str | None = None,
    breakdown: Sequence[BreakdownLine] = (),
    actor: str | None = None,
    channel: str | None = None,
) -> Entry:
    """Credit `points` as a new lot and an EARN entry; any debt is paid first from them.
    One unit of work (LedgerUnit.earn) under the key."""
    policy = policy or Never()
    now = instant(clock.now())
    earned = now if earned_at is None else instant(earned_at)
    available_at = None if available_at is None else instant(available_at)
    lines = [line.to_document() for line in breakdown]
    if breakdown and sum(line.points for line in breakdown) != points:
        raise InvalidPoints(points, "must equal the sum of the breakdown")
    stamp = policy_stamp(policy, policy_version, tz)
    digest = fingerprint(
        "earn",
        member_id=member_id,
        points=points,
        available_at=available_at,
        earned_at=earned_at,
        reference=reference,
        policy=stamp,
        breakdown=lines,
    )

    async def credit(unit: LedgerUnit) -> Entry:
        return await unit.earn(
            member_id,
            points,
            policy=policy,
            policy_version=policy_version,
            tz=str(tz),
            available_at=available_at,
            earned_at=earned,
            breakdown=breakdown,
            reference=reference,
            description=description,
            actor=actor,
            channel=channel,
        )

    return await run_entry(
        mongo, clock, credit, idempotency_key=idempotency_key, fingerprint=digest
    )
