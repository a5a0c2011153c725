"""Reversing an earn (a refund): its own lot first, then other available points, then debt.

Debt is recorded on the account (and the entry's debt_change), never as a negative lot; the
member's next credits pay it first.
"""

from __future__ import annotations

from app.clock import Clock
from app.db import Mongo
from app.ledger.models import Entry
from app.ledger.store import fingerprint
from app.ledger.unit import LedgerUnit, run_entry


async def reverse(
    mongo: Mongo,
    clock: Clock,
    *,
    entry_id: str,
    idempotency_key: str,
    points: int | None = None,
    reason: str | None = None,
    actor: str | None = None,
    channel: str | None = None,
    reference: str | None = None,
) -> Entry:
    """Take back `points` of an EARN entry (by default all that is left to reverse): one unit of
    work (LedgerUnit.reverse) under the key."""
    digest = fingerprint("reverse", entry_id=entry_id, points=points)

    async def work(unit: LedgerUnit) -> Entry:
        return await unit.reverse(
            entry_id, points, reason=reason, actor=actor, channel=channel, reference=reference
        )

    return await run_entry(mongo, clock, work, idempotency_key=idempotency_key, fingerprint=digest)
