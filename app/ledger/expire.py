"""The batch jobs on lots: expire what is due, make pending lots available when their window closes.

Each batch is one unit of work (LedgerUnit.expire_due, mature_due) run without a key (run_unit):
find up to `batch_size` due lots, load the books of their members, apply to all their due lots (so a batch may take more than `batch_size`), save with one bulk command per collection (about seven commands per batch, whatever its
size). A batch that commits is done for good, so a run killed midway resumes by running again.
Two runs at once are safe: both would write the same lots, so one of them hits a write conflict
and retries on a snapshot where those lots are already expired; and each expiry's entry has a
deterministic key under a unique index, so a lot can never expire twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from app.clock import Clock
from app.db import Mongo
from app.ledger.models import JobRun
from app.ledger.state import LotState
from app.ledger.store import instant
from app.ledger.unit import LedgerUnit, run_unit


async def expire_due(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> JobRun:
    """Expire the remaining points of every lot whose expiry is at or before `as_of` (default: now).

    The members a batch touches are also caught up with the clock's now, like every operation,
    so a run with a past `as_of` may expire their later-due lots too; their expiry has passed.
    """
    cutoff = instant(clock.now()) if as_of is None else instant(as_of)

    async def batch(unit: LedgerUnit) -> tuple[list[tuple[LotState, int]], bool]:
        return await unit.expire_due(cutoff, batch_size)

    return await _run_job(mongo, clock, batch, max_batches)


async def mature_due(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> JobRun:
    """Make available every pending lot whose `available_at` is at or before `as_of` (default: now)."""
    cutoff = instant(clock.now()) if as_of is None else instant(as_of)

    async def batch(unit: LedgerUnit) -> tuple[list[tuple[LotState, int]], bool]:
        return await unit.mature_due(cutoff, batch_size)

    return await _run_job(mongo, clock, batch, max_batches)


async def _run_job(
    mongo: Mongo,
    clock: Clock,
    batch: Callable[[LedgerUnit], Awaitable[tuple[list[tuple[LotState, int]], bool]]],
    max_batches: int | None,
) -> JobRun:
    """Run `batch`, one unit of work each (LedgerUnit.expire_due or mature_due), until a batch
    comes up short.

    A batch reads the due lots themselves and their members' accounts: about seven commands,
    whatever the batch's size and the members' histories.
    """
    batches = lots = points = 0
    members: set[str] = set()
    while max_batches is None or batches < max_batches:
        moved, last = await run_unit(mongo, clock, batch)
        if moved:
            batches += 1
            lots += len(moved)
            points += sum(n for _, n in moved)
            members |= {lot.member_id for lot, _ in moved}
        if last or not moved:
            return JobRun(batches, lots, points, len(members), done=True)
    return JobRun(batches, lots, points, len(members), done=False)
