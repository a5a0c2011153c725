"""Read-only views of a member's points for the member API: one entry by id, and the points
expiring by instant (app.ledger.expiring counts them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import Mongo
from app.ledger import Entry, expiring_by_instant, member_entry


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


async def get_entry(mongo: Mongo, member_id: str, entry_id: str) -> Entry | None:
    """The member's own ledger entry; another member's is None, exactly like a missing one."""
    return await member_entry(mongo, member_id, entry_id)


async def expiring_points(
    mongo: Mongo,
    member_id: str,
    *,
    now: datetime,
    within: timedelta | None,
    pending: bool = False,
    held: bool = False,
) -> list[ExpiringPoints]:
    """The member's points expiring in (now, now + within] (no window: any time after now), one
    row per instant, soonest first, as app.ledger.expiring counts them: available, unreserved
    points; pending and held points too when asked."""
    until = None if within is None else now + within
    found = await expiring_by_instant(
        mongo, member_id, after=now, until=until, pending=pending, held=held
    )
    return [ExpiringPoints(points, at) for at, points in found]
