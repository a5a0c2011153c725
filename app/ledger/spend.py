"""Spending (redeeming) points: from available lots, soonest expiry first, then oldest."""

from __future__ import annotations

from app.clock import Clock
from app.db import Mongo
from app.ledger.models import Entry, EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import fingerprint, instant, record


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

    Six commands: the account and the live lots read, then the account, the lots and the entry
    written, then the commit.
    """
    now = instant(clock.now())
    request = Request(
        idempotency_key,
        fingerprint("spend", member_id=member_id, points=points, reference=reference),
        EntryMeta(actor=actor, channel=channel, reference=reference, description=description),
    )

    return await record(
        mongo,
        member_id,
        now,
        request,
        lambda book: book.debit(EntryKind.REDEEM, points, request),
        points=points if isinstance(points, int) else 0,
    )
