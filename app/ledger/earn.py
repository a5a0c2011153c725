"""Earning points: a new lot, pending until its return window closes, with its expiry stamped at issue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger.book import Book
from app.ledger.errors import InvalidPoints
from app.ledger.expiry import Inactivity, Never, PeriodEnd, Rolling, expires_at
from app.ledger.models import BreakdownLine, Entry, EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import fingerprint, instant, record

Policy = Rolling | PeriodEnd | Inactivity | Never


def policy_stamp(policy: Policy, version: int, tz: str | ZoneInfo) -> Document:
    """What a lot keeps of the policy it was issued under: enough to explain (and renew) its expiry."""
    return {
        "kind": policy.kind,
        "params": policy.model_dump(exclude={"kind"}),
        "version": version,
        "tz": str(tz),
    }


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
    """Credit `points` as a new lot and an EARN entry; any debt is paid first from them."""
    policy = policy or Never()
    now = instant(clock.now())
    earned = now if earned_at is None else instant(earned_at)
    available_at = None if available_at is None else instant(available_at)
    lines = [line.to_document() for line in breakdown]
    if breakdown and sum(line.points for line in breakdown) != points:
        raise InvalidPoints(points, "must equal the sum of the breakdown")
    stamp = policy_stamp(policy, policy_version, tz)
    expiry = expires_at(policy, earned, tz)
    request = Request(
        idempotency_key,
        fingerprint(
            "earn",
            member_id=member_id,
            points=points,
            available_at=available_at,
            earned_at=earned_at,
            reference=reference,
            policy=stamp,
            breakdown=lines,
        ),
        EntryMeta(actor=actor, channel=channel, reference=reference, description=description),
    )

    def credit(book: Book) -> Document:
        return book.credit(
            EntryKind.EARN,
            points,
            request,
            earned_at=earned,
            available_at=available_at,
            expires_at=expiry,
            policy=stamp,
            breakdown=lines,
        )

    return await record(mongo, member_id, now, request, credit)
