"""Spending (redeeming) points: from available lots, soonest expiry first, then oldest."""

from __future__ import annotations

from app.clock import Clock
from app.db import Mongo
from app.ledger.models import Entry
from app.ledger.store import fingerprint
from app.ledger.unit import LedgerUnit, run_entry


async def spend(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    idempotency_key: str,
    reference: str | None = None,
    description: str | None = None,
    actor: str | None = None,
    channel: str | None = None,
) -> Entry:
    """One REDEEM entry recording which lots gave how much; InsufficientPoints changes nothing.

    One unit of work (LedgerUnit.spend) under the key. Six commands: the account and the live
    lots read, then the account, the lots and the entry written, then the commit.
    """
    digest = fingerprint("spend", member_id=member_id, points=points, reference=reference)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.spend(
            member_id,
            points,
            reference=reference,
            description=description,
            actor=actor,
            channel=channel,
        )

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)
