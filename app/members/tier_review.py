"""The worker's tier review: members whose qualifying points may have fallen are moved down.

A member is due when the `review_at` of their progress (a tally on the account, tiers.py) has
passed: its oldest bucket left the window, or a refund lowered its points. The due members are
one range of the accounts' `tier_progress.review_at` index. Each review runs in
its own transaction: it drops the buckets that left the window, moves the member down at most
`tier_rules.max_levels_down` levels (recorded and notified like an upgrade), and sets the next
review: the start of the next local day if the points still call for a lower tier (one
evaluation a day), else when the oldest remaining bucket leaves the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger import read_tally, tallies_due, write_tally
from app.members.qualifying import downgrade_target, in_window, leaves_at, qualifying_points
from app.members.tiers import MEMBER_FIELDS, TALLY, TierChange, TierChangeReason, record_change
from app.program import Program


@dataclass(frozen=True)
class ReviewRun:
    reviewed: int
    changes: list[TierChange]
    done: bool


async def review_tiers(
    mongo: Mongo, program: Program, now: datetime, *, batch_size: int = 200
) -> ReviewRun:
    """Review one batch of the members due at `now`; `done` when no more were due."""
    due = await tallies_due(mongo, f"{TALLY}.review_at", now, batch_size)
    changes = []
    for member_id in due:

        async def review(
            session: AsyncClientSession, member_id: str = member_id
        ) -> TierChange | None:
            return await review_member(mongo, session, program, member_id, now)

        change = await mongo.transaction(review)
        if change is not None:
            changes.append(change)
    return ReviewRun(reviewed=len(due), changes=changes, done=len(due) < batch_size)


async def review_member(
    mongo: Mongo, session: AsyncClientSession, program: Program, member_id: str, now: datetime
) -> TierChange | None:
    progress = await read_tally(mongo, member_id, TALLY, session)
    if progress is None or progress.get("review_at") is None or progress["review_at"] > now:
        return None  # reviewed meanwhile
    live = in_window(program, progress.get("buckets") or {}, now)
    points = qualifying_points(program, live, now)
    member = await mongo["members"].find_one({"_id": member_id}, MEMBER_FIELDS, session=session)
    target = None if member is None else downgrade_target(program, member["tier"], points)
    again = target is not None and downgrade_target(program, target.code, points) is not None
    values: Document = {"buckets": live}
    next_review = next_local_day(program, now) if again else oldest_leaves_at(program, live)
    if next_review is not None:
        values["review_at"] = next_review
    unset = ["review_at"] if next_review is None else []
    await write_tally(mongo, session, member_id, TALLY, values=values, unset=unset)
    if member is None or target is None:
        return None
    await mongo["members"].update_one(
        {"_id": member_id, "tier": member["tier"]},
        {"$set": {"tier": target.code, "tier_since": now}},
        session=session,
    )
    return await record_change(
        mongo,
        session,
        now,
        program,
        member=member,
        to_tier=target.code,
        reason=TierChangeReason.REVIEWED,
        qualifying=points,
    )


def next_local_day(program: Program, now: datetime) -> datetime:
    day = program.local_date(now) + timedelta(days=1)
    return datetime.combine(day, time()).replace(tzinfo=program.zone, fold=0).astimezone(UTC)


def oldest_leaves_at(program: Program, buckets: dict[str, int]) -> datetime | None:
    return leaves_at(program, date.fromisoformat(min(buckets))) if buckets else None
